// chat_cluster.test.mjs (cluster test 2): members on all 3 instances chat at once. Every member
// receives every message, its own included (with its `id`), and the sequence of (seq, from,
// text) is the same for all members: seq 1, 2, 3... with no gap. A member joining afterwards on
// each instance gets the room's last messages (--chat-history, default 50) in `joined.chat`,
// the tail of that same sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster, Member, sleep, seededRandom, until } from './cluster.mjs';

const MEMBERS = 6;          // 2 per instance
const EACH = 12;            // messages per member
const SEED = Number(process.env.RINGROOM_CLUSTER_SEED || Math.floor(Math.random() * 1e9));

test(`chat from ${MEMBERS} members on 3 instances: one seq order for all (seed ${SEED})`, async () => {
  await withCluster('chat', {}, async (c) => {
    const room = `chat-${SEED}`;
    const rnd = seededRandom(SEED);
    const members = [];
    for (let i = 0; i < MEMBERS; i++) members.push(await Member.join(c.at(i), room, `m${i}`));
    const total = MEMBERS * EACH;
    // everyone sends EACH messages, interleaved at random, a few ms apart
    const sends = [];
    for (const m of members) for (let k = 0; k < EACH; k++) sends.push([m, k]);
    for (let i = sends.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [sends[i], sends[j]] = [sends[j], sends[i]]; }
    const nextK = new Map(members.map((m) => [m, 0]));
    for (const [m] of sends) {
      const k = nextK.get(m);
      nextK.set(m, k + 1);
      m.send({ type: 'chat', text: `${m.name} says ${k} ${'é😀'.repeat(k % 3)}`, id: `${m.name}-${k}` });
      if (rnd() < 0.5) await sleep(Math.floor(rnd() * 4));
    }
    await until(() => members.every((m) => m.of('chat').length >= total), 10000);
    const got = members.map((m) => m.of('chat'));
    const counts = got.map((g, i) => `${members[i].name}@instance${members[i].inst.index}: ${g.length}`);
    for (const m of members) assert.deepEqual(m.of('error').map((e) => e.code), [], `${m.name}: errors`);
    assert.ok(got.every((g) => g.length === total), `not every member got all ${total} messages: ${counts.join(', ')}`);
    const seqs = got[0].map((x) => x.seq);
    assert.deepEqual(seqs, Array.from({ length: total }, (_, i) => i + 1), 'seq is not 1, 2, ... without gaps in arrival order');
    const key = (x) => `${x.seq}|${x.from}|${x.text}|${x.id}`;
    got.forEach((g, i) => assert.deepEqual(g.map(key), got[0].map(key),
      `${members[i].name} (instance${members[i].inst.index}) got another (seq, from, text) sequence than ${members[0].name}`));
    // each member's own messages came back with its ids, in the order it sent them
    for (const m of members) {
      const mine = got[0].filter((x) => x.from === m.self).map((x) => x.id);
      assert.deepEqual(mine, Array.from({ length: EACH }, (_, k) => `${m.name}-${k}`), `${m.name}'s messages (from ${m.self})`);
    }
    // late joiners, one per instance: joined.chat is the tail of the same sequence
    for (const inst of c.used()) {
      const late = await Member.join(inst, room, `late${inst.index}`);
      const hist = late.of('joined')[0].chat || [];
      const tail = got[0].slice(-hist.length).map(key);
      assert.ok(hist.length >= Math.min(total, 50), `late joiner on instance${inst.index}: joined.chat holds ${hist.length} messages`);
      assert.deepEqual(hist.map(key), tail, `late joiner on instance${inst.index}: joined.chat is not the tail of the room's chat`);
      late.close();
    }
  });
});
