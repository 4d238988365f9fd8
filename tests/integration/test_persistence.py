"""Persistence (the embedded op log, docs/persistence.md) with real clients and the real binary:

(a) kill -9 while ringload's `ot` scenario edits three documents (build/ringload or
    $RINGLOAD_BIN, with --acked-log: a line for every ack and every op its editors read),
    restart on the same data dir (with another thread count each time), check that every op
    any editor saw acked or received is in /history at its revision with the same author and
    op, that history is contiguous, and that every room's document equals the replay of its
    history; five rounds on one data dir ($RINGROOM_KILL9_ROUNDS for more, see
    tests/README.md).
(b) a torn tail (half a record appended to the last segment, and a zero-filled tail) is cut
    at startup; a flipped byte in the middle of a segment makes the server refuse to start
    (exit code 3, a message naming the segment) unless --recover-truncate.
(c) disk full: the data dir on a small tmpfs filled up: ops are answered store-unavailable,
    /health says degraded, the op whose write failed is acked once space returns, nothing
    acked is lost. Skipped (with the reason) if mounting a tmpfs is not permitted.
Also: rooms survive being empty, chat history in `joined`, GET /rooms for stored rooms,
/history parameters.
"""
import asyncio
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Server  # noqa: E402

import websockets  # noqa: E402


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def apply_op(doc, op):
    """ot.js apply, counting UTF-16 code units as ot.js does (ringload inserts astral
    characters, two units each). A retain or delete that splits a surrogate pair leaves
    bytes that do not decode: that raises."""
    src, out, i = doc.encode("utf-16-le"), [], 0
    for c in op:
        if isinstance(c, str):
            out.append(c.encode("utf-16-le"))
        elif c > 0:
            out.append(src[2 * i:2 * (i + c)])
            i += c
        else:
            i += -c
    assert 2 * i == len(src), f"op {op} does not span the document ({i} != {len(src) // 2})"
    return b"".join(out).decode("utf-16-le")


def replay(ops):
    doc = ""
    for o in ops:
        doc = apply_op(doc, o["op"])
    return doc


def history(srv, room):
    status, h = srv.get_json(f"/history/{room}?since=0&limit=10000")
    assert status == 200, (status, h)
    return h


def full_history(srv, room):
    """A room's revision and every op of its /history (paged with `since`); (0, []) if the
    server does not know the room."""
    ops = []
    while True:
        status, h = srv.get_json(f"/history/{room}?since={ops[-1]['rev'] if ops else 0}&limit=10000")
        if status == 404 and not ops:
            return 0, []
        assert status == 200, (room, status, h)
        ops += h["ops"]
        if len(h["ops"]) < 10000:
            return h["rev"], ops


def element(eid, version, color, nonce=0):
    return {"type": "element", "element": {"id": eid, "version": version, "versionNonce": nonce,
                                           "properties": {"color": color}}}


# updates in order, and the winners they leave: {id: (version, color)}
ELEMENT_UPDATES = [element("a", 1, "red"), element("b", 1, "blue"), element("a", 2, "green"), element("a", 1, "stale"),
                   element("c", 5, "tie-high-nonce", 9), element("c", 5, "tie-low-nonce", 3)]
ELEMENT_WINNERS = {"a": (2, "green"), "b": (1, "blue"), "c": (5, "tie-low-nonce")}


async def put_elements(srv, room, msgs, durable=False):
    """Sends msgs in room, then a chat, and returns once that chat came back (all handled).
    durable: then an op (inserting "e" at 0) too, and returns once it is acked: the store writes
    a core's records in order and acks an op only when its batch is durable, so the elements
    before it are durable as well (elements themselves are not acked)."""
    async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "join", "room": room}))
        j = json.loads(await ws.recv())
        for m in msgs:
            await ws.send(json.dumps(m))
        await ws.send(json.dumps({"type": "chat", "text": "done"}))
        while json.loads(await ws.recv())["type"] != "chat":
            pass
        if durable:
            doc_len = utf16_len(j["doc"])
            await ws.send(json.dumps({"type": "op", "rev": j["rev"], "op": ["e", doc_len] if doc_len else ["e"]}))
            while (m := json.loads(await ws.recv()))["type"] != "ack":
                assert m["type"] != "error", m


async def joined_elements(srv, room):
    async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "join", "room": room}))
        j = json.loads(await ws.recv())
        return {e["id"]: (e["version"], e["properties"]["color"]) for e in j["elements"]}


class PersistenceBase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ringroom-persist-")
        self.data = os.path.join(self.dir, "data")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    EXTRA = ()

    def server(self, *args, threads=2):
        return Server("--data-dir", self.data, "--threads", str(threads), *self.EXTRA, *args, name="persist")


def say(msg):
    print(msg, file=sys.stderr, flush=True)


class KillNine(PersistenceBase):
    """(a) with ringload's ot scenario. Each round: start the server on the data dir (2 and 3
    threads in turn), run `ringload --scenario ot --acked-log FILE` (ROOMS documents, ROOM_SIZE
    editors each, RATE edits/s per editor), SIGKILL the server at a random moment once ops flow,
    stop ringload (SIGTERM), and check the log against what the next server (the next round's,
    or a last one on 1 thread) has:
    - each room's /history is contiguous 1..N, GET /rooms/<room> says rev N and its document
      is the replay of that history;
    - every `ack` line's revision is in history with the acker as `from` and the op ringload
      had as acked (the op it sent, transformed against the ops it received meanwhile: what
      the server applied and stored); when nothing came in between (base = rev - 1) that is
      the op as sent, compared after JSON parsing;
    - every `op` line (an op another editor received) is in history, same author, same op;
    - acks of one connection have increasing revisions; a (room, rev) seen in two rounds is
      the same op (an acked op lost by the crash would see its revision given to another);
    - at most one op per editor per round is in history without an ack (the op in flight);
    - the log has one ack line per ack ringload counted (its JSON report's ot.acks).
    RINGROOM_KILL9_ROUNDS sets the number of rounds (default 5), RINGROOM_KILL9_SEED the seed
    (printed, random otherwise), RINGROOM_KILL9_RATE ringload's --rate (150/conn: at that rate
    most ops cross another and are transformed); per-round and total counts go to stderr."""
    ROUNDS = int(os.environ.get("RINGROOM_KILL9_ROUNDS", "5"))
    # small segments: rotation during the rounds and startup compaction between them; a
    # history window that holds every op of a long run (/history serves only the window)
    EXTRA = ("--segment-bytes", "16KiB", "--snapshot-every", "50", "--history-window", "100000")
    ROOMS, ROOM_SIZE, RATE = 3, 4, os.environ.get("RINGROOM_KILL9_RATE", "150/conn")
    MIN_ACKS = 40                   # acks read before the kill may come
    PREFIX = "k9-"
    FINAL_LOG = "compacted"         # the last server's log says so (startup compaction happened)

    def setUp(self):
        super().setUp()
        self.seed = int(os.environ.get("RINGROOM_KILL9_SEED") or random.randrange(1, 1 << 30))
        self.rooms = [f"{self.PREFIX}{k}" for k in range(self.ROOMS)]
        self.acked = {r: {} for r in self.rooms}     # room -> rev -> ack line
        self.seen = {r: {} for r in self.rooms}      # room -> rev -> op line (first seen)

    def keep_artifacts(self):
        dest = os.path.join(harness.ARTIFACTS, f"kill9-seed{self.seed}")
        shutil.copytree(self.dir, dest, dirs_exist_ok=True)
        return dest

    def run_round(self, srv, rnd, rng):
        """ringload against srv until srv is killed; returns the round's log lines."""
        log = os.path.join(self.dir, f"acked-{rnd}.jsonl")
        rep = os.path.join(self.dir, f"report-{rnd}.json")
        out_path = os.path.join(self.dir, f"ringload-{rnd}.out")
        cmd = [harness.binary("ringload"), "--scenario", "ot", "--url", srv.ws_url(),
               "--conns", str(self.ROOMS * self.ROOM_SIZE), "--room-size", str(self.ROOM_SIZE),
               "--room-prefix", self.PREFIX, "--rate", self.RATE, "--warmup", "0ms", "--duration", "120s",
               "--drain", "300ms", "--seed", str(self.seed + rnd), "--quiet", "--acked-log", log, "--json", rep]
        with open(out_path, "w") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=harness.ROOT)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    with open(log, "rb") as f:
                        if f.read().count(b'"kind":"ack"') >= self.MIN_ACKS:
                            break
                except FileNotFoundError:
                    pass
                if p.poll() is not None:
                    with open(out_path) as f:
                        self.fail(f"ringload ended before the kill:\n{f.read()[-3000:]}")
                self.assertLess(time.time(), deadline, "ringload's editors got too few acks in 30s")
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.8))
            srv.kill()                                   # SIGKILL while ops are in flight
            srv.log.close()
            out_srv = srv.output()
            for marker in harness.SANITIZER_MARKERS:
                self.assertNotIn(marker, out_srv, out_srv[-4000:])
            time.sleep(0.1)
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        with open(out_path) as f:
            output = f.read()
        # the documents cannot be fetched from a dead server: exit 1, no crash
        self.assertEqual(p.returncode, 1, f"ringload exited with {p.returncode}:\n{output[-3000:]}")
        for bad in ("killed by signal", "--acked-log:", *harness.SANITIZER_MARKERS):
            self.assertNotIn(bad, output, output[-3000:])
        with open(rep) as f:
            report = json.load(f)
        with open(log) as f:
            lines = [json.loads(line) for line in f]
        self.assertEqual(sum(1 for x in lines if x["kind"] == "ack"), report["ot"]["acks"],
                         "the acked log misses acks that ringload counted")
        self.assertGreater(report["errors"]["disconnect"], 0, "ringload did not see the server die")
        self.assertEqual(report["errors"]["ot"], 0, f"an editor broke (so stopped logging):\n{output[-3000:]}")
        return lines

    def record(self, rnd, lines):
        """Adds a round's log to self.acked/self.seen; checks what needs no server."""
        last = {}
        counts = {"ack": 0, "op": 0, "transformed": 0}
        for x in lines:
            room, rev = x["room"], x["rev"]
            self.assertIn(room, self.rooms)
            counts[x["kind"]] += 1
            if x["kind"] == "ack":
                self.assertGreater(rev, last.get(x["conn"], 0), f"round {rnd}: acks out of order: {x}")
                last[x["conn"]] = rev
                self.assertLess(x["base"], rev, x)
                if x["base"] == rev - 1:
                    self.assertEqual(x["sent"], x["op"], f"acked without a transform, yet not the op sent: {x}")
                else:
                    counts["transformed"] += 1
                prev = self.acked[room].get(rev)
                self.assertIsNone(prev, f"{room}@{rev} acked twice (an acked op was lost and its revision reused):"
                                        f"\n  {prev}\n  {x}")
                self.acked[room][rev] = x
            prev = self.acked[room].get(rev) if x["kind"] == "op" else None
            prev = prev or self.seen[room].get(rev)
            if prev is not None:
                self.assertEqual((prev["op"], prev["from"]), (x["op"], x["from"]),
                                 f"{room}@{rev} seen as two different ops:\n  {prev}\n  {x}")
            elif x["kind"] == "op":
                self.seen[room][rev] = x
        return counts

    def verify(self, srv):
        """Checks every line logged so far against srv; returns (ops in history, lost lines)."""
        lost, total = [], 0
        for room in self.rooms:
            n, ops = full_history(srv, room)
            self.assertEqual([o["rev"] for o in ops], list(range(1, len(ops) + 1)), f"{room}: history not contiguous")
            self.assertEqual(n, len(ops), room)
            for x in list(self.acked[room].values()) + list(self.seen[room].values()):
                o = ops[x["rev"] - 1] if x["rev"] <= n else None
                if o is None or o["op"] != x["op"] or o["from"] != x["from"]:
                    lost.append((x, o))
            if n:
                status, info = srv.get_json(f"/rooms/{room}")
                self.assertEqual(status, 200, room)
                self.assertEqual(info["rev"], n, room)
                self.assertEqual(info["doc"], replay(ops), f"{room}: document differs from the replay of its history")
            total += n
        return total, lost

    def check_after(self, srv, rnd, counts):
        in_history, lost = self.verify(srv)
        acked = sum(len(v) for v in self.acked.values())
        seen = len({(r, rev) for r in self.rooms for rev in list(self.acked[r]) + list(self.seen[r])})
        say(f"kill9: round {rnd + 1}/{self.ROUNDS}: {counts['ack']} acked ({counts['transformed']} transformed by "
            f"the server), {counts['op']} ops received; after restart: {acked} acked in all, {in_history} in "
            f"history, {len(self.rooms)} rooms, {len(lost)} lost")
        if lost:
            dest = self.keep_artifacts()
            self.fail(f"{len(lost)} ops seen by ringload are not in /history as seen (seed {self.seed}, "
                      f"logs in {dest}); first:\n" + "\n".join(f"  seen {x}\n  history {o}" for x, o in lost[:3]))
        # the ops in history never acked: at most one in flight per editor per round
        self.assertLessEqual(in_history - acked, (rnd + 1) * self.ROOMS * self.ROOM_SIZE)
        return acked, seen, in_history

    def test_kill9_rounds(self):
        t0 = time.time()
        rng = random.Random(self.seed)
        say(f"\nkill9: {self.ROUNDS} rounds, seed {self.seed} (RINGROOM_KILL9_SEED={self.seed} repeats the kill times)")
        counts = None
        for rnd in range(self.ROUNDS):
            threads = 2 + rnd % 2                  # 2, 3, 2, 3, 2: rooms change cores between runs
            srv = self.server(threads=threads).start()
            try:
                if rnd:
                    self.check_after(srv, rnd - 1, counts)
                counts = self.record(rnd, self.run_round(srv, rnd, rng))
            finally:
                srv.kill()
                srv.log.close()
        srv = self.server(threads=1).start()
        try:
            acked, seen, in_history = self.check_after(srv, self.ROUNDS - 1, counts)
            self.assertIn(self.FINAL_LOG, srv.output())
        finally:
            srv.stop()
        say(f"kill9: total: {self.ROUNDS} rounds, {acked} acked, {seen} ops seen (acked or received), "
            f"{in_history} in history, 0 lost, {time.time() - t0:.1f}s")


class SegmentRemoval(PersistenceBase):
    """Online checkpoints (docs/persistence.md): a server that keeps writing keeps a bounded set
    of segment files, without a restart. A first run leaves segments behind; a second run
    (3 threads) edits 12 rooms for a while, the segment count is sampled all along and stays
    bounded while many times more bytes are written than stay on disk, the first run's segments
    are removed once every core has checkpointed; then kill -9, and a third run finds every
    room at its acked revision with the last --history-window ops exactly as acked."""
    ARGS = ("--segment-bytes", "8KiB", "--history-window", "30", "--ot-max-lag", "30", "--snapshot-every", "10")

    def segments(self):
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.data, "seg-*.log")))

    async def edit(self, srv, rooms, n, acked, sample=None, width=1):
        async def one(room):
            async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": room}))
                j = json.loads(await ws.recv())
                rev, size = j["rev"], len(j["doc"])
                for _ in range(n):
                    # documents stay small (insert at the end, delete at the start past 8
                    # characters): the rooms' state is small, the bytes written are not
                    op = [-width] + ([size - width] if size > width else []) if size >= 8 * width else \
                        ([size] if size else []) + [chr(97 + rev % 26) * width]
                    size += -width if size >= 8 * width else width
                    await ws.send(json.dumps({"type": "op", "rev": rev, "op": op}))
                    m = json.loads(await ws.recv())
                    self.assertEqual((m["type"], m.get("rev")), ("ack", rev + 1), m)
                    rev += 1
                    acked.setdefault(room, []).append(op)
                    if sample and rev % 20 == 0:
                        sample()
        await asyncio.gather(*(one(r) for r in rooms))

    def test_old_segments_removed_while_running(self):
        rooms = [f"seg-{k}" for k in range(12)]
        acked = {}
        with self.server(*self.ARGS, threads=2) as srv:
            asyncio.run(self.edit(srv, rooms, 60, acked))
        first = self.segments()
        self.assertGreater(len(first), 3, first)         # the next start compacts them into one
        counts, sizes = [], []

        def sample():
            names, size = self.segments(), 0
            for x in names:
                try:
                    size += os.path.getsize(os.path.join(self.data, x))
                except FileNotFoundError:                # removed meanwhile
                    pass
            counts.append(len(names))
            sizes.append(size)
        srv = self.server(*self.ARGS, threads=3).start()
        try:
            startup = self.segments()
            asyncio.run(put_elements(srv, rooms[0], ELEMENT_UPDATES))   # checkpoints must carry them
            asyncio.run(self.edit(srv, rooms, 400, acked, sample))
            self.assertTrue(harness.wait_for(lambda: "removed" in srv.output()), srv.output()[-3000:])
            time.sleep(0.2)
            sample()
            left = set(self.segments())
            self.assertFalse(left & set(startup), f"the segments from before the start are still there: {left}")
        finally:
            srv.kill()
            srv.log.close()
        written = sum(len(json.dumps(o)) + 40 for ops in acked.values() for o in ops)   # op records, roughly
        say(f"segments: {len(counts)} samples, at most {max(counts)} files / {max(sizes)} bytes on disk "
            f"(end: {counts[-1]} / {sizes[-1]}); about {written} bytes of op records written")
        # per core at most: segments closed since its checkpoint, those of the checkpoint being
        # written and of the one waiting for its fdatasync, its current one (~6 x 3 cores);
        # without checkpoints every segment stays: over 30 (more than 260 KB in 8 KiB segments)
        self.assertLessEqual(max(counts), 20, counts)
        self.assertLess(max(sizes), written / 2, (sizes, written))   # without checkpoints: all of it
        with self.server(*self.ARGS, threads=1) as srv:
            for room in rooms:
                n = len(acked[room])
                status, h = srv.get_json(f"/history/{room}?since={n - 30}")
                self.assertEqual((status, h["rev"]), (200, n), room)
                ops = h["ops"]
                self.assertEqual([o["rev"] for o in ops], list(range(n - 29, n + 1)), room)
                self.assertEqual(srv.get(f"/history/{room}?since={n - 31}")[0], 410, room)
                self.assertEqual([o["op"] for o in ops], acked[room][-30:], room)
                status, info = srv.get_json(f"/rooms/{room}")
                self.assertEqual(info["doc"], replay([{"op": o} for o in acked[room]]), room)
            self.assertEqual(asyncio.run(joined_elements(srv, rooms[0])), ELEMENT_WINNERS)


    def test_checkpoint_in_slices(self):
        """Rooms whose state is bigger than one checkpoint slice (64 KiB): 4 rooms on 2 cores
        with 1,000 ops of ~240 bytes each in their history window; checkpoints written over
        several batches still cover everything: after kill -9 the last 1,000 ops of each room
        are as acked."""
        args = ("--segment-bytes", "64KiB", "--history-window", "1000", "--ot-max-lag", "1000",
                "--snapshot-every", "500")
        rooms = [f"big-{k}" for k in range(4)]
        acked = {}
        srv = self.server(*args, threads=2).start()
        try:
            asyncio.run(self.edit(srv, rooms, 1500, acked, width=200))
            self.assertTrue(harness.wait_for(lambda: "removed" in srv.output()), srv.output()[-3000:])
        finally:
            srv.kill()
            srv.log.close()
        with self.server(*args, threads=2) as srv:
            for room in rooms:
                n = len(acked[room])
                status, h = srv.get_json(f"/history/{room}?since={n - 1000}&limit=1000")
                self.assertEqual((status, h["rev"]), (200, n), room)
                self.assertEqual([o["op"] for o in h["ops"]], acked[room][-1000:], room)


class Basics(PersistenceBase):
    def test_rooms_survive_empty_and_restart(self):
        async def session(srv, expect_rev, expect_doc, expect_chat):
            async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": "keep", "user": {"id": "u"}}))
                j = json.loads(await ws.recv())
                self.assertEqual((j["rev"], j["doc"]), (expect_rev, expect_doc))
                self.assertEqual([c["text"] for c in j["chat"]], expect_chat)
                await ws.send(json.dumps({"type": "op", "rev": j["rev"], "op": ([j["rev"]] if j["rev"] else []) + ["x"]}))
                self.assertEqual(json.loads(await ws.recv()), {"type": "ack", "rev": expect_rev + 1})
                await ws.send(json.dumps({"type": "chat", "text": f"c{expect_rev}"}))
                m = json.loads(await ws.recv())
                self.assertEqual((m["type"], m["seq"]), ("chat", expect_rev + 1))

        with self.server("--chat-history", "2") as srv:
            asyncio.run(session(srv, 0, "", []))
            rooms = harness.wait_for(lambda: srv.get_json("/health")[1]["rooms"] == 0)
            self.assertTrue(rooms, "the room is freed once empty...")
            asyncio.run(session(srv, 1, "x", ["c0"]))   # ...and its document is still there
            deadline = time.time() + 5                  # the close is handled after the client's close
            while True:
                status, info = srv.get_json("/rooms/keep")
                if info["participants"] == [] or time.time() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual((status, info["rev"], info["doc"], info["participants"]), (200, 2, "xx", []))
        with self.server("--chat-history", "2", threads=3) as srv:
            asyncio.run(session(srv, 2, "xx", ["c0", "c1"]))
            asyncio.run(session(srv, 3, "xxx", ["c1", "c2"]))
            h = history(srv, "keep")
            self.assertEqual([o["op"] for o in h["ops"]], [["x"], [1, "x"], [2, "x"], [3, "x"]])
            for o in h["ops"]:
                self.assertEqual(sorted(o), ["from", "op", "rev", "ts"])
            self.assertEqual(srv.get_json("/history/keep?since=2&limit=1")[1]["ops"][0]["rev"], 3)
            self.assertEqual(srv.get_json("/history/keep?since=4")[1]["ops"], [])
            for bad in ("limit=0", "limit=10001", "limit=x", "since=-1", "since="):
                self.assertEqual(srv.get(f"/history/keep?{bad}")[0], 400, bad)
            self.assertEqual(srv.get("/history/never-seen")[0], 404)
            self.assertEqual(srv.get("/history/bad%20name")[0], 400)
            self.assertEqual(srv.get("/rooms/never-seen")[0], 404)
            _, metrics = srv.get("/metrics")
            for name in (b"ringroom_store_write_seconds_bucket", b"ringroom_store_fsync_seconds_count",
                         b"ringroom_store_errors_total"):
                self.assertIn(name, metrics)

    def test_elements_survive_empty_room_and_restart(self):
        """Canvas elements (last-writer-wins winners) are kept with the room: a room that emptied
        still has them, and so does the next server (kill -9 once an op after the last winner
        was acked), with a losing update not applied."""
        want = ELEMENT_WINNERS
        srv = self.server().start()
        try:
            asyncio.run(put_elements(srv, "canvas", ELEMENT_UPDATES, durable=True))
            self.assertTrue(harness.wait_for(lambda: srv.get_json("/health")[1]["rooms"] == 0),
                            "the room is freed once empty")
            self.assertEqual(asyncio.run(joined_elements(srv, "canvas")), want)
        finally:
            srv.kill()
            srv.log.close()
        with self.server(threads=3) as srv:
            self.assertEqual(asyncio.run(joined_elements(srv, "canvas")), want)

    def test_data_dir_locked(self):
        with self.server() as srv:
            p = subprocess.run([harness.binary(), "--listen", "127.0.0.1:0", "--data-dir", self.data],
                               capture_output=True, text=True, timeout=30, cwd=harness.ROOT)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("in use by another ringroom", p.stderr)
            srv.get("/health")


def _ot_retain(ops, n):
    if n == 0:
        return
    if ops and isinstance(ops[-1], int) and ops[-1] > 0:
        ops[-1] += n
    else:
        ops.append(n)


def _ot_insert(ops, s):
    if s == "":
        return
    if ops and isinstance(ops[-1], str):
        ops[-1] += s
    elif ops and isinstance(ops[-1], int) and ops[-1] < 0:
        if len(ops) > 1 and isinstance(ops[-2], str):
            ops[-2] += s
        else:
            ops.insert(len(ops) - 1, s)
    else:
        ops.append(s)


def _ot_delete(ops, n):
    if n == 0:
        return
    if ops and isinstance(ops[-1], int) and ops[-1] < 0:
        ops[-1] -= n
    else:
        ops.append(-n)


def ot_transform(a, b):
    """ot.js TextOperation.transform(a, b)[0] (a's inserts win ties), ASCII text: the op the
    ot.js server applies for client op a after server op b."""
    out, ia, ib = [], iter(a), iter(b)
    x, y = next(ia, None), next(ib, None)
    while x is not None or y is not None:
        if isinstance(x, str):
            _ot_insert(out, x)
            x = next(ia, None)
            continue
        if isinstance(y, str):
            _ot_retain(out, len(y))
            y = next(ib, None)
            continue
        assert x is not None and y is not None, (a, b)
        if x > 0 and y > 0:
            m = min(x, y)
            _ot_retain(out, m)
            x, y = (x - m or None), (y - m or None)
        elif x < 0 and y < 0:
            m = min(-x, -y)
            x, y = (x + m or None), (y + m or None)
        elif x < 0 < y:
            m = min(-x, y)
            _ot_delete(out, m)
            x, y = (x + m or None), (y - m or None)
        else:                           # x retains, y deletes
            m = min(x, -y)
            x, y = (x - m or None), (y + m or None)
        if x is None:
            x = next(ia, None)
        if y is None:
            y = next(ib, None)
    return out


class MaxLag(PersistenceBase):
    """--ot-max-lag: an op based on a revision older than the doc's --ot-window is transformed
    against the op log's in-memory history (exactly as ot.js's server would), up to
    --ot-max-lag revisions back; beyond that it is rev-too-old. Also after a restart, when the
    doc's window is empty and all of it comes from the log."""
    EXTRA = ("--ot-window", "5", "--ot-max-lag", "100", "--history-window", "200")

    def test_old_base_transformed_from_store(self):
        rng = random.Random(7)

        async def build(srv, n):
            async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": "lag"}))
                j = json.loads(await ws.recv())
                rev, doc = j["rev"], j["doc"]
                for i in range(n):          # random inserts and deletes
                    pos = rng.randint(0, len(doc))
                    if doc and rng.random() < 0.4:
                        k = rng.randint(1, min(3, len(doc) - pos)) if pos < len(doc) else 0
                        op = [pos, -k, len(doc) - pos - k] if k else [pos, "q"]
                    else:
                        op = [pos, f"{chr(97 + i % 26)}{i}", len(doc) - pos]
                    op = [c for c in op if c != 0]
                    await ws.send(json.dumps({"type": "op", "rev": rev, "op": op}))
                    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert m["type"] == "ack", m
                    rev, doc = m["rev"], apply_op(doc, op)
                return rev

        async def send(srv, base, op):
            async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": "lag"}))
                json.loads(await ws.recv())
                await ws.send(json.dumps({"type": "op", "rev": base, "op": op}))
                return json.loads(await asyncio.wait_for(ws.recv(), 10))

        def check(srv, lag):
            ops = [o["op"] for o in history(srv, "lag")["ops"]]
            n = len(ops)
            base = n - lag
            old = replay([{"op": o} for o in ops[:base]])
            pos = len(old) // 2
            mine = [c for c in (pos, "<LAG>", len(old) - pos) if c != 0]
            expect = mine
            for o in ops[base:]:
                expect = ot_transform(expect, o)
            m = asyncio.run(send(srv, base, mine))
            self.assertEqual(m, {"type": "ack", "rev": n + 1})
            h = history(srv, "lag")["ops"]
            self.assertEqual(h[-1]["op"], expect)
            _, info = srv.get_json("/rooms/lag")
            self.assertEqual(info["doc"], apply_op(replay([{"op": o} for o in ops]), expect))
            return n + 1

        with self.server() as srv:
            n = asyncio.run(build(srv, 120))
            self.assertEqual(n, 120)
            n = check(srv, 50)                    # 45 ops from the log, 5 from the doc's window
            n = check(srv, 100)                   # the limit itself
            m = asyncio.run(send(srv, n - 101, ["x"]))
            self.assertEqual((m["type"], m["code"]), ("error", "rev-too-old"))
        with self.server() as srv:                # after a restart the doc's window is empty
            n = check(srv, 50)
            m = asyncio.run(send(srv, n - 101, ["x"]))
            self.assertEqual((m["type"], m["code"]), ("error", "rev-too-old"))

    def test_max_lag_over_history_window_refused(self):
        p = subprocess.run([harness.binary(), "--listen", "127.0.0.1:0", "--data-dir", self.data,
                            "--history-window", "10", "--ot-max-lag", "11"],
                           capture_output=True, text=True, timeout=30, cwd=harness.ROOT)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--ot-max-lag", p.stderr)


class Resubmit(PersistenceBase):
    """Idempotent resubmission: an op with a cid/cseq already applied is acked with its original
    revision and not applied again, before and after a kill -9 and restart (the cid table is
    rebuilt from the op records)."""

    async def join(self, srv, room):
        ws = await websockets.connect(srv.ws_url(), open_timeout=5)
        await ws.send(json.dumps({"type": "join", "room": room}))
        j = json.loads(await ws.recv())
        return ws, j

    async def op(self, ws, rev, op, **kw):
        await ws.send(json.dumps({"type": "op", "rev": rev, "op": op, **kw}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if m["type"] in ("ack", "error"):
                return m

    def test_resubmit_without_restart(self):
        async def go(srv):
            ws, j = await self.join(srv, "idem")
            self.assertEqual(j["rev"], 0)
            self.assertEqual(await self.op(ws, 0, ["a"], cid="client-1", cseq=0), {"type": "ack", "rev": 1})
            self.assertEqual(await self.op(ws, 0, ["a"], cid="client-1", cseq=0), {"type": "ack", "rev": 1})
            self.assertEqual(await self.op(ws, 1, [1, "b"], cid="client-1", cseq=1), {"type": "ack", "rev": 2})
            # lower than the last applied: already in, acked with the cid's latest revision
            self.assertEqual(await self.op(ws, 0, ["a"], cid="client-1", cseq=0), {"type": "ack", "rev": 2})
            # another cid, and a gap in cseq, are applied
            self.assertEqual(await self.op(ws, 2, [2, "c"], cid="client-2", cseq=0), {"type": "ack", "rev": 3})
            self.assertEqual(await self.op(ws, 3, [3, "d"], cid="client-1", cseq=7), {"type": "ack", "rev": 4})
            self.assertEqual(await self.op(ws, 3, [3, "d"], cid="client-1", cseq=7), {"type": "ack", "rev": 4})
            # no cid: applied every time, as before
            self.assertEqual(await self.op(ws, 4, [4, "e"]), {"type": "ack", "rev": 5})
            for bad in ({"cid": "x"}, {"cseq": 1}, {"cid": "x" * 65, "cseq": 1}, {"cid": "", "cseq": 1},
                        {"cid": "x", "cseq": -1}, {"cid": 5, "cseq": 1}, {"cid": "x", "cseq": "1"}):
                m = await self.op(ws, 5, [5, "z"], **bad)
                self.assertEqual((m["type"], m["code"]), ("error", "bad-message"), bad)
            self.assertEqual(await self.op(ws, 5, [5, "f"], cid="x" * 64, cseq=0), {"type": "ack", "rev": 6})
            await ws.close()

        with self.server() as srv:
            asyncio.run(go(srv))
            _, info = srv.get_json("/rooms/idem")
            self.assertEqual((info["rev"], info["doc"]), (6, "abcdef"))

    def test_resubmit_before_durable(self):
        """The resubmission arrives while the op waits for its fdatasync: its ack waits too."""
        async def go(srv):
            ws, _ = await self.join(srv, "idem")
            other, _ = await self.join(srv, "idem")
            m = {"type": "op", "rev": 0, "op": ["a"], "cid": "c", "cseq": 1}
            await ws.send(json.dumps(m))
            await ws.send(json.dumps(m))
            got = []
            while len(got) < 2:
                g = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if g["type"] != "presence":
                    got.append(g)
            self.assertEqual(got, [{"type": "ack", "rev": 1}] * 2)
            o = json.loads(await asyncio.wait_for(other.recv(), 10))
            self.assertEqual((o["type"], o["rev"]), ("op", 1))
            with self.assertRaises(asyncio.TimeoutError):     # broadcast once only
                await asyncio.wait_for(other.recv(), 0.5)
            await ws.close()
            await other.close()

        with self.server("--fsync", "batch", "--fsync-interval", "300ms") as srv:
            asyncio.run(go(srv))
            self.assertEqual(srv.get_json("/rooms/idem")[1]["doc"], "a")

    def test_resubmit_survives_compaction(self):
        """Startup compaction rewrites the history window: a cid's latest op keeps its cid."""
        async def first(srv):
            ws, _ = await self.join(srv, "idem")
            self.assertEqual(await self.op(ws, 0, ["a"], cid="k", cseq=1), {"type": "ack", "rev": 1})
            await ws.close()

        async def again(srv):
            ws, j = await self.join(srv, "idem")
            self.assertEqual(await self.op(ws, 0, ["a"], cid="k", cseq=1), {"type": "ack", "rev": 1})
            await ws.close()
            return j["rev"]

        small = ("--segment-bytes", "4096")
        with self.server(*small) as srv:
            asyncio.run(first(srv))
            asyncio.run(write_ops(srv, "idem", 80))
        with self.server(*small) as srv:
            self.assertIn("compacted", srv.output())
            self.assertEqual(asyncio.run(again(srv)), 81)
        with self.server(*small) as srv:
            self.assertEqual(asyncio.run(again(srv)), 81)

    def test_resubmit_after_kill9(self):
        msg = {"cid": "tab-42", "cseq": 3}

        async def first(srv):
            ws, j = await self.join(srv, "idem")
            self.assertEqual(await self.op(ws, 0, ["hello"]), {"type": "ack", "rev": 1})
            self.assertEqual(await self.op(ws, 1, [5, " world"], **msg), {"type": "ack", "rev": 2})
            self.assertEqual(await self.op(ws, 2, [11, "!"]), {"type": "ack", "rev": 3})
            await ws.close()

        async def again(srv):
            ws, j = await self.join(srv, "idem")
            self.assertEqual((j["rev"], j["doc"]), (3, "hello world!"))
            # the same op at its old base revision: acked with its revision, not applied again
            self.assertEqual(await self.op(ws, 1, [5, " world"], **msg), {"type": "ack", "rev": 2})
            self.assertEqual(await self.op(ws, 1, [5, " world"], cid="tab-42", cseq=2), {"type": "ack", "rev": 2})
            # the next cseq is a new op
            self.assertEqual(await self.op(ws, 3, [12, "?"], cid="tab-42", cseq=4), {"type": "ack", "rev": 4})
            await ws.close()

        srv = self.server().start()
        try:
            asyncio.run(first(srv))
        finally:
            srv.kill()                                  # SIGKILL after the acks
            srv.log.close()
        with self.server(threads=3) as srv:
            asyncio.run(again(srv))
            _, info = srv.get_json("/rooms/idem")
            self.assertEqual((info["rev"], info["doc"]), (4, "hello world!?"))
            self.assertEqual(len(history(srv, "idem")["ops"]), 4)
        with self.server() as srv:                      # and again: the cseq 4 record too
            async def third():
                ws, j = await self.join(srv, "idem")
                self.assertEqual(await self.op(ws, 3, [12, "?"], cid="tab-42", cseq=4), {"type": "ack", "rev": 4})
                await ws.close()
            asyncio.run(third())
            self.assertEqual(srv.get_json("/rooms/idem")[1]["rev"], 4)


def segments(data):
    return sorted(p for p in glob.glob(os.path.join(data, "seg-*.log")) if os.path.getsize(p) > 0)


async def write_ops(srv, room, n):
    """n ops, one at a time; returns the acked revisions."""
    acked = []
    async with websockets.connect(srv.ws_url(), open_timeout=5) as ws:
        await ws.send(json.dumps({"type": "join", "room": room}))
        j = json.loads(await ws.recv())
        rev, length = j["rev"], utf16_len(j["doc"])
        for i in range(n):
            await ws.send(json.dumps({"type": "op", "rev": rev, "op": ([length] if length else []) + [f"<{i}>"]}))
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert m["type"] == "ack", m
            rev = m["rev"]
            length += utf16_len(f"<{i}>")
            acked.append(rev)
    return acked


class Damage(PersistenceBase):
    def populate(self):
        with self.server() as srv:
            for room in ("dmg-a", "dmg-b", "dmg-c"):
                asyncio.run(write_ops(srv, room, 20))
            docs = {r: srv.get_json(f"/rooms/{r}")[1]["doc"] for r in ("dmg-a", "dmg-b", "dmg-c")}
        return docs

    def run_bin(self, *args):
        return subprocess.run([harness.binary(), "--listen", "127.0.0.1:0", "--data-dir", self.data, *args],
                              capture_output=True, text=True, timeout=30, cwd=harness.ROOT)

    def test_torn_tail_is_cut(self):
        docs = self.populate()

        def check(srv):
            for room, doc in docs.items():
                self.assertEqual(srv.get_json(f"/rooms/{room}")[1]["doc"], doc)
                self.assertEqual(len(history(srv, room)["ops"]), 20)

        seg = segments(self.data)[-1]
        with open(seg, "rb") as f:
            first = f.read(64)
        size = os.path.getsize(seg)
        with open(seg, "ab") as f:              # a record whose write was cut: header + part of its payload
            f.write(first[:40])
        with self.server() as srv:
            check(srv)
            self.assertIn("dropping 40 bytes", srv.output())
        self.assertEqual(os.path.getsize(seg), size)
        with open(seg, "ab") as f:              # a zero-filled tail (the size grew, the data never came)
            f.write(b"\0" * 4096)
        with self.server(threads=3) as srv:
            check(srv)
            self.assertIn("zero-filled tail", srv.output())
        self.assertEqual(os.path.getsize(seg), size)

    def test_corrupt_middle_refuses(self):
        docs = self.populate()
        seg = max(segments(self.data), key=os.path.getsize)
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x20]))
        p = self.run_bin()
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(os.path.basename(seg), p.stderr)
        self.assertIn("corrupt", p.stderr)
        self.assertIn("--recover-truncate", p.stderr)
        self.assertEqual(os.path.getsize(seg), size)          # nothing touched
        with self.server("--recover-truncate") as srv:
            self.assertIn("--recover-truncate", srv.output())
            lost = 0
            for room, doc in docs.items():
                status, info = srv.get_json(f"/rooms/{room}")
                if status != 200 or info["doc"] != doc:
                    lost += 1
                    if status == 200:   # what is left is a consistent prefix
                        self.assertEqual(info["doc"], replay(history(srv, room)["ops"]))
            self.assertGreater(lost, 0)
        self.assertLess(os.path.getsize(seg), size)


class DiskFull(PersistenceBase):
    def setUp(self):
        super().setUp()
        self.mnt = os.path.join(self.dir, "mnt")
        os.makedirs(self.mnt)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", self.mnt], capture_output=True, text=True)
        if p.returncode != 0:
            raise unittest.SkipTest(f"cannot mount a tmpfs here ({p.stderr.strip() or p.returncode}): disk-full test skipped")
        self.data = os.path.join(self.mnt, "data")

    def tearDown(self):
        subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        super().tearDown()

    def fill(self):
        path = os.path.join(self.mnt, "filler")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            while os.write(fd, b"\xff" * 4096) > 0:
                pass
        except OSError:
            pass
        try:
            while os.write(fd, b"\xff") > 0:           # the last partial page too
                pass
        except OSError:
            pass
        os.close(fd)
        return path

    def test_enospc(self):
        srv = self.server("--snapshot-every", "100000", threads=1).start()
        try:
            async def go():
                acked, pending_acked = [], []
                a = await websockets.connect(srv.ws_url(), open_timeout=5)
                b = await websockets.connect(srv.ws_url(), open_timeout=5)
                for ws in (a, b):
                    await ws.send(json.dumps({"type": "join", "room": "full"}))
                    json.loads(await ws.recv())
                rev, length = 0, 0

                async def next_msg(ws, types, timeout):
                    while True:
                        m = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                        if m["type"] in types:
                            return m

                for i in range(5):                          # healthy
                    await a.send(json.dumps({"type": "op", "rev": rev, "op": ([length] if length else []) + ["ab"]}))
                    rev = (await next_msg(a, ("ack",), 5))["rev"]
                    length += 2
                    acked.append(rev)
                filler = self.fill()
                # ops until the log cannot write: the op whose write fails is neither acked nor refused
                stuck = False
                for i in range(400):
                    await a.send(json.dumps({"type": "op", "rev": rev, "op": ([length] if length else []) + ["cd" * 20]}))
                    try:
                        m = await next_msg(a, ("ack", "error"), 2)
                    except asyncio.TimeoutError:
                        stuck = True
                        break
                    if m["type"] == "error":
                        self.assertEqual(m["code"], "store-unavailable")
                        break
                    rev = m["rev"]
                    length += 40
                    acked.append(rev)
                self.assertTrue(stuck, "the log never ran out of space")
                status, h = srv.get_json("/health")
                self.assertEqual(h["status"], "degraded")
                # while degraded: new ops are refused, the document is unchanged
                await b.send(json.dumps({"type": "op", "rev": rev, "op": ([length] if length else []) + ["zz"]}))
                e = await next_msg(b, ("error",), 5)
                self.assertEqual((e["code"], e["ref"]), ("store-unavailable", "op"))
                _, metrics = srv.get("/metrics")
                self.assertRegex(metrics.decode(), r"ringroom_store_errors_total [1-9]")
                self.assertIn("ringroom_store_degraded 1", metrics.decode())
                # space comes back: the stuck op is written and acked, and b sees it
                os.unlink(filler)
                m = await next_msg(a, ("ack",), 5)
                self.assertEqual(m["rev"], rev + 1)
                pending_acked.append(m["rev"])
                seen = await next_msg(b, ("op",), 5)
                self.assertEqual(seen["rev"], rev + 1)
                rev += 1
                length += 40
                self.assertEqual(srv.get_json("/health")[1]["status"], "ok")
                await a.send(json.dumps({"type": "op", "rev": rev, "op": [length, "ef"]}))
                acked.append((await next_msg(a, ("ack",), 5))["rev"])
                await a.close()
                await b.close()
                return acked + pending_acked
            all_acked = asyncio.run(go())
            srv.stop()
            self.assertIn("writes succeed again", srv.output())
            with self.server(threads=2) as srv2:
                h = history(srv2, "full")
                revs = [o["rev"] for o in h["ops"]]
                for r in all_acked:
                    self.assertIn(r, revs)
                self.assertEqual(revs, list(range(1, len(revs) + 1)))
                self.assertEqual(srv2.get_json("/rooms/full")[1]["doc"], replay(h["ops"]))
        finally:
            srv.kill()


if __name__ == "__main__":
    unittest.main()
