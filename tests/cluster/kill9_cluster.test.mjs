// kill9_cluster.test.mjs (cluster test 4): one of 3 instances is killed with SIGKILL while 9
// ot.js editors (3 per instance) edit one document.
//  - the other two keep serving: their editors' new edits are acked after the kill and
//    everything converges (cluster.mjs checkConverged on the two survivors);
//  - every participant of the killed instance gets `presence left` at every editor of the
//    survivors within --presence-ttl + 1 s of the SIGKILL (measured), and GET /rooms on the
//    survivors no longer lists them;
//  - no acked op is lost: every op acked to any editor, the killed instance's included, is in
//    GET /history of both survivors at its revision (same author, same op); the killed
//    instance's editors may have one op more in history each (in flight at the kill, unacked).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster, Editor, editLoop, quiesce, checkConverged, seededRandom, now, PRESENCE_TTL_MS, SPREAD } from './cluster.mjs';

const SEED = Number(process.env.RINGROOM_CLUSTER_SEED || Math.floor(Math.random() * 1e9));
const BOUND_MS = PRESENCE_TTL_MS + 1000;

test(`kill -9 of one instance during edits (seed ${SEED})`, async () => {
  assert.equal(SPREAD, 3, 'this test needs the editors on 3 instances');
  await withCluster('kill9', {}, async (c) => {
    const room = `kill9-${SEED}`;
    const rnd = seededRandom(SEED);
    const editors = [];
    for (let i = 0; i < 9; i++) editors.push(new Editor(c.inst[i % 3], room, `k${i}`, SEED + i));
    await Promise.all(editors.map((e) => e.open()));
    const victim = c.inst[2];
    const doomed = editors.filter((e) => e.inst === victim);
    const survivors = editors.filter((e) => e.inst !== victim);
    await editLoop(editors, rnd, { stop: ({ ms }) => ms > 1500, maxMs: 1500 });
    const before = editors.reduce((n, e) => n + e.acked.length, 0);
    assert.ok(doomed.every((e) => e.acked.length > 0), 'the editors of the instance to kill had no op acked before the kill');

    const tKill = now();
    const killing = victim.kill9();
    await editLoop(survivors, rnd, { stop: ({ ms }) => ms > BOUND_MS + 1000, maxMs: BOUND_MS + 1000 });
    await killing;
    // edits go on: every survivor gets new ops acked
    await editLoop(survivors, rnd, { stop: () => survivors.every((e) => e.acked.filter((a) => a.t > tKill).length >= 5), maxMs: 10000 });
    const late = survivors.filter((e) => e.acked.filter((a) => a.t > tKill).length < 5);
    assert.deepEqual(late.map((e) => `${e.name}@instance${e.inst.index}`), [], 'editors with fewer than 5 ops acked after the kill');

    const rest = c.inst.filter((i) => i !== victim);
    await quiesce(editors, rest, room);
    let r;
    try {
      r = await checkConverged(assert, editors, rest, room, { exactRev: false });
    } finally {
      c.dump('editors.json', editors.map((e) => ({ name: e.name, instance: e.inst.index, sessions: e.sessions, acked: e.acked, refused: e.refused, errors: e.errors, violations: e.violations })));
    }

    // presence left of each participant of the killed instance, at each survivor
    const delays = [];
    const missing = [];
    for (const d of doomed) {
      for (const s of survivors) {
        const left = s.log.find((m) => m.type === 'presence' && m.event === 'left' && m.participant.id === d.self);
        if (!left) missing.push(`${s.name}@instance${s.inst.index} never got presence left of ${d.name} (${d.self})`);
        else delays.push(Math.round(left.t - tKill));
      }
    }
    assert.deepEqual(missing, [], 'presence left of the killed instance\'s participants');
    const worst = Math.max(...delays);
    console.log(`kill9: ${before} acked before the kill, ${r.acks} in all, rev ${r.rev}; presence left ${Math.min(...delays)}..${worst} ms after SIGKILL (bound ${BOUND_MS})`);
    assert.ok(worst <= BOUND_MS, `presence left came ${worst} ms after the SIGKILL (bound: presence-ttl + 1 s = ${BOUND_MS} ms); all: ${delays.join(' ')}`);
    const gone = new Set(doomed.map((d) => d.self));
    for (const inst of rest) {
      const rr = await inst.room(room);
      const stale = rr.json.participants.filter((p) => gone.has(p.id)).map((p) => p.id);
      assert.deepEqual(stale, [], `GET /rooms/${room} on instance${inst.index} still lists participants of the killed instance`);
      const h = await inst.health();
      assert.equal(h.redis, 'up', `instance${inst.index} /health: ${JSON.stringify(h)}`);
    }
  });
});
