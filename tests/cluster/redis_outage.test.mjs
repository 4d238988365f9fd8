// redis_outage.test.mjs (cluster test 5): Redis goes away while 6 ot.js editors (2 per instance)
// edit, and comes back; the instances are not restarted.
//  - restart: SIGTERM to redis-server, 1 s down (every instance's /health must say
//    "redis":"down" meanwhile), then started again on the same port and --dir (its append-only
//    file, fsynced on every write, is loaded again);
//  - stop: SIGSTOP for 5 s, then SIGCONT (the connections stay open; nothing answers), with the
//    default --redis-timeout (5s) and again with 2s (ops time out while Redis is stopped).
// Editors that get `cluster-unavailable` re-join and go on (cluster.mjs Editor). Afterwards:
// every editor gets new ops acked after Redis is back (the instances recovered by themselves),
// /health says "redis":"up" everywhere, and checkConverged holds on all 3 instances: the same
// text everywhere, no acked op lost, and no refused op in history (each participant's ops in
// history are exactly its acked ones).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster, Editor, editLoop, quiesce, checkConverged, seededRandom, sleep, now, until, SPREAD } from './cluster.mjs';

const SEED = Number(process.env.RINGROOM_CLUSTER_SEED || Math.floor(Math.random() * 1e9));

// Polls every instance's /health for ms; returns the indexes of those that said "redis":"down".
async function watchHealth(c, ms) {
  const seen = new Set();
  const t0 = now();
  while (now() - t0 < ms) {
    const hs = await Promise.all(c.inst.map((i) => i.health().catch(() => ({}))));
    hs.forEach((h, k) => { if (h.redis === 'down') seen.add(k); });
    await sleep(50);
  }
  return seen;
}

async function outage(name, seed, disrupt, opts = {}) {
  assert.equal(SPREAD, 3, 'this test needs the editors on 3 instances');
  await withCluster(name, opts, async (c) => {
    const room = `${name}-${seed}`;
    const rnd = seededRandom(seed);
    const editors = [];
    for (let i = 0; i < 6; i++) editors.push(new Editor(c.inst[i % 3], room, `o${i}`, seed + i));
    await Promise.all(editors.map((e) => e.open()));
    await editLoop(editors, rnd, { stop: ({ ms }) => ms > 1000, maxMs: 1000 });
    const before = editors.reduce((n, e) => n + e.acked.length, 0);

    // edits go on (at a lower rate) while Redis is disrupted
    let disrupting = true;
    const editing = editLoop(editors, rnd, { tickMs: 10, stop: () => !disrupting, maxMs: 30000 });
    const tDown = now();
    let info;
    try {
      info = await disrupt(c);
    } finally {
      disrupting = false;
      await editing;
    }
    const tBack = now();
    const during = editors.reduce((n, e) => n + e.acked.filter((a) => a.t > tDown && a.t <= tBack).length, 0);

    // recovery: every editor gets new ops acked, on every instance
    await editLoop(editors, rnd, { stop: () => editors.every((e) => e.acked.filter((a) => a.t > tBack).length >= 5), maxMs: 15000 });
    const stuck = editors.filter((e) => e.acked.filter((a) => a.t > tBack).length < 5);
    assert.deepEqual(stuck.map((e) => `${e.name}@instance${e.inst.index}: ${e.acked.filter((a) => a.t > tBack).length} acked, ready ${e.ready}, rejoining ${e.rejoining}`),
      [], 'editors with fewer than 5 ops acked within 15 s after Redis came back');

    await quiesce(editors, c.inst, room, 20000);
    let r;
    try {
      r = await checkConverged(assert, editors, c.inst, room, { exactRev: false });
    } finally {
      c.dump('editors.json', editors.map((e) => ({ name: e.name, instance: e.inst.index, sessions: e.sessions, acked: e.acked, refused: e.refused, errors: e.errors, violations: e.violations })));
    }
    const reconnects = await Promise.all(c.inst.map((i) => i.metric('ringroom_redis_reconnects_total')));
    const catchup = await Promise.all(c.inst.map((i) => i.metric('ringroom_redis_catchup_ops_total')));
    const refused = editors.reduce((n, e) => n + e.refused.length, 0);
    const rejoins = editors.reduce((n, e) => n + e.sessions.length - 1, 0);
    console.log(`${name}: ${before} acked before, ${during} while Redis was out, ${r.acks} in all (rev ${r.rev}); ` +
      `${refused} cluster-unavailable, ${rejoins} re-joins; reconnects ${reconnects}, catch-up ops ${catchup}${info ? `; ${info}` : ''}`);
    for (const inst of c.inst) {
      const h = await until(async () => { const x = await inst.health(); return x.redis === 'up' && x; }, 5000, 100);
      assert.ok(h, `instance${inst.index} /health does not say "redis":"up" after recovery: ${JSON.stringify(await inst.health())}`);
    }
  });
}

test(`Redis restarted during edits (seed ${SEED})`, async () => {
  await outage('redis-restart', SEED, async (c) => {
    const res = await c.redis.stop();
    assert.equal(res.code, 0, `redis-server exit on SIGTERM: ${JSON.stringify(res)}`);
    // 1 s down: each instance must notice
    const seen = await watchHealth(c, 1000);
    await c.redis.start();
    assert.deepEqual([...seen].sort(), [0, 1, 2], 'instances whose /health said "redis":"down" while redis-server was not running');
    return 'redis-server restarted after 1 s';
  });
});

test(`Redis stopped (SIGSTOP) for 5 s during edits (seed ${SEED + 1})`, async () => {
  await outage('redis-sigstop', SEED + 1, async (c) => {
    c.redis.pause();
    await sleep(5000);
    c.redis.resume();
    return 'SIGSTOP 5 s, SIGCONT';
  });
});

// the same with --redis-timeout 2s: the ops waiting on the stopped Redis time out (refused with
// cluster-unavailable, the link dropped and made again) while their commands are still in
// Redis's socket buffer; Redis runs them after SIGCONT, and a refused op must still not be in
// history
test(`Redis stopped (SIGSTOP) for 5 s with --redis-timeout 2s (seed ${SEED + 2})`, async () => {
  await outage('redis-sigstop-timeout', SEED + 2, async (c) => {
    c.redis.pause();
    await sleep(500);
    const seen = await watchHealth(c, 4500);    // the link drops 2 s after an unanswered command
    c.redis.resume();
    assert.deepEqual([...seen].sort(), [0, 1, 2], 'instances whose /health said "redis":"down" while Redis was stopped past --redis-timeout');
    return 'SIGSTOP 5 s, SIGCONT, --redis-timeout 2s';
  }, { args: ['--redis-timeout', '2s'] });
});
