"""The MongoDB back end (--store mongodb://..., src/store/mongo.c) against a MongoDB
wire-protocol server that installs here: CongoServer of npm @push.rocks/smartmongo 2.2.0
(tests/mongo/congo.mjs; `npm ci` in tests/mongo, with the never-imported dependencies
replaced by an empty stub package). It is not mongod: it keeps numbers as JavaScript
doubles, and it enforces unique indexes only because congo.mjs hooks Congo's own index
engine into its storage; docs/persistence.md lists what was and was not tested against a
real mongod. The stored documents are read back with pymongo (Debian's python3-pymongo), a client
no one here wrote.

- ops, chat and snapshots land as documents of the documented shape, with the indexes;
- kill -9 while python editors work three rooms, restart (another thread count): every acked
  op is in /history at its revision, each document is the replay of its history, chat comes
  back in `joined`;
- MongoDB goes away: ops are refused with store-unavailable, /health says degraded; it comes
  back (file storage, same port): the op in flight is acked, new ops are acked, nothing lost;
- an unreachable server or a w=0 URI stops the start with a clear message; --store junk is a
  usage error;
- two servers on one database write the same revision of a room: the second is refused with
  a duplicate key and fences the room (store-conflict) until a restart loads the first's op.
"""
import asyncio
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
from harness import Server, free_port  # noqa: E402
import test_persistence  # noqa: E402  (a module: its KillNine is not collected again here)
from test_persistence import (ELEMENT_UPDATES, ELEMENT_WINNERS, apply_op, full_history, history, joined_elements,  # noqa: E402
                              put_elements, replay, utf16_len)
from test_rooms import Client  # noqa: E402

import pymongo  # noqa: E402
import websockets  # noqa: E402

MONGO_DIR = os.path.join(harness.ROOT, "tests", "mongo")


def ensure_congo_installed():
    if not os.path.isdir(os.path.join(MONGO_DIR, "node_modules", "@push.rocks", "smartmongo")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=MONGO_DIR, check=True)


class Congo:
    """A CongoServer process on 127.0.0.1 (memory, or files in `storage` to survive restarts)."""

    def __init__(self, port=None, storage=None):
        self.port = port or free_port()
        self.storage = storage
        self.proc = None

    def start(self):
        args = ["node", "congo.mjs", str(self.port)] + ([self.storage] if self.storage else [])
        self.proc = subprocess.Popen(args, cwd=MONGO_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            raise RuntimeError(f"CongoServer did not start: {line}{self.proc.stdout.read()}")
        self.proc.stdout.close()                  # nothing more is printed but errors
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def uri(self, db):
        return f"mongodb://127.0.0.1:{self.port}/{db}"

    def client(self):
        return pymongo.MongoClient(f"mongodb://127.0.0.1:{self.port}/", serverSelectionTimeoutMS=5000)


class Editor:
    """One python editor alone in its room (concurrent editing with transforms is the
    ringload kill -9 test's: MongoKillNine below): sends an op, waits for its ack, applies it,
    records (rev, op); chats once if asked."""

    def __init__(self, url, room, name, rng):
        self.url, self.room, self.name, self.rng = url, room, name, rng
        self.acked = []            # (rev, op)
        self.errors = []
        self.joined = None

    def next_op(self, doc):
        """Insert a character at a character boundary, sometimes deleting the character there
        (two UTF-16 units for an astral one: a split surrogate pair is refused)."""
        n = utf16_len(doc)
        k = self.rng.randrange(len(doc) + 1)
        pos = utf16_len(doc[:k])
        delete = utf16_len(doc[k]) if k < len(doc) and self.rng.random() < .3 else 0
        op = [pos] if pos else []
        op.append(self.rng.choice(["a", "é", "\U0001F600", "\"", "z"]))
        if delete:
            op.append(-delete)
        if n - pos - delete:
            op.append(n - pos - delete)
        return op

    async def run(self, stop, count=None, chat=None):
        try:
            async with websockets.connect(self.url, open_timeout=5) as ws:
                await ws.send(json.dumps({"type": "join", "room": self.room, "user": {"id": self.name}}))
                self.joined = json.loads(await ws.recv())
                assert self.joined["type"] == "joined", self.joined
                rev, doc = self.joined["rev"], self.joined["doc"]
                if chat:
                    await ws.send(json.dumps({"type": "chat", "text": chat}))
                while not stop.is_set() and (count is None or len(self.acked) < count):
                    op = self.next_op(doc)
                    await ws.send(json.dumps({"type": "op", "rev": rev, "op": op}))
                    while True:
                        m = json.loads(await ws.recv())
                        if m["type"] == "ack":
                            assert m["rev"] == rev + 1, (m, rev)
                            rev, doc = m["rev"], apply_op(doc, op)
                            self.acked.append((rev, op))
                            break
                        if m["type"] == "error":
                            self.errors.append(m)
                            await asyncio.sleep(0.05)
                            break
        except (websockets.ConnectionClosed, OSError):
            pass


class MongoBase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        ensure_congo_installed()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ringroom-mongo-")
        self.congo = None
        self.db = f"rr{random.randrange(1 << 30)}"

    def tearDown(self):
        if self.congo:
            self.congo.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def server(self, *args, threads=2):
        return Server("--store", self.congo.uri(self.db), "--threads", str(threads), "--fsync-interval", "5ms",
                      *args, name="mongo")

    def check_rooms(self, srv, acked):
        """Every acked (rev, op) of each room is in /history in order; the document is the
        replay of the history. Returns the number of ops checked."""
        n = 0
        for room, ops in acked.items():
            rev, hist = full_history(srv, room)
            self.assertEqual([o["rev"] for o in hist], list(range(1, rev + 1)), room)
            for r, op in ops:
                self.assertLessEqual(r, rev, f"{room}: acked rev {r} lost (history ends at {rev})")
                self.assertEqual(hist[r - 1]["op"], op, f"{room}@{r}")
                n += 1
            status, info = srv.get_json(f"/rooms/{room}")
            self.assertEqual(status, 200)
            self.assertEqual((info["rev"], info["doc"]), (rev, replay(hist)), room)
        return n


class MongoStore(MongoBase):
    def test_documents_and_kill9(self):
        self.congo = Congo().start()
        rooms = [f"m-{k}" for k in range(4)]
        acked = {r: [] for r in rooms}
        rng = random.Random(7)
        for rnd in range(3):
            srv = self.server("--snapshot-every", "25", threads=2 + rnd % 2)
            srv.start()
            editors = [Editor(srv.ws_url(), r, f"e{rnd}{k}", rng) for k, r in enumerate(rooms)]

            async def work():
                stop = asyncio.Event()
                tasks = [asyncio.create_task(e.run(stop, chat=f"round {rnd} in {e.room}")) for e in editors]
                deadline = time.time() + 20
                while sum(len(e.acked) for e in editors) < 120 and time.time() < deadline:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(rng.uniform(0, 0.2))
                srv.kill()                          # SIGKILL with ops in flight
                srv.log.close()
                stop.set()
                await asyncio.wait(tasks, timeout=10)
            asyncio.run(work())
            for e in editors:
                self.assertEqual(e.errors, [], e.errors)
                self.assertGreater(len(e.acked), 0, f"{e.room}: no acks in round {rnd}")
                acked[e.room] += e.acked
                if rnd:                               # the chat of earlier rounds is in `joined`
                    texts = [c["text"] for c in e.joined.get("chat", [])]
                    self.assertIn(f"round {rnd - 1} in {e.room}", texts)
            out = srv.output()
            for marker in harness.SANITIZER_MARKERS:
                self.assertNotIn(marker, out, out[-4000:])
        # A kill between a snapshot's insert and the delete of the older ones leaves those
        # behind; the next start deletes them. Leave one behind on purpose so that path runs.
        db = self.congo.client()[self.db]
        newest = db.snapshots.find_one({"room": rooms[0]}, sort=[("rev", -1)])
        self.assertIsNotNone(newest, "no snapshot written")
        stale = {k: v for k, v in newest.items() if k != "_id"}
        stale["rev"] = min(s["rev"] for s in db.snapshots.find({"room": rooms[0]})) - 1
        db.snapshots.insert_one(stale)
        with self.server(threads=1) as srv:
            total = self.check_rooms(srv, acked)
        self.assertIn(f"mongodb: {rooms[0]}: deleted", srv.output())
        print(f"mongo kill9: 3 rounds, {total} acked ops, all in /history", file=sys.stderr)
        # what MongoDB holds, read with pymongo
        self.assertEqual(set(db.list_collection_names()) >= {"ops", "snapshots", "chat"}, True)
        ix = db.ops.index_information()
        self.assertTrue(any(v.get("unique") and [k for k, _ in v["key"]] == ["room", "rev"] for v in ix.values()), ix)
        ix = db.chat.index_information()
        self.assertTrue(any(v.get("unique") and [k for k, _ in v["key"]] == ["room", "seq"] for v in ix.values()), ix)
        for room, ops in acked.items():
            for r, op in ops:
                d = db.ops.find_one({"room": room, "rev": r})
                self.assertIsNotNone(d, f"{room}@{r} not in MongoDB")
                self.assertEqual(d["op"], op)
                self.assertIsInstance(d["from"], str)
                self.assertGreater(d["ts"], 1.7e12)
            snaps = list(db.snapshots.find({"room": room}))
            self.assertEqual(len(snaps), 1, "older snapshots are deleted")
            s = snaps[0]
            _, hist = full_history_from(db, room)
            self.assertEqual(s["doc"], replay(hist[:int(s["rev"])]), f"{room}: snapshot at {s['rev']}")
            chats = list(db.chat.find({"room": room}).sort("seq", 1))
            self.assertEqual([json.loads(c["msg"])["text"] for c in chats], [f"round {k} in {room}" for k in range(3)])

    def test_elements(self):
        """Canvas element winners are upserted into `elements` (one document per room and id)
        and come back in `joined` after kill -9 and a restart."""
        self.congo = Congo().start()
        srv = self.server().start()
        try:
            asyncio.run(put_elements(srv, "canvas", ELEMENT_UPDATES, durable=True))
        finally:
            srv.kill()
            srv.log.close()
        with self.server(threads=3) as srv:
            self.assertEqual(asyncio.run(joined_elements(srv, "canvas")), ELEMENT_WINNERS)
        db = self.congo.client()[self.db]
        docs = {d["id"]: d for d in db.elements.find({"room": "canvas"})}
        self.assertEqual({k: (int(d["version"]), json.loads(d["element"])["properties"]["color"])
                          for k, d in docs.items()}, ELEMENT_WINNERS)
        self.assertEqual(int(docs["c"]["nonce"]), 3)
        ix = db.elements.index_information()
        self.assertTrue(any(v.get("unique") and [k for k, _ in v["key"]] == ["room", "id"] for v in ix.values()), ix)

    def test_mongo_outage(self):
        self.congo = Congo(storage=os.path.join(self.dir, "congo")).start()
        rng = random.Random(11)
        with self.server() as srv:
            ed = Editor(srv.ws_url(), "outage", "e1", rng)

            async def scenario():
                stop = asyncio.Event()
                await ed.run(stop, count=10)
                self.assertEqual(len(ed.acked), 10)
                self.congo.stop()
                # ops are refused once a write failed; the op whose write failed waits
                async with websockets.connect(srv.ws_url()) as ws:
                    await ws.send(json.dumps({"type": "join", "room": "outage"}))
                    j = json.loads(await ws.recv())
                    rev, doc = j["rev"], j["doc"]
                    await ws.send(json.dumps({"type": "op", "rev": rev, "op": [utf16_len(doc), "!"]}))
                    refused = None
                    deadline = time.time() + 30
                    while refused is None and time.time() < deadline:
                        await asyncio.sleep(0.3)
                        await ws.send(json.dumps({"type": "op", "rev": rev + 1, "op": [utf16_len(doc) + 1, "?"]}))
                        m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                        self.assertNotEqual(m["type"], "ack", "acked while MongoDB is down")
                        if m["type"] == "error":
                            self.assertEqual(m["code"], "store-unavailable", m)
                            refused = m
                    self.assertIsNotNone(refused, "ops were not refused with MongoDB down")
                    status, h = srv.get_json("/health")
                    self.assertEqual(h["status"], "degraded", h)
                    self.congo.start()               # same port, same files
                    m = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    self.assertEqual((m["type"], m["rev"]), ("ack", rev + 1), m)
                    ed.acked.append((rev + 1, [utf16_len(doc), "!"]))
                    await ws.send(json.dumps({"type": "op", "rev": rev + 1, "op": [utf16_len(doc) + 1, "?"]}))
                    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    self.assertEqual((m["type"], m["rev"]), ("ack", rev + 2), m)
                    ed.acked.append((rev + 2, [utf16_len(doc) + 1, "?"]))
                    status, h = srv.get_json("/health")
                    self.assertEqual(h["status"], "ok", h)
            asyncio.run(scenario())
            self.assertIn("refusing ops", srv.output())
        with self.server() as srv:
            self.assertEqual(self.check_rooms(srv, {"outage": ed.acked}), 12)

    def test_start_errors(self):
        port = free_port()                       # nobody listens there
        t0 = time.time()
        p = subprocess.run([harness.binary(), "--listen", f"127.0.0.1:{free_port()}",
                            "--store", f"mongodb://127.0.0.1:{port}/x?serverSelectionTimeoutMS=500"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("ping", p.stderr)
        self.assertLess(time.time() - t0, 15)
        p = subprocess.run([harness.binary(), "--store", "mongodb://127.0.0.1:1/x?w=0"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("w=0", p.stderr)
        p = subprocess.run([harness.binary(), "--store", "postgres://x"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("expected embedded or a mongodb:// URI", p.stderr)
        p = subprocess.run([harness.binary(), "--store", "mongodb://u:secret@127.0.0.1:1/x?w=0"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotIn("secret", p.stderr)


class MongoFencing(MongoBase):
    def test_two_writers_one_room(self):
        """Two servers on one database, neither knowing the other (no Redis link): A commits
        revision 1 of a room, then B, still at revision 0, commits its own revision 1. MongoDB
        refuses B's insert (duplicate key on (room, rev), which congo.mjs enforces as mongod
        does): B fences the room: its editor gets store-conflict instead of an ack, B's other
        editor never sees the op, a later op is refused at once, B's /history does not claim it;
        MongoDB holds A's op only. A restart of B loads A's revision and B edits again."""
        self.congo = Congo().start()

        async def a_commits(a):
            alice = await Client.connect(a, "shared", "alice")
            self.assertEqual(alice.joined["rev"], 0)
            await alice.send({"type": "op", "rev": 0, "op": ["from A"]})
            self.assertEqual(await alice.recv_type("ack"), {"type": "ack", "rev": 1})
            await alice.close()

        async def b_conflicts(b):
            watcher = await Client.connect(b, "shared", "watcher")
            bob = await Client.connect(b, "shared", "bob")
            self.assertEqual(bob.joined["rev"], 0, "B does not know A's revision")
            m = await bob.error({"type": "op", "rev": 0, "op": ["from B"]}, timeout=10)
            self.assertEqual(m.get("code"), "store-conflict", m)
            m = await bob.error({"type": "op", "rev": 0, "op": ["again"]})
            self.assertEqual(m.get("code"), "store-conflict", m)
            with self.assertRaises(asyncio.TimeoutError):       # the op was never broadcast
                await watcher.recv_type("op", timeout=0.5)
            await bob.close()
            await watcher.close()

        async def b_edits(b):
            bob = await Client.connect(b, "shared", "bob")
            self.assertEqual((bob.joined["rev"], bob.joined["doc"]), (1, "from A"))
            await bob.send({"type": "op", "rev": 1, "op": [6, "+B"]})
            self.assertEqual(await bob.recv_type("ack"), {"type": "ack", "rev": 2})
            await bob.close()

        with self.server(threads=1) as a, self.server(threads=1) as b:
            asyncio.run(a_commits(a))
            asyncio.run(b_conflicts(b))
            status, h = b.get_json("/history/shared")
            self.assertEqual((status, h["rev"], h["ops"]), (200, 0, []), h)
            self.assertIn("the room is fenced", b.output())
        db = self.congo.client()[self.db]
        self.assertEqual([(d["rev"], d["op"]) for d in db.ops.find({"room": "shared"})], [(1, ["from A"])])
        with self.server(threads=1) as b:
            asyncio.run(b_edits(b))
            self.assertEqual([o["op"] for o in history(b, "shared")["ops"]], [["from A"], [6, "+B"]])


class MongoKillNine(test_persistence.KillNine):
    """The ringload kill -9 test (test_persistence.KillNine: every op any editor saw acked or
    received is in /history after the restart, byte for byte) with the MongoDB back end."""
    EXTRA = ("--snapshot-every", "50", "--history-window", "100000", "--fsync-interval", "5ms")
    FINAL_LOG = "mongodb: loaded"
    PREFIX = "mk9-"

    @classmethod
    def setUpClass(cls):
        ensure_congo_installed()

    def setUp(self):
        super().setUp()
        self.congo = Congo().start()

    def tearDown(self):
        self.congo.stop()
        super().tearDown()

    def server(self, *args, threads=2):
        return Server("--store", self.congo.uri("kill9"), "--threads", str(threads), *self.EXTRA, *args,
                      name="mongo-kill9")


def full_history_from(db, room):
    ops = [{"rev": int(d["rev"]), "op": [int(x) if isinstance(x, float) else x for x in d["op"]]}
           for d in db.ops.find({"room": room}).sort("rev", 1)]
    return (ops[-1]["rev"] if ops else 0), ops


if __name__ == "__main__":
    unittest.main()
