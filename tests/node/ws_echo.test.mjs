// ws_echo.test.mjs: ringroom's /echo through the npm `ws` client (node --test).
// Text and binary echo of boundary sizes, fragmented sends (ws `fin: false`), ping/pong,
// every valid close code echoed in the close handshake, 1009 over --max-message, and 1,000
// concurrent connections on two threads. Binary: $RINGROOM_BIN (see server.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { startServer } from './server.mjs';

const SIZES = [0, 125, 126, 65535, 65536, 1 << 20];
const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
  3000, 3999, 4000, 4999];

function open(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20, ...opts });
    const t = setTimeout(() => { ws.terminate(); reject(new Error(`open ${url}: timeout`)); }, 30000);
    ws.once('open', () => { clearTimeout(t); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

// Next message as { data: Buffer, isBinary }.
function nextMessage(ws, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { cleanup(); reject(new Error('timeout waiting for a message')); }, timeoutMs);
    const onMsg = (data, isBinary) => { cleanup(); resolve({ data, isBinary }); };
    const onClose = (code, reason) => { cleanup(); reject(new Error(`closed ${code} ${reason} before a message`)); };
    const cleanup = () => { clearTimeout(t); ws.off('message', onMsg); ws.off('close', onClose); };
    ws.on('message', onMsg);
    ws.on('close', onClose);
  });
}

function closed(ws, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) return reject(new Error('already closed'));
    const t = setTimeout(() => reject(new Error('timeout waiting for close')), timeoutMs);
    ws.once('close', (code, reason) => { clearTimeout(t); resolve({ code, reason: reason.toString() }); });
  });
}

function textOf(n) {
  const pat = 'ringroom echo 0123456789 abcdefghijklmnopqrstuvwxyz ';
  return pat.repeat(Math.ceil(n / pat.length) + 1).slice(0, n);
}

describe('ringroom /echo with the ws client', () => {
  let srv;
  before(async () => { srv = await startServer(['--threads', '2', '--max-conns', '5000']); });
  after(async () => { await srv?.stop(); });

  test('text echo of 0, 125, 126, 65535, 65536 and 1 MiB bytes', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    for (const n of SIZES) {
      const msg = textOf(n);
      ws.send(msg);
      const { data, isBinary } = await nextMessage(ws);
      assert.equal(isBinary, false, `size ${n}`);
      assert.equal(data.length, n);
      assert.equal(data.toString('utf8'), msg, `size ${n}`);
    }
    const multi = 'κόσμε ✓ 😀 '.repeat(5000);
    ws.send(multi);
    assert.equal((await nextMessage(ws)).data.toString('utf8'), multi);
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });

  test('binary echo of 0, 125, 126, 65535, 65536 and 1 MiB bytes', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    for (const n of SIZES) {
      const msg = crypto.randomBytes(n);
      ws.send(msg);
      const { data, isBinary } = await nextMessage(ws);
      assert.equal(isBinary, true, `size ${n}`);
      assert.ok(Buffer.compare(data, msg) === 0, `size ${n}: echo differs`);
    }
    ws.close(1000);
    assert.equal((await closed(ws)).code, 1000);
  });

  test('fragmented sends (fin: false) come back as one message', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    // text, with a code point split across fragments
    const text = Buffer.from('frag-€-mented 😀 message', 'utf8');
    const cuts = [0, 5, 7, 14, 16, text.length];
    for (let i = 0; i + 1 < cuts.length; i++) {
      ws.send(text.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
    }
    let m = await nextMessage(ws);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString('utf8'), text.toString('utf8'));
    // binary, with empty and large fragments, and a ping in the middle
    const parts = [crypto.randomBytes(10), Buffer.alloc(0), crypto.randomBytes(70000), crypto.randomBytes(3)];
    const pong = new Promise((resolve) => ws.once('pong', resolve));
    parts.forEach((p, i) => {
      ws.send(p, { binary: true, fin: i === parts.length - 1 });
      if (i === 1) ws.ping(Buffer.from('mid-message'));
    });
    assert.equal((await pong).toString(), 'mid-message');
    m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.ok(Buffer.compare(m.data, Buffer.concat(parts)) === 0);
    // many small fragments
    const many = Array.from({ length: 500 }, (_, i) => `${i},`);
    many.forEach((p, i) => ws.send(p, { binary: false, fin: i === many.length - 1 }));
    assert.equal((await nextMessage(ws)).data.toString(), many.join(''));
    ws.close(1000);
    await closed(ws);
  });

  test('ping is answered with a pong carrying the same payload', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    for (const payload of [Buffer.alloc(0), Buffer.from('hello'), crypto.randomBytes(125)]) {
      const pong = new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no pong')), 5000);
        ws.once('pong', (d) => { clearTimeout(t); resolve(d); });
      });
      ws.ping(payload);
      assert.ok(Buffer.compare(await pong, payload) === 0);
    }
    ws.send('after pings');
    assert.equal((await nextMessage(ws)).data.toString(), 'after pings');
    ws.close(1000);
    await closed(ws);
  });

  test('every valid close code is echoed in the close handshake', async () => {
    for (const code of VALID_CLOSE_CODES) {
      const ws = await open(srv.wsUrl('/echo'));
      const done = closed(ws);
      ws.close(code, `bye ${code}`);
      const { code: got } = await done;
      assert.equal(got, code, `sent ${code}, server answered ${got}`);
    }
  });

  test('close without a status code is answered without one (1005 locally)', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    const done = closed(ws);
    ws.close();
    assert.equal((await done).code, 1005);
  });

  test('1,000 concurrent connections echo correctly across two threads', async () => {
    const N = 1000;
    const conns = [];
    // open in batches so the listen backlog is never the bottleneck
    for (let i = 0; i < N; i += 100) {
      conns.push(...await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => open(srv.wsUrl('/echo')))));
    }
    assert.equal(conns.length, N);
    const health = await (await fetch(srv.url('/health'))).json();
    assert.equal(health.threads, 2);
    assert.ok(health.connections >= N, `/health counts ${health.connections} connections, expected >= ${N}`);
    await Promise.all(conns.map(async (ws, i) => {
      for (let k = 0; k < 3; k++) {
        const msg = `conn ${i} msg ${k} ${'x'.repeat(i % 200)}`;
        ws.send(msg);
        const { data } = await nextMessage(ws, 30000);
        assert.equal(data.toString(), msg);
      }
      const bin = crypto.randomBytes(i % 300);
      ws.send(bin);
      const { data, isBinary } = await nextMessage(ws, 30000);
      assert.ok(isBinary && Buffer.compare(data, bin) === 0, `conn ${i}: binary echo differs`);
    }));
    await Promise.all(conns.map((ws) => { const c = closed(ws); ws.close(1000); return c; }));
    // and the server forgets them
    let h;
    for (let t = 0; t < 100; t++) {
      h = await (await fetch(srv.url('/health'))).json();
      if (h.connections <= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(h.connections <= 1, `still ${h.connections} connections after closing all`);
  });
});

describe('ringroom /echo limits with the ws client', () => {
  let srv;
  before(async () => { srv = await startServer(['--threads', '1', '--max-message', '64KiB', '--max-frame', '32KiB']); });
  after(async () => { await srv?.stop(); });

  test('a message over --max-message is closed with 1009', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    const done = closed(ws);
    const part = Buffer.alloc(30000, 0x61);
    ws.send(part, { binary: false, fin: false });
    ws.send(part, { binary: false, fin: false });
    ws.send(part, { binary: false, fin: true });
    assert.equal((await done).code, 1009);
  });

  test('a frame over --max-frame is closed with 1009', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    const done = closed(ws);
    ws.send(Buffer.alloc(40000));
    assert.equal((await done).code, 1009);
  });

  test('a message of exactly --max-message in two frames is echoed', async () => {
    const ws = await open(srv.wsUrl('/echo'));
    ws.send(Buffer.alloc(32768, 0x71), { binary: true, fin: false });
    ws.send(Buffer.alloc(32768, 0x72), { binary: true, fin: true });
    const { data } = await nextMessage(ws);
    assert.equal(data.length, 65536);
    assert.equal(data[0], 0x71);
    assert.equal(data[65535], 0x72);
    ws.close(1000);
    await closed(ws);
  });
});
