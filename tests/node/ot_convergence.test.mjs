// ot_convergence.test.mjs: the npm `ot` package's own Client class (ot.js, the reference
// implementation our server must be wire-compatible with) drives concurrent editors through a
// real ringroom; afterwards every client's document must equal the server's GET /rooms/<room>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { startServer } from './server.mjs';
import { randomEdit, seededRandom } from './edits.mjs';

const require = createRequire(import.meta.url);
const ot = require('ot');


class Editor {
  constructor(srv, room, name, seed) {
    this.doc = '';
    this.rnd = seededRandom(seed);
    this.name = name;
    this.room = room;
    this.acks = 0;
    this.errors = [];
    this.ws = new WebSocket(srv.wsUrl('/ws'));
    this.ready = new Promise((resolve, reject) => {
      this.ws.on('error', reject);
      this.ws.on('open', () => this.ws.send(JSON.stringify({ type: 'join', room, user: { id: name, name, color: '#abc' } })));
      this.ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        if (m.type === 'joined') {
          this.doc = m.doc;
          this.client = new ot.Client(m.rev);
          this.client.sendOperation = (rev, op) => this.ws.send(JSON.stringify({ type: 'op', rev, op: op.toJSON() }));
          this.client.applyOperation = (op) => { this.doc = op.apply(this.doc); };
          resolve();
        } else if (m.type === 'ack') {
          this.acks++;
          this.client.serverAck();
        } else if (m.type === 'op') {
          this.client.applyServer(ot.TextOperation.fromJSON(m.op));
        } else if (m.type === 'error') {
          this.errors.push(m);
        }
      });
    });
  }

  edit() {
    const op = randomEdit(this.doc, this.rnd);
    if (!op) return;
    this.doc = op.apply(this.doc);
    this.client.applyClient(op);
  }

  synchronized() {
    return this.client.state instanceof ot.Client.Synchronized;
  }

  close() { this.ws.close(); }
}

async function runEditors(srv, rooms, perRoom, seconds, seed) {
  const editors = [];
  rooms.forEach((room, r) => {
    for (let i = 0; i < perRoom; i++) editors.push(new Editor(srv, room, `e${r}-${i}`, seed + r * 1000 + i));
  });
  await Promise.all(editors.map((e) => e.ready));
  const deadline = Date.now() + seconds * 1000;
  const rnd = seededRandom(seed);
  while (Date.now() < deadline) {
    // a few random editors edit at once, then the event loop runs (network in between)
    for (let k = 0; k < 4; k++) editors[Math.floor(rnd() * editors.length)].edit();
    await new Promise((r) => setTimeout(r, 2));
  }
  // quiesce: everyone's outstanding op acked and every broadcast delivered
  const quietBy = Date.now() + 20000;
  while (Date.now() < quietBy && !editors.every((e) => e.synchronized())) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  for (const e of editors) assert.ok(e.synchronized(), `${e.name} still has ops in flight`);
  for (const e of editors) assert.deepEqual(e.errors, [], `${e.name} got errors`);
  for (const room of rooms) {
    const res = await fetch(srv.url(`/rooms/${room}`));
    assert.equal(res.status, 200);
    const info = await res.json();
    const mine = editors.filter((e) => e.room === room);
    assert.ok(info.rev > 0, 'no op was accepted');
    for (const e of mine) assert.equal(e.doc, info.doc, `${e.name} diverged from the server in ${room}`);
  }
  const total = editors.reduce((n, e) => n + e.acks, 0);
  editors.forEach((e) => e.close());
  return total;
}

test('20 ot.js clients converge on one document', async () => {
  const srv = await startServer(['--threads', '2']);
  try {
    const acks = await runEditors(srv, ['convergence'], 20, 4, 42);
    assert.ok(acks > 100, `only ${acks} ops acked`);
  } finally {
    await srv.stop();
  }
});

test('editors spread over rooms on different cores converge', async () => {
  const srv = await startServer(['--threads', '2']);
  try {
    // names chosen so both cores own rooms (FNV-1a % 2, as in src/room.c)
    await runEditors(srv, ['spread-a', 'spread-b', 'spread-c', 'spread-d', 'spread-e', 'spread-f'], 5, 3, 7);
  } finally {
    await srv.stop();
  }
});
