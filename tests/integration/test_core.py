"""test_core.py: ringroom's core behaviour through real clients: WebSocket echo on /echo
(python3-websockets as the client, raw frames where a library would refuse to misbehave),
HTTP routes and errors over raw sockets, timeouts, SIGTERM drain and the command line.

Every server is started with harness.Server on a free loopback port and stopped at the end of
its test class (the stop checks the exit code and the sanitizer output). Binary: $RINGROOM_BIN
(default build/ringroom). Runs under Debian's /usr/bin/python3. Whole file: about 30 s on the
ASan build.
"""
import asyncio
import base64
import hashlib
import json
import itertools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import websockets
from websockets.exceptions import ConnectionClosed

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]
TMP = None
_serial = itertools.count()


def setUpModule():
    global TMP
    TMP = tempfile.mkdtemp(prefix="ringroom-core-")


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


def new_server(*args, name="core", env=None):
    """harness.Server with its own empty op log directory (servers run side by side)."""
    e = {"RINGROOM_DATA_DIR": os.path.join(TMP, f"data-{next(_serial)}")}
    e.update(env or {})
    return harness.Server(*args, name=name, env=e)
VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                     3000, 3999, 4000, 4999]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def run(coro, timeout=60):
    """Runs a coroutine with a hard time bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(url, **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("compression", None)
    kw.setdefault("open_timeout", 10)
    kw.setdefault("close_timeout", 5)
    return websockets.connect(url, **kw)


# ---- raw WebSocket and HTTP over sockets ----

class RawWS:
    """A hand-written WebSocket client, for what a library refuses to send."""

    def __init__(self, port, path="/echo", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path.encode(), key))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise AssertionError("closed during handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert base64.b64encode(hashlib.sha1(key + GUID).digest()) in head

    def send_frame(self, op, payload=b"", fin=True, mask=True):
        n = len(payload)
        b0 = (0x80 if fin else 0) | op
        mb = 0x80 if mask else 0
        if n < 126:
            head = bytes([b0, mb | n])
        elif n < 65536:
            head = bytes([b0, mb | 126]) + struct.pack("!H", n)
        else:
            head = bytes([b0, mb | 127]) + struct.pack("!Q", n)
        if mask:
            key = os.urandom(4)
            if n:
                k = (key * (n // 4 + 1))[:n]
                payload = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")
            head += key
        self.sock.sendall(head + payload)

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                return False
            self.buf += d
        return True

    def recv_frame(self, timeout=10):
        """(opcode, payload), or None at EOF."""
        self.sock.settimeout(timeout)
        if not self._need(2):
            return None
        n = self.buf[1] & 0x7F
        hl = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        assert self._need(hl)
        if n == 126:
            n = struct.unpack("!H", self.buf[2:4])[0]
        elif n == 127:
            n = struct.unpack("!Q", self.buf[2:10])[0]
        assert self._need(hl + n)
        op, payload = self.buf[0] & 0x0F, self.buf[hl:hl + n]
        self.buf = self.buf[hl + n:]
        return op, payload

    def recv_close(self, timeout=10):
        """Reads frames until a close; returns its code (None if empty). Fails on EOF first."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if f is None:
                raise AssertionError("EOF without a close frame")
            if f[0] == 8:
                return struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else None

    def at_eof(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def parse_responses(data):
    """Splits a byte stream into [(status, headers dict, body)] using Content-Length."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError(f"incomplete response head: {data[:200]!r}")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        if len(rest) < n:
            raise AssertionError("incomplete response body")
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def http(port, raw, timeout=5):
    """Sends raw request bytes; returns the parsed responses the server sent before closing
    (or before `timeout` with nothing more arriving)."""
    return parse_responses(harness.raw_http(port, raw, timeout=timeout))


def http_one(port, raw, timeout=5):
    """Sends raw request bytes; returns the first complete response (status, headers, body)
    without waiting for the server to close (error answers to a keep-alive request keep the
    connection open)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while True:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if len(rest) >= (int(m.group(1)) if m else 0):
                    return parse_responses(head + sep + rest[:int(m.group(1)) if m else 0])[0]
            d = s.recv(65536)
            if not d:
                raise AssertionError(f"connection closed after {data[:200]!r}")
            data += d


def upgrade_request(key=None, version="13", path="/echo"):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n").encode()


class ServerCase(unittest.TestCase):
    ARGS = ("--threads", "2")
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = new_server(*cls.ARGS, name=f"core-{cls.__name__}").start()

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.stop()

    @property
    def port(self):
        return self.server.port

    def echo_url(self):
        return self.server.ws_url("/echo")


# ---- WebSocket echo ----

class EchoTest(ServerCase):
    ARGS = ("--threads", "2", "--max-conns", "5000")

    def test_echo_text_sizes(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                for n in SIZES:
                    msg = "".join(chr(0x41 + i % 26) for i in range(min(n, 26))) * (n // 26 + 1)
                    msg = msg[:n]
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 20)
                    self.assertIsInstance(got, str, f"size {n}")
                    self.assertEqual(len(got), n)
                    self.assertEqual(got, msg, f"size {n}")
        run(go())

    def test_echo_text_multibyte(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                msg = "κόσμε ✓ 😀 " * 20000
                await ws.send(msg)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 20), msg)
        run(go())

    def test_echo_binary_sizes(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                for n in SIZES:
                    msg = os.urandom(n)
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 20)
                    self.assertIsInstance(got, bytes, f"size {n}")
                    self.assertEqual(got, msg, f"size {n}")
        run(go())

    def test_fragmented_messages(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                await ws.send(["frag", "mented ", "", "κό", "σμε"])
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "fragmented κόσμε")
                parts = [os.urandom(n) for n in (1, 0, 125, 126, 65536, 3)]
                await ws.send(parts)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), b"".join(parts))
                big = [("x" * 1000) for _ in range(1000)]   # 1000 fragments, ~1 MB
                await ws.send(big)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 20), "".join(big))
        run(go())

    def test_fragmented_split_code_point(self):
        # a code point split across fragments (raw frames: the library splits only on str boundaries)
        c = RawWS(self.port)
        try:
            s = "a€😀".encode()
            for i in range(len(s)):
                c.send_frame(1 if i == 0 else 0, s[i:i + 1], fin=i == len(s) - 1)
            self.assertEqual(c.recv_frame(), (1, s))
        finally:
            c.close()

    def test_ping_pong(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                for payload in (b"", b"hello", os.urandom(125)):
                    waiter = await ws.ping(payload)
                    await asyncio.wait_for(waiter, 5)
                # the connection still echoes afterwards
                await ws.send("after pings")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "after pings")
        run(go())

    def test_ping_payload_echoed(self):
        c = RawWS(self.port)
        try:
            c.send_frame(9, b"ping-data")
            self.assertEqual(c.recv_frame(), (10, b"ping-data"))
        finally:
            c.close()

    def test_valid_close_codes_echoed(self):
        async def go(code):
            async with connect(self.echo_url()) as ws:
                await ws.close(code, f"reason {code}")
                self.assertEqual(ws.close_code, code, f"code {code}: server answered {ws.close_code}")
        for code in VALID_CLOSE_CODES:
            with self.subTest(code=code):
                run(go(code), 15)

    def test_close_without_code(self):
        c = RawWS(self.port)
        try:
            c.send_frame(8, b"")
            self.assertIsNone(c.recv_close())
            self.assertTrue(c.at_eof(), "server did not close TCP after the close handshake")
        finally:
            c.close()

    def test_invalid_close_codes(self):
        for code in (0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535):
            with self.subTest(code=code):
                c = RawWS(self.port)
                try:
                    c.send_frame(8, struct.pack("!H", code))
                    self.assertEqual(c.recv_close(), 1002)
                finally:
                    c.close()

    def test_invalid_utf8_closes_1007(self):
        for name, frames in (("one frame", [(1, b"ok \xff ok", True)]),
                             ("surrogate", [(1, b"\xed\xa0\x80", True)]),
                             ("across fragments", [(1, b"abc\xe2", False), (0, b"\x82", False), (0, b"\x41", True)]),
                             ("truncated at the end", [(1, b"abc\xe2\x82", True)])):
            with self.subTest(name):
                c = RawWS(self.port)
                try:
                    for op, p, fin in frames:
                        c.send_frame(op, p, fin)
                    self.assertEqual(c.recv_close(), 1007)
                    self.assertTrue(c.at_eof())
                finally:
                    c.close()

    def test_unmasked_frame_closes_1002(self):
        c = RawWS(self.port)
        try:
            c.send_frame(1, b"not masked", mask=False)
            self.assertEqual(c.recv_close(), 1002)
            self.assertTrue(c.at_eof())
        finally:
            c.close()

    def test_echo_on_each_path_variant(self):
        # /echo with a query string is still /echo; /echo/ is not a WebSocket endpoint
        c = RawWS(self.port, "/echo?x=1")
        try:
            c.send_frame(2, b"\x00\x01")
            self.assertEqual(c.recv_frame(), (2, b"\x00\x01"))
        finally:
            c.close()

    def test_1000_concurrent_connections(self):
        N = 1000

        async def one(i, sem, opened, go_ahead):
            async with sem:
                ws = await connect(self.echo_url(), open_timeout=30)
            opened.append(ws)
            if len(opened) == N:
                go_ahead.set()
            await go_ahead.wait()
            try:
                for k in range(3):
                    msg = f"conn {i} msg {k} " + "x" * (i % 200)
                    await ws.send(msg)
                    got = await asyncio.wait_for(ws.recv(), 30)
                    if got != msg:
                        raise AssertionError(f"conn {i}: got {got[:40]!r}, expected {msg[:40]!r}")
                await ws.send(os.urandom(i % 300) + b"bin")
                await asyncio.wait_for(ws.recv(), 30)
            finally:
                pass
            return ws

        async def go():
            sem = asyncio.Semaphore(100)
            opened, go_ahead = [], asyncio.Event()
            tasks = [asyncio.create_task(one(i, sem, opened, go_ahead)) for i in range(N)]
            await asyncio.wait_for(go_ahead.wait(), 60)
            # all N are open at the same time: /health counts them
            status, health = await asyncio.get_running_loop().run_in_executor(
                None, self.server.get_json, "/health")
            self.assertEqual(status, 200)
            self.assertEqual(health["threads"], 2)
            self.assertGreaterEqual(health["connections"], N)
            results = await asyncio.gather(*tasks, return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
            self.assertEqual(errors, [], f"{len(errors)} connections failed, first: {errors[:1]}")
        run(go(), 120)
        # and they are all gone afterwards
        deadline = time.time() + 10
        while time.time() < deadline:
            _, h = self.server.get_json("/health")
            if h["connections"] <= 1:
                break
            time.sleep(0.1)
        self.assertLessEqual(h["connections"], 1)


class LimitsTest(ServerCase):
    ARGS = ("--threads", "1", "--max-message", "64KiB", "--max-frame", "32KiB")

    def test_oversize_message_closes_1009(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                await ws.send(["a" * 30000, "b" * 30000, "c" * 30000])   # frames fit, the message does not
                with self.assertRaises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                self.assertEqual(ws.close_code, 1009)
        run(go())

    def test_oversize_frame_closes_1009(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                await ws.send(b"z" * 40000)
                with self.assertRaises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
                self.assertEqual(ws.close_code, 1009)
        run(go())

    def test_at_the_limit_echoes(self):
        async def go():
            async with connect(self.echo_url()) as ws:
                await ws.send(["q" * 32768, "r" * 32768])
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10), "q" * 32768 + "r" * 32768)
        run(go())


class BacklogTest(ServerCase):
    ARGS = ("--threads", "1", "--max-backlog", "1MiB")

    def test_slow_reader_closed_1008_others_unaffected(self):
        slow = RawWS(self.port)
        try:
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            payload = os.urandom(200000)
            try:
                for _ in range(100):          # 20 MB of echoes it never reads
                    slow.send_frame(2, payload)
            except OSError:
                pass                          # the server may already have given up on it
            # meanwhile another client on the same core is served normally
            fast = RawWS(self.port)
            try:
                fast.send_frame(1, b"still fine")
                self.assertEqual(fast.recv_frame(), (1, b"still fine"))
            finally:
                fast.close()
            self.assertEqual(slow.recv_close(20), 1008)
        finally:
            slow.close()


# ---- HTTP ----

class HttpTest(ServerCase):
    ARGS = ("--threads", "2")

    def test_health_json(self):
        status, body = self.server.get("/health")
        self.assertEqual(status, 200)
        h = json.loads(body)
        self.assertEqual(h["status"], "ok")
        self.assertIsInstance(h["uptime_s"], int)
        self.assertGreaterEqual(h["uptime_s"], 0)
        self.assertIsInstance(h["connections"], int)
        self.assertGreaterEqual(h["connections"], 1)      # this request's own connection
        self.assertEqual(h["threads"], 2)
        (st, hdrs, _), = http(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("application/json"))

    def test_health_counts_websockets(self):
        async def go():
            async with connect(self.echo_url()), connect(self.echo_url()):
                _, h = await asyncio.get_running_loop().run_in_executor(None, self.server.get_json, "/health")
                self.assertGreaterEqual(h["connections"], 3)
        run(go())

    def test_keepalive_and_pipelining_in_order(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            reqs = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /no-such-thing HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            # pipelined, and split at awkward places
            for i in range(0, len(reqs), 37):
                s.sendall(reqs[i:i + 37])
            data = b""
            statuses = []
            deadline = time.time() + 5
            while len(statuses) < 5 and time.time() < deadline:
                data += s.recv(65536)
                # HEAD has no body although its Content-Length says 92: count status lines
                statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
            self.assertEqual(statuses, [200, 404, 200, 405, 200])
            self.assertNotIn(b"Connection: close", data)
            # still open: one more request on the same connection
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            rest = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                rest += d
            (st, hdrs, body), = parse_responses(rest)
            self.assertEqual(st, 200)
            self.assertEqual(hdrs["connection"], "close")
            self.assertEqual(json.loads(body)["status"], "ok")

    def test_http10_closes(self):
        (st, hdrs, _), = http(self.port, b"GET /health HTTP/1.0\r\n\r\n")
        self.assertEqual(st, 200)
        self.assertEqual(hdrs["connection"], "close")

    def test_400_malformed(self):
        for raw in (b"GARBAGE\r\n\r\n", b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
                    b"GET health HTTP/1.1\r\nHost: x\r\n\r\n"):
            with self.subTest(raw=raw):
                self.assertEqual(http_one(self.port, raw)[0], 400)

    def test_404(self):
        (st, _, body), = http(self.port, b"GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(body)["error"], "not-found")

    def test_405(self):
        (st, hdrs, _), = http(self.port, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                         b"Connection: close\r\n\r\n{}")
        self.assertEqual(st, 405)
        self.assertIn("GET", hdrs.get("allow", ""))
        (st, hdrs, _), = http(self.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                         b"Connection: Upgrade, close\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                         b"Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n")
        self.assertEqual(st, 405)

    def test_413(self):
        st = http_one(self.port, b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)[0]
        self.assertEqual(st, 413)

    def test_431(self):
        big = b"X-Filler: " + b"a" * 9000 + b"\r\n"
        self.assertEqual(http_one(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")[0], 431)
        # also when the head never ends: the server must not wait for more than the limit
        self.assertEqual(http_one(self.port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 10000)[0], 431)

    def test_426_wrong_version(self):
        for version in ("8", "12", "14", "13, 8"):
            with self.subTest(version=version):
                st, hdrs, _ = http_one(self.port, upgrade_request(version=version))
                self.assertEqual(st, 426)
                self.assertEqual(hdrs.get("sec-websocket-version"), "13")

    def test_400_bad_key(self):
        for key in ("", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!", "!!!!!!!!!!!!!!!!!!!!!!==",
                    base64.b64encode(os.urandom(15)).decode(), base64.b64encode(os.urandom(17)).decode()):
            with self.subTest(key=key):
                self.assertEqual(http_one(self.port, upgrade_request(key=key))[0], 400)
        # a request without the key at all
        st = http_one(self.port, b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Version: 13\r\n\r\n")[0]
        self.assertEqual(st, 400)

    def _read_ws_after_101(self, sock, want):
        data = b""
        deadline = time.time() + 5
        while not data.endswith(want) and time.time() < deadline:
            d = sock.recv(65536)
            if not d:
                break
            data += d
        return data

    def test_upgrade_with_frames_in_the_same_segment(self):
        # handshake and the first frames in one send: the frames must not be lost or misparsed
        key = os.urandom(4)
        frame = bytes([0x81, 0x85]) + key + bytes(b ^ key[i & 3] for i, b in enumerate(b"early"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(upgrade_request() + frame)
            data = self._read_ws_after_101(sock, b"\x81\x05early")
        self.assertTrue(data.startswith(b"HTTP/1.1 101"), data[:60])
        self.assertTrue(data.endswith(b"\x81\x05early"), data[-60:])

    def test_pipelined_request_then_upgrade(self):
        key = os.urandom(4)
        frame = bytes([0x82, 0x82]) + key + bytes(b ^ key[i & 3] for i, b in enumerate(b"\x01\x02"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + upgrade_request() + frame)
            data = self._read_ws_after_101(sock, b"\x82\x02\x01\x02")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:60])
        self.assertIn(b"HTTP/1.1 101", data)
        self.assertTrue(data.endswith(b"\x82\x02\x01\x02"), data[-60:])

    def test_upgrade_accept_value(self):
        # RFC 6455's own example key
        data = harness.raw_http(self.port, upgrade_request(key="dGhlIHNhbXBsZSBub25jZQ=="), timeout=1,
                                read_until_close=False)
        self.assertTrue(data.startswith(b"HTTP/1.1 101"), data)
        self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", data)


class TimeoutTest(ServerCase):
    ARGS = ("--threads", "1", "--idle-timeout", "1s", "--handshake-timeout", "500ms")

    def test_handshake_timeout_silent_connection(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            t0 = time.monotonic()
            self.assertEqual(s.recv(100), b"")
            dt = time.monotonic() - t0
            self.assertGreaterEqual(dt, 0.4)
            self.assertLess(dt, 2.0)

    def test_handshake_timeout_partial_request(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
            dt = time.monotonic() - t0
            self.assertTrue(data.startswith(b"HTTP/1.1 408"), data[:80])
            self.assertLess(dt, 2.0)

    def test_keepalive_idle_closes(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"))
            t0 = time.monotonic()
            while s.recv(4096):
                pass
            self.assertLess(time.monotonic() - t0, 2.0)

    def test_idle_websocket_is_pinged_then_closed_1001(self):
        c = RawWS(self.port)
        try:
            t0 = time.monotonic()
            f = c.recv_frame(5)
            self.assertEqual(f[0], 9, f"expected a ping, got {f}")
            t_ping = time.monotonic() - t0
            code = c.recv_close(5)
            t_close = time.monotonic() - t0
            self.assertEqual(code, 1001)
            self.assertTrue(c.at_eof(5))
            # --idle-timeout 1s: a ping after some silence, the close at most ~2 timeouts in
            self.assertGreater(t_ping, 0.3)
            self.assertLess(t_close, 2.6)
        finally:
            c.close()

    def test_active_websocket_survives_idle_timeout(self):
        # the library answers pings: the connection stays open over several idle timeouts
        async def go():
            async with connect(self.echo_url(), ping_interval=None) as ws:
                await asyncio.sleep(3.0)
                await ws.send("still here")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "still here")
        run(go())

    def test_chatty_websocket_is_not_closed(self):
        c = RawWS(self.port)
        try:
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                c.send_frame(1, b"tick")
                while True:
                    op, p = c.recv_frame(5)
                    if op == 9:
                        c.send_frame(10, p)
                        continue
                    self.assertEqual((op, p), (1, b"tick"))
                    break
                time.sleep(0.2)
        finally:
            c.close()


# ---- SIGTERM drain ----

class DrainTest(unittest.TestCase):
    def start(self, *args):
        s = new_server("--threads", "2", *args, name="core-drain")
        s.start()
        self.addCleanup(lambda: s.log.closed or s.log.close())
        self.addCleanup(s.kill)
        return s

    def test_drain_closes_websockets_1001_and_exits_0(self):
        s = self.start("--drain-timeout", "5s")

        async def go():
            clients = [await connect(s.ws_url("/echo")) for _ in range(10)]
            for ws in clients:
                await ws.send("hi")
                self.assertEqual(await ws.recv(), "hi")
            t0 = time.monotonic()
            s.signal(signal.SIGTERM)
            for ws in clients:
                with self.assertRaises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                self.assertEqual(ws.close_code, 1001)
            return t0
        t0 = run(go(), 30)
        code = s.proc.wait(10)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(s.stop(), 0)
        self.assertEqual(code, 0)

    def test_health_503_while_draining_then_exit_within_drain_timeout(self):
        # one thread: every new connection lands on the core that is still draining
        s = self.start("--threads", "1", "--drain-timeout", "3s")
        stuck = RawWS(s.port)               # will not answer the close: keeps the server draining
        try:
            stuck.send_frame(1, b"x")
            self.assertEqual(stuck.recv_frame(), (1, b"x"))
            t0 = time.monotonic()
            s.signal(signal.SIGTERM)
            self.assertEqual(stuck.recv_close(5), 1001)
            status, body = s.get("/health")
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body)["status"], "draining")
            # new WebSocket upgrades are refused while draining
            self.assertEqual(http_one(s.port, upgrade_request())[0], 503)
            s.proc.wait(10)
            dt = time.monotonic() - t0
            self.assertGreater(dt, 2.0, "exited before the drain timeout although a client stayed")
            self.assertLess(dt, 3.0 + 1.5, "did not exit within --drain-timeout")
            self.assertEqual(s.stop(), 0)
        finally:
            stuck.close()

    def test_health_503_on_every_core_while_draining(self):
        """Every core keeps answering 503 until no core has anything left to drain (a core that
        stopped early used to leave its SO_REUSEPORT listener's connections hanging)."""
        s = self.start("--drain-timeout", "8s")
        stuck = RawWS(s.port)
        try:
            stuck.send_frame(1, b"x")
            self.assertEqual(stuck.recv_frame(), (1, b"x"))
            s.signal(signal.SIGTERM)
            self.assertEqual(stuck.recv_close(5), 1001)
            time.sleep(0.2)
            answers = []
            for _ in range(8):
                try:
                    answers.append(s.get("/health", timeout=0.5)[0])
                except OSError as e:
                    answers.append(type(e).__name__)
            self.assertEqual(answers, [503] * 8)
        finally:
            stuck.close()
            s.kill()

    def test_drain_ends_early_when_clients_leave(self):
        s = self.start("--drain-timeout", "10s")
        c = RawWS(s.port)
        try:
            t0 = time.monotonic()
            s.signal(signal.SIGTERM)
            self.assertEqual(c.recv_close(5), 1001)
            c.send_frame(8, struct.pack("!H", 1001))
            self.assertTrue(c.at_eof(5))
        finally:
            c.close()
        s.proc.wait(10)
        self.assertLess(time.monotonic() - t0, 3.0)
        self.assertEqual(s.stop(), 0)

    def test_idle_server_exits_at_once(self):
        s = self.start()
        t0 = time.monotonic()
        self.assertEqual(s.stop(), 0)
        self.assertLess(time.monotonic() - t0, 2.0)


# ---- command line ----

def help_flag_table(help_text):
    """The README's flag table, made from `ringroom --help`: one row per option."""
    rows = ["| flag | default | environment | what it does |", "|---|---|---|---|"]
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (--[a-z-]+)(?: (\S+))?\s{2,}(.*)$", line)
        if not m:
            continue
        flag, hint, what = m.groups()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        d = re.match(r"^\s+default (.*), env (RINGROOM_[A-Z_]+)$", nxt)
        default, env = (f"`{d.group(1)}`", f"`{d.group(2)}`") if d else ("", "")
        what = what.replace("|", "\\|")
        rows.append(f"| `{flag}{' ' + hint if hint else ''}` | {default} | {env} | {what} |")
    return "\n".join(rows) + "\n"


README = os.path.join(harness.ROOT, "README.md")
README_BEGIN = "<!-- flags: generated from `build/ringroom --help` by " \
               "`/usr/bin/python3 tests/integration/test_core.py --readme-flags`; do not edit by hand -->\n"
README_END = "<!-- /flags -->\n"


def update_readme_flags():
    text = subprocess.run([harness.binary(), "--help"], capture_output=True, text=True, check=True).stdout
    with open(README) as f:
        readme = f.read()
    start = readme.index(README_BEGIN) + len(README_BEGIN)
    end = readme.index(README_END, start)
    with open(README, "w") as f:
        f.write(readme[:start] + help_flag_table(text) + readme[end:])



class CommandLineTest(unittest.TestCase):
    def run_bin(self, *args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([harness.binary(), *args], capture_output=True, text=True, timeout=20, env=e)

    def test_help(self):
        r = self.run_bin("--help")
        self.assertEqual(r.returncode, 0)
        for flag in ("--listen", "--threads", "--max-conns", "--max-frame", "--max-message", "--max-backlog",
                     "--idle-timeout", "--handshake-timeout", "--drain-timeout", "RINGROOM_THREADS"):
            self.assertIn(flag, r.stdout)

    def test_readme_flag_table_matches_help(self):
        r = self.run_bin("--help")
        with open(README) as f:
            readme = f.read()
        self.assertIn(README_BEGIN, readme)
        start = readme.index(README_BEGIN) + len(README_BEGIN)
        table = readme[start:readme.index(README_END, start)]
        self.assertEqual(table, help_flag_table(r.stdout),
                         "README.md's flag table is stale: run `/usr/bin/python3 tests/integration/test_core.py --readme-flags`")

    def test_version(self):
        r = self.run_bin("--version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("ringroom "))

    def test_bad_flag_values_exit_2_naming_the_flag(self):
        cases = [(("--threads", "abc"), "--threads"), (("--threads", "-1"), "--threads"),
                 (("--threads", "100000"), "--threads"), (("--max-frame", "12Q"), "--max-frame"),
                 (("--max-message", "0"), "--max-message"), (("--idle-timeout", "5"), "--idle-timeout"),
                 (("--idle-timeout", "1ms"), "--idle-timeout"), (("--listen", "nonsense"), "--listen"),
                 (("--listen", "127.0.0.1:99999"), "--listen"), (("--log-level", "loud"), "--log-level"),
                 (("--max-conns=x",), "--max-conns"), (("--drain-timeout",), "--drain-timeout"),
                 (("--no-such-flag", "1"), "--no-such-flag"), (("--redis", "redis:/x"), "--redis"),
                 (("--redis", "redis://h:0"), "--redis"), (("--redis", "redis://:6379"), "--redis"),
                 (("--redis", "redis://h:6379/x"), "--redis"), (("--presence-ttl", "1ms"), "--presence-ttl"),
                 (("--redis", "redis://127.0.0.1:6379", "--store", "mongodb://127.0.0.1/db"), "--redis")]
        for args, name in cases:
            with self.subTest(args=args):
                r = self.run_bin(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                err = r.stderr.strip()
                self.assertEqual(len(err.splitlines()), 1, f"not one line: {err!r}")
                self.assertIn(name, err)
                self.assertEqual(r.stdout, "")

    def test_bad_env_value_names_the_variable(self):
        r = self.run_bin(env={"RINGROOM_THREADS": "lots"})
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertIn("RINGROOM_THREADS", r.stderr)

    def test_env_sets_option_and_flag_wins(self):
        s = new_server("--threads", "1", name="core-env", env={"RINGROOM_THREADS": "2"})
        s.start()
        try:
            self.assertEqual(s.get_json("/health")[1]["threads"], 1)
        finally:
            s.stop()
        s = new_server(name="core-env", env={"RINGROOM_THREADS": "2"})
        s.start()
        try:
            self.assertEqual(s.get_json("/health")[1]["threads"], 2)
        finally:
            s.stop()

    def test_kill9_leaves_no_shm_file(self):
        """libmongoc's constructor makes /dev/shm/mongoc-<pid> for its counters and only a clean
        exit removed it: every kill -9 leaked one, and a later process with the same pid wrote
        a warning to stderr (it broke the one-line errors above in CI)."""
        s = new_server("--threads", "1", name="core-shm")
        s.start()
        pid = s.proc.pid
        s.kill()
        self.assertFalse(os.path.exists(f"/dev/shm/mongoc-{pid}"), "kill -9 left libmongoc's counters file")


if __name__ == "__main__":
    if sys.argv[1:] == ["--readme-flags"]:
        update_readme_flags()
    else:
        unittest.main()
