// cluster.mjs: a real ringroom cluster for the `cluster` suite (issue 13): one redis-server
// (Debian's /usr/bin/redis-server, append-only file fsynced on every write) and N ringroom
// instances sharing it with --redis, plus the clients the tests drive (npm `ws`, npm `ot`'s
// own Client, as in tests/node).
//
//   const c = await startCluster('chat');             // redis + 3 instances, all healthy
//   const m = await Member.join(c.inst[1], 'room-1', 'bob');
//   ...
//   await c.stop();        // SIGTERM every instance (exit 0, no sanitizer report), then redis
//
// Binary: $RINGROOM_BIN (default build/asan/ringroom). Every process writes its log to
// tests/artifacts/cluster/<name>/ (kept after the run); failures add JSON dumps beside them.
// Nothing outlives the test process: every child is SIGKILLed at exit, and a watchdog
// (RINGROOM_CLUSTER_WATCHDOG_S, default 170 s) kills them all and fails the file if it hangs.
//
// RINGROOM_CLUSTER_ISLANDS=1 starts the instances without --redis (and --presence-ttl): three
// independent servers. Every test must fail then; that is how the suite shows it can fail.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { freePort } from '../node/server.mjs';
export { freePort };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
// tests/node owns the npm packages (package.json + lockfile); this suite reuses them.
const require = createRequire(path.join(ROOT, 'tests', 'node', 'package.json'));
export const ot = require('ot');
export const WebSocket = require('ws');

export const ISLANDS = process.env.RINGROOM_CLUSTER_ISLANDS === '1';
// The harness's own check: RINGROOM_CLUSTER_SPREAD=1 puts every client of tests 1-3 on instance
// 0 (they pass then even with RINGROOM_CLUSTER_ISLANDS=1: one server).
export const SPREAD = Number(process.env.RINGROOM_CLUSTER_SPREAD || 3);
export const PRESENCE_TTL_MS = 2000;
const REDIS_BIN = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const SANITIZER_MARKERS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
  'UndefinedBehaviorSanitizer', 'SUMMARY: AddressSanitizer'];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

// ---------------------------------------------------------------------------------- processes

const live = new Set();          // every child process still running
function killAll() { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } }
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { killAll(); process.exit(1); });
const watchdogS = Number(process.env.RINGROOM_CLUSTER_WATCHDOG_S || 170);
setTimeout(() => {
  console.error(`cluster watchdog: ${watchdogS} s passed, killing every process`);
  killAll();
  process.exit(1);
}, watchdogS * 1000).unref();

export function binary() {
  const bin = path.resolve(ROOT, process.env.RINGROOM_BIN || 'build/asan/ringroom');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not built (make VARIANT=asan programs)`);
  return bin;
}


export function artifactDir(name) {
  const d = path.join(ROOT, 'tests', 'artifacts', 'cluster', name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

// A child process with its log in a file: spawn, wait for exit (bounded), signal.
class Proc {
  constructor(label, bin, args, logPath, env = {}) {
    this.label = label;
    this.logPath = logPath;
    const log = fs.openSync(logPath, 'a');
    fs.writeSync(log, `\n### ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
    this.child = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
    fs.closeSync(log);
    this.pid = this.child.pid;
    this.exit = null;
    live.add(this.child);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      live.delete(this.child);
      resolve(this.exit);
    }));
  }

  alive() { return this.exit === null; }
  signal(sig) { if (this.alive()) this.child.kill(sig); }

  // Signal, then wait up to timeoutMs for the exit; SIGKILL after that. Returns the exit and
  // whether it came in time.
  async stop(sig = 'SIGTERM', timeoutMs = 15000) {
    this.signal(sig);
    let timer;
    const late = new Promise((r) => { timer = setTimeout(() => r('late'), timeoutMs); });
    const res = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (res === 'late') { this.signal('SIGKILL'); return { ...(await this.exited), late: true }; }
    return res;
  }

  output() { try { return fs.readFileSync(this.logPath, 'utf8'); } catch { return ''; } }
}

// ---------------------------------------------------------------------------------- redis

// A tiny RESP client: one command, one reply (enough for PING and INFO).
export function redisCommand(port, args, timeoutMs = 1000) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('redis: timeout')); }, timeoutMs);
    s.on('error', (e) => { clearTimeout(t); reject(e); });
    s.on('connect', () => s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`));
    s.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      if (buf[0] === '$') {
        const n = Number(buf.slice(1, nl));
        if (n < 0) { done(null); return; }
        if (Buffer.byteLength(buf) < nl + 2 + n + 2) return;
        done(buf.slice(nl + 2, nl + 2 + n));
      } else if (buf[0] === '-') done(new Error(buf.slice(1, nl)));
      else done(buf.slice(1, nl));
    });
    function done(v) { clearTimeout(t); s.destroy(); v instanceof Error ? reject(v) : resolve(v); }
  });
}

export class Redis {
  constructor(name) {
    this.name = name;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringroom-cluster-redis-'));
    this.logPath = path.join(artifactDir(name), 'redis.log');
    fs.writeFileSync(this.logPath, '');
    this.port = null;
    this.proc = null;
  }

  // Starts redis-server (on the same port and --dir as before when restarting: the append-only
  // file is loaded again) and waits for PING to answer PONG.
  async start() {
    for (let attempt = 0; ; attempt++) {
      if (this.port === null || attempt > 0 && !this.fixedPort) this.port = await freePort();
      this.proc = new Proc('redis', REDIS_BIN, ['--port', String(this.port), '--bind', '127.0.0.1',
        '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir,
        '--daemonize', 'no', '--logfile', ''], this.logPath);
      const deadline = now() + 10000;
      while (now() < deadline && this.proc.alive()) {
        try { if (await this.ping() === 'PONG') { this.fixedPort = true; return this; } } catch { /* not yet */ }
        await sleep(50);
      }
      await this.proc.stop('SIGKILL');
      if (attempt < 2 && !this.fixedPort) continue;
      throw new Error(`redis-server did not answer PING on ${this.port}:\n${this.proc.output().slice(-2000)}`);
    }
  }

  ping() { return redisCommand(this.port, ['PING']); }
  url() { return `redis://127.0.0.1:${this.port}`; }
  pause() { this.proc.signal('SIGSTOP'); }
  resume() { this.proc.signal('SIGCONT'); }

  async stop() {
    if (!this.proc) return null;
    this.proc.signal('SIGCONT');
    const res = await this.proc.stop('SIGTERM', 10000);
    return res;
  }

  async restart() {
    const res = await this.stop();
    if (res.code !== 0) throw new Error(`redis-server exited with ${JSON.stringify(res)} on SIGTERM`);
    return this.start();
  }

  cleanup() { fs.rmSync(this.dir, { recursive: true, force: true }); }
}

// ---------------------------------------------------------------------------------- ringroom

export class Instance {
  constructor(cluster, index) {
    this.cluster = cluster;
    this.index = index;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringroom-cluster-data-'));
    this.logPath = path.join(artifactDir(cluster.name), `instance${index}.log`);
    fs.writeFileSync(this.logPath, '');
    this.port = null;
    this.proc = null;
  }

  args() {
    const a = ['--listen', `127.0.0.1:${this.port}`, '--threads', '2', '--data-dir', this.dataDir];
    if (!ISLANDS) a.push('--redis', this.cluster.redis.url(), '--presence-ttl', `${PRESENCE_TTL_MS / 1000}s`);
    return a.concat(this.cluster.extraArgs);
  }

  async start() {
    for (let attempt = 0; ; attempt++) {
      this.port = await freePort();
      this.proc = new Proc(`instance${this.index}`, binary(), this.args(), this.logPath, {
        ASAN_OPTIONS: process.env.ASAN_OPTIONS || 'detect_leaks=1:abort_on_error=0:halt_on_error=1',
        UBSAN_OPTIONS: process.env.UBSAN_OPTIONS || 'print_stacktrace=1:halt_on_error=1',
      });
      const deadline = now() + 15000;
      while (now() < deadline && this.proc.alive()) {
        try {
          const r = await fetch(this.url('/health'), { signal: AbortSignal.timeout(1000) });
          const h = await r.json();
          // /health answers 200 before the Redis link is up (joins are refused until then)
          if (r.status === 200 && (ISLANDS || h.redis === 'up')) return this;
        } catch { /* not yet */ }
        await sleep(50);
      }
      await this.proc.stop('SIGKILL');
      const out = this.proc.output();
      if (attempt < 2 && /Address already in use/.test(out.slice(-2000))) continue;
      throw new Error(`instance${this.index} did not answer /health with "redis":"up" (exit ${JSON.stringify(this.proc.exit)}):\n${out.slice(-3000)}`);
    }
  }

  url(p = '/') { return `http://127.0.0.1:${this.port}${p}`; }
  wsUrl() { return `ws://127.0.0.1:${this.port}/ws`; }

  async get(p) {
    const r = await fetch(this.url(p), { signal: AbortSignal.timeout(5000) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text };
  }

  async room(room) { return this.get(`/rooms/${room}`); }
  async history(room) { return this.get(`/history/${room}?limit=10000`); }
  async health() { return (await this.get('/health')).json; }

  // The value of an unlabelled metric in GET /metrics (NaN if absent).
  async metric(name) {
    const { text } = await this.get('/metrics');
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.slice(name.length + 1)) : NaN;
  }

  sanitizerReport() {
    const out = this.proc ? this.proc.output() : '';
    return SANITIZER_MARKERS.some((m) => out.includes(m)) ? out.slice(-6000) : null;
  }

  // kill -9: returns once the process is gone.
  async kill9() { await this.proc.stop('SIGKILL'); }

  // SIGTERM; the problems found (bad exit, sanitizer report) as strings.
  async stop() {
    const problems = [];
    if (!this.proc) return problems;
    const killed = this.proc.exit && this.proc.exit.signal === 'SIGKILL';
    if (!killed) {
      const res = await this.proc.stop('SIGTERM', 20000);
      if (res.late) problems.push(`instance${this.index}: no exit within 20 s of SIGTERM`);
      else if (res.code !== 0) problems.push(`instance${this.index}: exit ${JSON.stringify(res)} after SIGTERM, expected 0`);
    }
    const san = this.sanitizerReport();
    if (san) problems.push(`instance${this.index}: sanitizer report:\n${san}`);
    if (problems.length === 0) fs.rmSync(this.dataDir, { recursive: true, force: true });
    else problems.push(`instance${this.index}: log ${path.relative(ROOT, this.logPath)}, data dir kept in ${this.dataDir}`);
    return problems;
  }
}

export class Cluster {
  constructor(name, { instances = 3, args = [] } = {}) {
    this.name = name;
    this.extraArgs = args;
    this.redis = new Redis(name);
    this.inst = Array.from({ length: instances }, (_, i) => new Instance(this, i));
    this.members = new Set();   // every client opened through this cluster, closed by stop()
    this.dir = artifactDir(name);
  }

  // the instance clients number k use (k modulo RINGROOM_CLUSTER_SPREAD), and all of those
  at(k) { return this.inst[k % SPREAD]; }
  used() { return this.inst.slice(0, SPREAD); }

  async start() {
    await this.redis.start();
    await Promise.all(this.inst.map((i) => i.start()));
    return this;
  }

  // Writes a JSON dump next to the logs (for a failure's post-mortem); returns its path.
  dump(file, obj) {
    const p = path.join(this.dir, file);
    fs.writeFileSync(p, JSON.stringify(obj, null, 1));
    return path.relative(ROOT, p);
  }

  // Closes the clients, stops every instance (SIGTERM: exit 0 and no sanitizer report
  // expected) and redis. Throws with every problem found.
  async stop() {
    for (const m of this.members) m.close();
    const problems = (await Promise.all(this.inst.map((i) => i.stop()))).flat();
    const r = await this.redis.stop();
    if (r && r.late) problems.push('redis-server: no exit within 10 s of SIGTERM');
    if (problems.length === 0) this.redis.cleanup();
    if (problems.length) throw new Error(problems.join('\n'));
  }
}

export async function startCluster(name, opts) {
  fs.rmSync(artifactDir(name), { recursive: true, force: true });
  const c = new Cluster(name, opts);
  try {
    return await c.start();
  } catch (e) {
    await c.stop().catch(() => {});
    throw e;
  }
}

// ---------------------------------------------------------------------------------- clients

// A /ws client that has joined a room: every message it received is kept (with the time it
// arrived) in `log`; waitFor() looks through it and what comes next.
export class Member {
  constructor(inst, room, name) {
    this.inst = inst;
    this.room = room;
    this.name = name;
    this.log = [];
    this.waiters = [];
    this.closed = false;
    this.closedByUs = false;
    this.self = null;
    this.joinRetries = 0;
    inst.cluster.members.add(this);
  }

  static async join(inst, room, name, timeoutMs = 10000) {
    const m = new this(inst, room, name);
    await m.open(timeoutMs);
    return m;
  }

  open(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no joined within ${timeoutMs} ms`)), timeoutMs);
      this.ws = new WebSocket(this.inst.wsUrl(), { perMessageDeflate: false });
      this.ws.on('error', (e) => { this.wsError = e; if (!this.self) { clearTimeout(t); reject(e); } });
      this.ws.on('close', () => { this.closed = true; this.onClose(); this.wake(); });
      this.ws.on('open', () => this.sendJoin());
      this.ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        m.t = now();
        this.log.push(m);
        if (m.type === 'joined' && !this.self) { clearTimeout(t); this.self = m.self; }
        // a join refused while the instance has no Redis link: again in 200 ms
        if (m.type === 'error' && m.code === 'cluster-unavailable' && m.ref === 'join') {
          this.joinRetries++;
          setTimeout(() => this.sendJoin(), 200);
        }
        this.onMessage(m);
        if (m.type === 'joined' && this.log.filter((x) => x.type === 'joined').length === 1) resolve(this);
        this.wake();
      });
    });
  }

  sendJoin() { this.send({ type: 'join', room: this.room, user: { id: this.name, name: this.name, color: '#abc' } }); }
  onMessage() {}
  onClose() {}

  send(obj) { if (!this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj)); }

  of(type) { return this.log.filter((m) => m.type === type); }

  wake() { for (const w of [...this.waiters]) w(); }

  // The first message (at index >= from) matching pred, waiting up to timeoutMs for it.
  waitFor(pred, timeoutMs = 5000, from = 0, what = 'message') {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.log.length; i++) if (pred(this.log[i])) { done(); resolve(this.log[i]); return true; }
        if (this.closed) { done(); reject(new Error(`${this.name}: connection closed while waiting for ${what}`)); return true; }
        return false;
      };
      const t = setTimeout(() => { done(); reject(new Error(`${this.name} (instance${this.inst.index}): no ${what} within ${timeoutMs} ms`)); }, timeoutMs);
      const done = () => { clearTimeout(t); this.waiters = this.waiters.filter((w) => w !== check); };
      if (!check()) this.waiters.push(check);
    });
  }

  close() { if (!this.closed) { this.closedByUs = true; this.ws.close(); } }
}

// Waits until probe() is true (polling); returns its last value.
export async function until(probe, timeoutMs, every = 20) {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v || now() > deadline) return v;
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------- OT editors

import { randomEdit as nodeRandomEdit, seededRandom } from '../node/edits.mjs';
export { seededRandom };
export const randomEdit = (doc, rnd) => nodeRandomEdit(doc, rnd, 300);

// An ot.js Client (npm `ot`) over one connection. Every op acked to it and every op it
// received is recorded with its revision, as the server applied it: at ack time ot.js's
// outstanding op has been transformed against every op received since it was sent, so it is
// exactly what the server applied at that revision. Ops carry cid/cseq.
//
// On `cluster-unavailable` for its op (not applied, per the contract) it re-joins: its
// unacked edits (the refused op and the buffer) are dropped, the fresh `joined` gives the
// document and revision to go on from (a join refused the same way is retried every 200 ms).
// Each `joined` starts a session (participant id `self`); sessions count acks, refusals and,
// if the connection died, whether an op was in flight.
export class Editor extends Member {
  constructor(inst, room, name, seed = 1) {
    super(inst, room, name);
    this.rnd = seededRandom(seed);
    this.doc = '';
    this.client = null;
    this.rejoining = false;
    this.sessions = [];
    this.acked = [];         // {rev, from, op, t}
    this.seen = [];          // {rev, from, op}
    this.errors = [];        // error messages other than cluster-unavailable
    this.refused = [];       // cluster-unavailable errors {ref, t}
    this.violations = [];    // protocol order broken (text)
    this.cid = `${name}-${Math.floor(Math.random() * 1e9).toString(36)}`;
    this.cseq = 0;
    this.edits = 0;
  }

  get session() { return this.sessions[this.sessions.length - 1]; }
  get ready() { return this.client !== null && !this.rejoining && !this.closed; }
  get revision() { return this.client ? this.client.revision : -1; }
  synchronized() { return this.client !== null && this.client.state instanceof ot.Client.Synchronized; }
  outstanding() { return this.client && this.client.state.outstanding ? this.client.state.outstanding : null; }

  violation(text) { this.violations.push(`${this.name} (instance${this.inst.index}, ${this.session ? this.session.self : '?'}): ${text}`); }

  onMessage(m) {
    switch (m.type) {
      case 'joined': {
        this.rejoining = false;
        this.doc = m.doc;
        this.client = new ot.Client(m.rev);
        this.client.sendOperation = (rev, op) => {
          this.send({ type: 'op', rev, op: op.toJSON(), cid: this.cid, cseq: ++this.cseq });
        };
        this.client.applyOperation = (op) => { this.doc = op.apply(this.doc); };
        this.sessions.push({ self: m.self, inst: this.inst.index, joinedRev: m.rev, acks: 0, refused: 0, inflightAtClose: 0 });
        break;
      }
      case 'ack': {
        if (this.rejoining) { this.violation(`ack rev ${m.rev} after its op was refused`); break; }
        const out = this.outstanding();
        if (!out) { this.violation(`ack rev ${m.rev} with no op in flight`); break; }
        if (m.rev !== this.client.revision + 1) this.violation(`ack rev ${m.rev}, expected ${this.client.revision + 1}`);
        this.acked.push({ rev: m.rev, from: this.session.self, op: out.toJSON(), t: m.t });
        this.session.acks++;
        this.client.serverAck();
        break;
      }
      case 'op': {
        if (this.rejoining) break;          // the coming `joined` holds it
        if (m.rev !== this.client.revision + 1) this.violation(`op rev ${m.rev}, expected ${this.client.revision + 1}`);
        this.seen.push({ rev: m.rev, from: m.from, op: m.op });
        try {
          this.client.applyServer(ot.TextOperation.fromJSON(m.op));
        } catch (e) {
          this.violation(`op rev ${m.rev} does not apply: ${e.message}`);
        }
        break;
      }
      case 'error': {
        if (m.code === 'cluster-unavailable') {
          this.refused.push({ ref: m.ref, t: m.t });
          if (this.session) this.session.refused++;
          if (m.ref !== 'join' && !this.rejoining) this.rejoin();   // (Member retries a join)
        } else {
          this.errors.push(m);
        }
        break;
      }
      default:
    }
  }

  rejoin() {
    this.rejoining = true;
    this.sendJoin();
  }

  onClose() {
    if (this.session && this.outstanding()) this.session.inflightAtClose = 1;
  }

  edit() {
    if (!this.ready) return false;
    const op = randomEdit(this.doc, this.rnd);
    if (!op) return false;
    this.doc = op.apply(this.doc);
    this.client.applyClient(op);
    this.edits++;
    return true;
  }
}

// Random edits by random editors: `perTick` edits, then a few ms for the network, until
// `stop()` says so (called with the running totals) or maxMs passed.
export async function editLoop(editors, rnd, { perTick = 2, tickMs = 3, maxMs = 10000, stop = () => false } = {}) {
  const t0 = now();
  for (;;) {
    const acks = editors.reduce((n, e) => n + e.acked.length, 0);
    if (stop({ acks, ms: now() - t0 }) || now() - t0 > maxMs) return acks;
    for (let k = 0; k < perTick; k++) editors[Math.floor(rnd() * editors.length)].edit();
    await sleep(tickMs);
  }
}

// Waits until every editor still connected has nothing in flight, none is re-joining, all are
// at the same revision and every instance in `insts` reports that revision for the room; or,
// all of them idle, until nothing arrived for `settleMs` (diverged: checkConverged says how).
// Throws with each editor's state if neither happens in timeoutMs.
export async function quiesce(editors, insts, room, timeoutMs = 20000, settleMs = 3000) {
  const liveEds = editors.filter((e) => !e.closed);
  let last = '';
  const ok = await until(async () => {
    if (!liveEds.every((e) => e.ready && e.synchronized())) { last = 'editors busy'; return false; }
    const lastMsg = Math.max(...liveEds.map((e) => (e.log.length ? e.log[e.log.length - 1].t : 0)));
    if (now() - lastMsg > settleMs) return true;
    const revs = new Set(liveEds.map((e) => e.revision));
    if (revs.size !== 1) { last = `editor revisions ${[...revs]}`; return false; }
    const rev = liveEds[0].revision;
    const infos = await Promise.all(insts.map((i) => i.room(room).catch((e) => ({ status: String(e) }))));
    const irevs = infos.map((r) => (r.json ? r.json.rev : r.status));
    if (!irevs.every((r) => r === rev)) { last = `editors at ${rev}, instances at ${irevs}`; return false; }
    return true;
  }, timeoutMs, 50);
  if (!ok) {
    const state = liveEds.map((e) => `${e.name}@${e.inst.index}: rev ${e.revision} ready ${e.ready} sync ${e.synchronized()} rejoining ${e.rejoining}`);
    throw new Error(`no quiescence in ${timeoutMs} ms (${last}):\n  ${state.join('\n  ')}`);
  }
  await sleep(200);            // anything still arriving would show as a revision mismatch below
}

function opKey(op) { return JSON.stringify(ot.TextOperation.fromJSON(op).toJSON()); }

// The convergence checks shared by the OT tests, for the editors' room after quiesce():
//  - no editor saw a protocol violation or an unexpected error;
//  - every live editor's text equals every instance's GET /rooms doc, all at one rev;
//  - every instance's GET /history lists the same ops (rev, from, op), revisions 1..rev, and
//    replaying them gives the doc;
//  - every op acked to any editor (including ones whose instance died) is in each history at
//    its revision, same author, same op; so is every op an editor received;
//  - per participant id: ops in history == acks (+ at most the op in flight when its
//    connection died); refused (cluster-unavailable) ops are not in history;
//  - no participant id is given to two editors (a re-join may keep its own).
// Returns { rev, doc, acks }; throws an AssertionError naming what failed.
export async function checkConverged(assert, editors, insts, room, { exactRev = true } = {}) {
  for (const e of editors) assert.deepEqual(e.violations, [], `${e.name}: protocol order broken`);
  for (const e of editors) assert.deepEqual(e.errors.map((m) => `${m.code} ${m.ref}: ${m.message}`), [], `${e.name}: unexpected errors`);
  const liveEds = editors.filter((e) => !e.closed);
  const infos = await Promise.all(insts.map((i) => i.room(room)));
  infos.forEach((r, k) => assert.equal(r.status, 200, `GET /rooms/${room} on instance${insts[k].index}: ${r.status} ${r.text}`));
  const doc = infos[0].json.doc;
  const rev = infos[0].json.rev;
  infos.forEach((r, k) => {
    assert.equal(r.json.rev, rev, `instance${insts[k].index} rev ${r.json.rev} != instance${insts[0].index} rev ${rev}`);
    assert.equal(r.json.doc, doc, `instance${insts[k].index} doc differs from instance${insts[0].index}'s`);
  });
  for (const e of liveEds) {
    assert.equal(e.revision, rev, `${e.name} (instance${e.inst.index}) at rev ${e.revision}, instances at ${rev}`);
    assert.equal(e.doc, doc, `${e.name} (instance${e.inst.index}) text differs from the instances' doc`);
  }
  const acks = editors.reduce((n, e) => n + e.acked.length, 0);
  if (exactRev) assert.equal(rev, acks, `rev ${rev} but ${acks} ops acked`);
  else assert.ok(rev >= acks, `rev ${rev} but ${acks} ops acked`);

  const hists = await Promise.all(insts.map((i) => i.history(room)));
  hists.forEach((h, k) => assert.equal(h.status, 200, `GET /history/${room} on instance${insts[k].index}: ${h.status} ${h.text}`));
  const lists = hists.map((h) => h.json.ops.map((o) => ({ rev: o.rev, from: o.from, op: opKey(o.op) })));
  hists.forEach((h, k) => {
    const where = `GET /history/${room} on instance${insts[k].index}`;
    assert.equal(h.json.rev, rev, `${where}: rev ${h.json.rev}, room rev ${rev}`);
    assert.equal(h.json.ops.length, rev, `${where}: ${h.json.ops.length} ops for rev ${rev}`);
    h.json.ops.forEach((o, i) => assert.equal(o.rev, i + 1, `${where}: op ${i} has rev ${o.rev}`));
    let replay = '';
    for (const o of h.json.ops) replay = ot.TextOperation.fromJSON(o.op).apply(replay);
    assert.equal(replay, doc, `${where}: replaying the history does not give the doc`);
    assert.deepEqual(lists[k], lists[0], `${where} differs from instance${insts[0].index}'s`);
  });
  const hist = lists[0];
  const lost = [];
  for (const e of editors) {
    for (const a of e.acked) {
      const h = hist[a.rev - 1];
      if (!h || h.from !== a.from || h.op !== opKey(a.op)) lost.push({ editor: e.name, instance: e.inst.index, acked: { ...a, op: opKey(a.op) }, history: h || null });
    }
    for (const s of e.seen) {
      const h = hist[s.rev - 1];
      if (!h || h.from !== s.from || h.op !== opKey(s.op)) lost.push({ editor: e.name, instance: e.inst.index, received: { ...s, op: opKey(s.op) }, history: h || null });
    }
  }
  assert.deepEqual(lost, [], `acked or received ops missing from (or different in) history: ${lost.length}`);

  const byFrom = new Map();
  for (const h of hist) byFrom.set(h.from, (byFrom.get(h.from) || 0) + 1);
  // a re-join on the same connection may keep the participant id: sessions are summed per id
  const owner = new Map();
  const sessions = new Map();
  for (const e of editors) {
    for (const s of e.sessions) {
      if (owner.has(s.self) && owner.get(s.self) !== e) assert.fail(`participant id ${s.self} given to ${owner.get(s.self).name} and ${e.name}`);
      owner.set(s.self, e);
      const t = sessions.get(s.self) || { self: s.self, editor: e.name, inst: s.inst, acks: 0, refused: 0, inflightAtClose: 0, joins: 0 };
      t.acks += s.acks; t.refused += s.refused; t.inflightAtClose += s.inflightAtClose; t.joins++;
      sessions.set(s.self, t);
    }
  }
  const bad = [];
  for (const s of sessions.values()) {
    const n = byFrom.get(s.self) || 0;
    byFrom.delete(s.self);
    if (n < s.acks || n > s.acks + s.inflightAtClose) bad.push(`${s.editor} as ${s.self} (instance${s.inst}, ${s.joins} joins): ${n} ops in history, ${s.acks} acked, ${s.refused} refused, ${s.inflightAtClose} in flight at close`);
  }
  for (const [from, n] of byFrom) bad.push(`${n} ops in history from ${from}, no editor's participant id`);
  assert.deepEqual(bad, [], 'ops in history do not match the acks per participant');
  return { rev, doc, acks };
}

// Starts a cluster, runs fn(cluster), stops the cluster whatever happened; fails with fn's
// error and/or the problems found at stop (bad exit, sanitizer report).
export async function withCluster(name, opts, fn) {
  const c = await startCluster(name, opts);
  let failed = null;
  try {
    await fn(c);
  } catch (e) {
    failed = e;
  }
  try {
    await c.stop();
  } catch (e) {
    if (!failed) failed = e;
    else failed.message += `\nand at stop: ${e.message}`;
  }
  if (failed) throw failed;
}
