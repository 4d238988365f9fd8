// ot_cluster.test.mjs (cluster test 1): ot.js clients spread over 3 instances that share rooms
// through Redis edit one document concurrently; 20 runs, a fresh room each. After quiescence
// every client's text and every instance's GET /rooms doc are identical, rev equals the number
// of acked ops, and every instance's GET /history lists the same ops, with every acked and every
// received op at its revision (cluster.mjs checkConverged).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster, Editor, editLoop, quiesce, checkConverged, seededRandom } from './cluster.mjs';

const RUNS = Number(process.env.RINGROOM_CLUSTER_RUNS || 20);
const OPS = Number(process.env.RINGROOM_CLUSTER_OPS || 200);   // acked ops per run, at least
const EDITORS = 6;
const SEED = Number(process.env.RINGROOM_CLUSTER_SEED || Math.floor(Math.random() * 1e9));

test(`${EDITORS} ot.js editors on 3 instances converge, ${RUNS} runs (seed ${SEED})`, async () => {
  await withCluster('ot', {}, async (c) => {
    const totals = [];
    for (let run = 0; run < RUNS; run++) {
      const room = `ot-${SEED}-${run}`;
      const rnd = seededRandom(SEED + run);
      const editors = [];
      for (let i = 0; i < EDITORS; i++) editors.push(new Editor(c.at(i), room, `r${run}e${i}`, SEED * 7 + run * 100 + i));
      await Promise.all(editors.map((e) => e.open()));
      try {
        await editLoop(editors, rnd, { stop: ({ acks }) => acks >= OPS, maxMs: 15000 });
        await quiesce(editors, c.used(), room);
        const r = await checkConverged(assert, editors, c.used(), room, { exactRev: true });
        assert.ok(r.acks >= OPS, `run ${run}: only ${r.acks} ops acked in 15 s`);
        totals.push(r.acks);
      } catch (e) {
        const edState = editors.map((ed) => ({ name: ed.name, instance: ed.inst.index, rev: ed.revision, doc: ed.doc,
          sessions: ed.sessions, acked: ed.acked, seen: ed.seen, errors: ed.errors, refused: ed.refused, violations: ed.violations }));
        const inst = await Promise.all(c.used().map(async (i) => ({ instance: i.index,
          room: await i.room(room).then((r) => r.json, String), history: await i.history(room).then((r) => r.json, String) })));
        const where = c.dump(`run${run}.json`, { seed: SEED, run, room, editors: edState, instances: inst });
        e.message = `run ${run} (room ${room}, seed ${SEED}): ${e.message}\n(dump: ${where})`;
        throw e;
      } finally {
        editors.forEach((ed) => ed.close());
      }
    }
    // the runs did race: instances committed at the same revision and had to rebase
    const conflicts = (await Promise.all(c.used().map((i) => i.metric('ringroom_redis_commit_conflicts_total')))).reduce((a, b) => a + b, 0);
    console.log(`ot: ${RUNS} runs, acked ops per run ${Math.min(...totals)}..${Math.max(...totals)}, total ${totals.reduce((a, b) => a + b, 0)}, ` +
      `commit conflicts ${conflicts}`);
    if (c.used().length > 1) assert.ok(conflicts > 0, `ringroom_redis_commit_conflicts_total is ${conflicts} on the instances: no concurrent commit was exercised`);
  });
});
