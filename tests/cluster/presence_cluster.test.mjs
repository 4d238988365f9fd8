// presence_cluster.test.mjs (cluster test 3): presence, cursors and canvas elements across
// instances.
//  - B (instance 1) and C (instance 2) are in the room; A joins on instance 0: B and C get
//    `presence joined` for A; a later joiner D on instance 2 has A, B, C and itself in
//    `joined.participants`; participant ids are unique across instances;
//  - cursors sent on one instance reach the members on the others;
//  - elements: A, B and C send conflicting versions of the same elements at once; every member's
//    merged view (its own sends + what it received, merged last-writer-wins) ends at the one
//    expected winner (higher version; tie: lower versionNonce), and so does `joined.elements`
//    of a fresh joiner on each instance;
//  - `leave` and closed connections give `presence left` to every member, on the leaver's instance
//    and on the others; GET /rooms participants on every instance follow (also on one that has
//    no member left).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster, Member, sleep, seededRandom, until } from './cluster.mjs';

const SEED = Number(process.env.RINGROOM_CLUSTER_SEED || Math.floor(Math.random() * 1e9));
const T = 5000;    // how long a cross-instance message may take here

const ids = (list) => list.map((p) => p.id).sort();
const wins = (a, b) => a.version > b.version || (a.version === b.version && (a.versionNonce ?? 0) < (b.versionNonce ?? 0));

function mergedView(member, sent) {
  const view = new Map();
  const merge = (el) => { const cur = view.get(el.id); if (!cur || wins(el, cur)) view.set(el.id, el); };
  for (const el of member.of('joined')[0].elements || []) merge(el);
  for (const el of sent) merge(el);
  for (const m of member.of('element')) merge(m.element);
  return view;
}
const summary = (el) => el && `${el.id} v${el.version} n${el.versionNonce} by ${el.properties && el.properties.by}`;

test(`presence, cursors and elements across instances (seed ${SEED})`, async () => {
  await withCluster('presence', {}, async (c) => {
    const room = `presence-${SEED}`;
    const B = await Member.join(c.at(1), room, 'B');
    const C = await Member.join(c.at(2), room, 'C');
    const A = await Member.join(c.at(0), room, 'A');
    for (const m of [B, C]) {
      const p = await m.waitFor((x) => x.type === 'presence' && x.event === 'joined' && x.participant.id === A.self, T, 0, `presence joined of A (${A.self})`);
      assert.equal(p.participant.user, 'A', `${m.name}: presence joined names user ${p.participant.user}`);
    }
    const D = await Member.join(c.at(2), room, 'D');
    const all = [A, B, C, D];
    const selves = all.map((m) => m.self);
    assert.equal(new Set(selves).size, selves.length, `participant ids not unique across instances: ${selves.join(' ')}`);
    assert.deepEqual(ids(D.of('joined')[0].participants), [...selves].sort(), 'D\'s joined.participants (instance 2) is not A, B, C, D');
    for (const m of [A, B, C]) await m.waitFor((x) => x.type === 'presence' && x.event === 'joined' && x.participant.id === D.self, T, 0, 'presence joined of D');
    // GET /rooms on every instance lists the four
    for (const inst of c.used()) {
      const r = await inst.room(room);
      assert.equal(r.status, 200, `GET /rooms/${room} on instance${inst.index}`);
      assert.deepEqual(ids(r.json.participants), [...selves].sort(), `GET /rooms/${room} participants on instance${inst.index}`);
    }

    // cursors: A (instance 0) and C (instance 2) move; the others see the latest position
    const mark = new Map(all.map((m) => [m, m.log.length]));
    A.send({ type: 'cursor', pos: 3, sel: [1, 3] });
    C.send({ type: 'cursor', pos: 7, sel: { anchor: 7, head: 9 } });
    for (const m of [B, C, D]) {
      const cur = await m.waitFor((x) => x.type === 'cursor' && x.from === A.self && x.pos === 3, T, mark.get(m), `A's cursor`);
      assert.deepEqual(cur.sel, [1, 3], `${m.name}: A's cursor sel`);
    }
    for (const m of [A, B, D]) {
      const cur = await m.waitFor((x) => x.type === 'cursor' && x.from === C.self && x.pos === 7, T, mark.get(m), `C's cursor`);
      assert.deepEqual(cur.sel, { anchor: 7, head: 9 }, `${m.name}: C's cursor sel`);
    }

    // elements: conflicting versions from three instances at once
    const rnd = seededRandom(SEED);
    const senders = [A, B, C];
    const sent = new Map(senders.map((m) => [m, []]));
    const expected = new Map();
    const ELEMENTS = ['tie', 'high', 'mixed', 'del'];
    let unique = 0;
    for (let round = 0; round < 6; round++) {
      for (const id of ELEMENTS) {
        for (const m of senders) {
          let version, nonce;
          if (id === 'tie') { version = 5; nonce = 100 + Math.floor(rnd() * 1000); }
          else if (id === 'high') { version = 1 + Math.floor(rnd() * 20); nonce = Math.floor(rnd() * 50); }
          else { version = 1 + Math.floor(rnd() * 4); nonce = Math.floor(rnd() * 4); }
          nonce = nonce * 1000 + unique++;     // no two sends tie on both version and nonce
          const el = { id, type: 'rectangle', version, versionNonce: nonce, isDeleted: id === 'del' && rnd() < 0.5,
            properties: { by: m.name, round, x: Math.floor(rnd() * 100) } };
          m.send({ type: 'element', element: el });
          sent.get(m).push(el);
          const cur = expected.get(id);
          if (!cur || wins(el, cur)) expected.set(id, el);
        }
        if (rnd() < 0.3) await sleep(1);
      }
    }
    const want = (view) => ELEMENTS.map((id) => summary(view.get(id)));
    const expectedList = ELEMENTS.map((id) => summary(expected.get(id)));
    await until(() => all.every((m) => JSON.stringify(want(mergedView(m, sent.get(m) || []))) === JSON.stringify(expectedList)), T);
    for (const m of all) {
      const view = mergedView(m, sent.get(m) || []);
      assert.deepEqual(want(view), expectedList, `${m.name} (instance${m.inst.index}): merged elements`);
      for (const id of ELEMENTS) assert.deepEqual(view.get(id), expected.get(id), `${m.name}: element ${id} as the winner sent it`);
    }
    // presence left that did not come is collected, and asserted at the end
    const missed = [];
    const expectLeft = (m, who) => m.waitFor((x) => x.type === 'presence' && x.event === 'left' && x.participant.id === who.self, T, 0)
      .catch(() => missed.push(`${m.name} (instance${m.inst.index}) got no presence left of ${who.name} (${who.self}, instance${who.inst.index}) within ${T} ms`));
    for (const inst of c.used()) {
      const late = await Member.join(inst, room, `late${inst.index}`);
      const els = new Map((late.of('joined')[0].elements || []).map((e) => [e.id, e]));
      assert.deepEqual(ELEMENTS.map((id) => summary(els.get(id))), expectedList, `joined.elements of a fresh joiner on instance${inst.index}`);
      for (const id of ELEMENTS) assert.deepEqual(els.get(id), expected.get(id), `joined.elements ${id} on instance${inst.index}`);
      late.close();
      await Promise.all(all.map((m) => expectLeft(m, late)));
    }
    for (const m of all) assert.deepEqual(m.of('error').map((e) => e.code), [], `${m.name}: errors`);

    // leaving: A sends `leave` (instance 0), D's connection closes (instance 2, like C)
    A.send({ type: 'leave' });
    D.close();
    await Promise.all([B, C].flatMap((m) => [expectLeft(m, A), expectLeft(m, D)]));
    // GET /rooms on every instance, instance 0 included where nobody is left (it answers the
    // room as Redis has it)
    const want2 = JSON.stringify([B.self, C.self].sort());
    const withMembers = c.used();
    await until(async () => {
      const rs = await Promise.all(withMembers.map((i) => i.room(room)));
      return rs.every((x) => JSON.stringify(ids(x.json.participants)) === want2);
    }, T, 100);
    for (const inst of withMembers) {
      const r = await inst.room(room);
      if (JSON.stringify(ids(r.json.participants)) !== want2) missed.push(`GET /rooms/${room} on instance${inst.index} lists ${ids(r.json.participants).join(' ')} after A and D left (want ${[B.self, C.self].sort().join(' ')})`);
    }
    assert.deepEqual(missed, [], 'presence left');
  });
});
