"""Persistence (the embedded op log, docs/persistence.md) with real clients and the real binary:

(a) kill -9 while several OT clients send ops, restart on the same data dir (with another
    thread count each time), check that every op any client saw acked or broadcast is in
    /history at its revision, that history is contiguous, and that every room's document
    equals the replay of its history; five rounds on one data dir.
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
    """ot.js apply over ASCII/BMP text (the tests insert ASCII only)."""
    out, i = [], 0
    for c in op:
        if isinstance(c, str):
            out.append(c)
        elif c > 0:
            out.append(doc[i:i + c])
            i += c
        else:
            i += -c
    assert i == len(doc), f"op {op} does not span the document ({i} != {len(doc)})"
    return "".join(out)


def replay(ops):
    doc = ""
    for o in ops:
        doc = apply_op(doc, o["op"])
    return doc


class Editor:
    """An OT client that inserts only (so it can track the document length without
    transforming): one op in flight, waits for its ack, records what it saw."""

    def __init__(self, url, room, name, seed):
        self.url, self.room, self.name = url, room, name
        self.rng = random.Random(seed)
        self.acked = {}        # rev -> our participant id
        self.seen = {}         # rev -> (op, from) from broadcasts
        self.errors = []

    async def run(self, stop):
        try:
            async with websockets.connect(self.url, max_size=None, open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": self.room,
                                          "user": {"id": self.name, "name": self.name, "color": "#000"}}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if m["type"] == "joined":
                        break
                me, rev, length = m["self"], m["rev"], utf16_len(m["doc"])
                while not stop.is_set():
                    pos = self.rng.randint(0, length)
                    text = self.name[0] + str(self.rng.randint(0, 99))
                    op = ([pos] if pos else []) + [text] + ([length - pos] if length - pos else [])
                    await ws.send(json.dumps({"type": "op", "rev": rev, "op": op}))
                    while True:
                        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        if m["type"] == "op":
                            self.seen[m["rev"]] = (m["op"], m["from"])
                            rev = m["rev"]
                            length += sum(utf16_len(c) for c in m["op"] if isinstance(c, str))
                        elif m["type"] == "ack":
                            self.acked[m["rev"]] = me
                            rev = m["rev"]
                            length += utf16_len(text)
                            break
                        elif m["type"] == "error":
                            self.errors.append(m)
                            break
        except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError):
            pass                     # the server was killed under us


def history(srv, room):
    status, h = srv.get_json(f"/history/{room}?since=0&limit=10000")
    assert status == 200, (status, h)
    return h


class PersistenceBase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ringroom-persist-")
        self.data = os.path.join(self.dir, "data")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    EXTRA = ()

    def server(self, *args, threads=2):
        return Server("--data-dir", self.data, "--threads", str(threads), *self.EXTRA, *args, name="persist")

    def check_consistent(self, srv, rooms, observed):
        """Every observed op at its revision; history contiguous; doc == replay(history)."""
        total = 0
        for room in rooms:
            h = history(srv, room)
            ops = h["ops"]
            self.assertEqual([o["rev"] for o in ops], list(range(1, len(ops) + 1)), f"{room}: history not contiguous")
            self.assertEqual(h["rev"], len(ops))
            by_rev = {o["rev"]: o for o in ops}
            for rev, (op, frm) in observed.get(room, {}).items():
                self.assertIn(rev, by_rev, f"{room}: rev {rev} was acked/broadcast but is not in /history")
                if frm is not None:
                    self.assertEqual(by_rev[rev]["from"], frm, f"{room}@{rev}")
                if op is not None:
                    self.assertEqual(by_rev[rev]["op"], op, f"{room}@{rev}")
            status, info = srv.get_json(f"/rooms/{room}")
            self.assertEqual(status, 200)
            self.assertEqual(info["rev"], len(ops))
            self.assertEqual(info["doc"], replay(ops), f"{room}: document differs from the replay of its history")
            total += len(ops)
        return total


class KillNine(PersistenceBase):
    ROUNDS = 5
    # small segments: rotation during the rounds and startup compaction between them
    EXTRA = ("--segment-bytes", "16KiB", "--snapshot-every", "50")

    def test_kill9_rounds(self):
        rooms = ["k9-alpha", "k9-beta", "k9-gamma"]
        observed = {r: {} for r in rooms}          # room -> rev -> (op or None, from or None)
        for rnd in range(self.ROUNDS):
            threads = 2 + rnd % 2                  # 2, 3, 2, 3, 2: rooms change cores between runs
            srv = self.server(threads=threads).start()
            try:
                if rnd:
                    self.check_consistent(srv, rooms, observed)
                editors = [Editor(srv.ws_url(), rooms[i % len(rooms)], f"e{i}", seed=rnd * 100 + i) for i in range(6)]

                async def go():
                    stop = asyncio.Event()
                    tasks = [asyncio.create_task(e.run(stop)) for e in editors]
                    await asyncio.sleep(0.8 + 0.1 * rnd)
                    srv.kill()                     # SIGKILL while ops are in flight
                    stop.set()
                    await asyncio.wait_for(asyncio.gather(*tasks), 15)
                asyncio.run(go())
            finally:
                srv.kill()
                srv.log.close()
            acked = 0
            for e in editors:
                self.assertEqual(e.errors, [], f"unexpected errors: {e.errors[:3]}")
                for rev, me in e.acked.items():
                    prev = observed[e.room].get(rev, (None, None))
                    observed[e.room][rev] = (prev[0], me)
                    acked += 1
                for rev, (op, frm) in e.seen.items():
                    prev = observed[e.room].get(rev, (None, None))
                    self.assertIn(prev[1], (None, frm))
                    observed[e.room][rev] = (op, frm)
            self.assertGreater(acked, 10, f"round {rnd}: too few acks to mean anything")
        srv = self.server(threads=1).start()
        try:
            total = self.check_consistent(srv, rooms, observed)
            self.assertGreaterEqual(total, sum(len(v) for v in observed.values()))
            self.assertIn("compacted", srv.output())
        finally:
            srv.stop()


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
            time.sleep(0.2)                        # the room is freed once empty...
            self.assertEqual(srv.get_json("/health")[1]["rooms"], 0)
            asyncio.run(session(srv, 1, "x", ["c0"]))   # ...and its document is still there
            status, info = srv.get_json("/rooms/keep")
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
