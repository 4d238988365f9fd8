#!/usr/bin/python3
"""tests/conformance/run.py: raw-socket RFC 6455 conformance suite for ringroom's /echo.

Autobahn|Testsuite cannot run here (no Docker, no Python 2), so this follows its case list
(1.x-7.x, 9.x with bounded sizes, 10.x) with frames written by hand: every client frame is
masked with a random key, and the bytes of each case go out in random TCP splits (some cases
byte by byte), so the server's parser is exercised independently of segmentation. Section
"R" holds ringroom's own traps from docs/protocol.md (64-bit length with the top bit set, --max-frame
and --max-message limits -> 1009, unmasked frames, the full set of close codes).

Each case checks what comes back: echoed messages, pongs, the close code (1002 protocol
error, 1007 invalid UTF-8, 1009 too big, or the echoed code of a valid close) and that the
server then closes the TCP connection. Fail-fast cases check that the server closes *before*
the rest of the message is sent.

Usage:
    RINGROOM_BIN=build/asan/ringroom /usr/bin/python3 tests/conformance/run.py [options]
      --seed N         random seed for masks and TCP splits (default: random, printed)
      --only PREFIX    run only cases whose id starts with PREFIX (repeatable)
      --markdown       rewrite tests/conformance/CASES.md from this run
      --list           print the case list and exit
      -v               print every case as it runs
Exit code: 0 if every case passed, 1 otherwise. A table of results is printed at the end.
"""
import argparse
import base64
import hashlib
import os
import random
import shutil
import socket
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402

RNG = random.Random()
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OPNAME = {0: "cont", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}

# How long to wait for something that should come back, and how long "nothing arrives" lasts.
REPLY_TIMEOUT = 10.0
QUIET = 0.25
# Limits of the second server (section R): small, so 1009 is cheap to provoke.
LIMIT_FRAME = 32 * 1024
LIMIT_MESSAGE = 64 * 1024

KB, MB = 1024, 1024 * 1024


class CaseFailed(Exception):
    pass


def mask_bytes(data, key):
    """XOR with a 4-byte key; big-int trick keeps multi-MiB payloads fast in Python."""
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def frame(op, payload=b"", fin=True, rsv=0, mask=True, length=None, len_form=None):
    """One client frame. `length` overrides the encoded length (the payload is still sent);
    `len_form` forces the 7/16/64-bit length encoding."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (op & 0x0F)
    mbit = 0x80 if mask else 0
    form = len_form or (7 if n < 126 else 16 if n < 65536 else 64)
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = bytes(RNG.getrandbits(8) for _ in range(4))
    return head + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Conn:
    """A raw WebSocket client connection to /echo."""

    def __init__(self, port, path="/echo"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        key = base64.b64encode(os.urandom(16))
        req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port +
               b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
               b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req)
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise CaseFailed("connection closed during the handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 101"):
            raise CaseFailed(f"handshake answered {lines[0]!r}")
        want = base64.b64encode(hashlib.sha1(key + GUID).digest())
        hdrs = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in lines[1:])}
        if hdrs.get(b"sec-websocket-accept") != want:
            raise CaseFailed(f"bad Sec-WebSocket-Accept {hdrs.get(b'sec-websocket-accept')!r}")
        self.sent_close = False

    # ---- sending ----
    def send(self, data, chop="random"):
        """chop: 'random' (random TCP splits), 'whole', 1 (octet-wise) or an int chunk size."""
        try:
            if chop == "whole" or len(data) == 0:
                self.sock.sendall(data)
                return
            i = 0
            while i < len(data):
                if chop == "random":
                    n = RNG.choice((1, 2, 3, 7, 13, 64, 500, 1400, 4096, 65536, 1 << 20))
                else:
                    n = chop
                self.sock.sendall(data[i:i + n])
                i += n
                if chop == 1 and i % 16 == 0:
                    time.sleep(0.0005)       # let some single octets reach the server alone
        except (BrokenPipeError, ConnectionResetError) as e:
            raise CaseFailed(f"send failed: {e}")

    def send_frames(self, frames, chop="random", pause=0.0):
        """chop='frame': each frame in its own send; otherwise all frames as one byte stream."""
        if chop == "frame":
            for f in frames:
                self.send(f, "whole")
                if pause:
                    time.sleep(pause)
        else:
            self.send(b"".join(frames), chop)

    # ---- receiving ----
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 20)
            except ConnectionResetError:
                d = b""
            if not d:
                self.eof = True
                return False
            self.buf += d
        return True

    def recv_frame(self, timeout=REPLY_TIMEOUT):
        """Returns (fin, rsv, op, payload), None on EOF; raises socket.timeout."""
        deadline = time.monotonic() + timeout
        if not self._fill(2, deadline):
            if self.buf:
                raise CaseFailed(f"EOF inside a frame header ({self.buf.hex()})")
            return None
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise CaseFailed("server frame is masked")
        n = b1 & 0x7F
        hl = 2 + (2 if n == 126 else 8 if n == 127 else 0)
        if not self._fill(hl, deadline):
            raise CaseFailed("EOF inside a frame header")
        if n == 126:
            n = struct.unpack("!H", self.buf[2:4])[0]
        elif n == 127:
            n = struct.unpack("!Q", self.buf[2:10])[0]
        if not self._fill(hl + n, deadline):
            raise CaseFailed(f"EOF inside a frame payload ({len(self.buf) - hl} of {n} bytes)")
        payload = self.buf[hl:hl + n]
        self.buf = self.buf[hl + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def next_frame(self, what, timeout=REPLY_TIMEOUT):
        try:
            f = self.recv_frame(timeout)
        except socket.timeout:
            raise CaseFailed(f"timeout waiting for {what}")
        if f is None:
            raise CaseFailed(f"EOF while waiting for {what}")
        fin, rsv, op, payload = f
        if rsv:
            raise CaseFailed(f"server frame with RSV bits {rsv}")
        if op in (OP_CLOSE, OP_PING, OP_PONG) and (not fin or len(payload) > 125):
            raise CaseFailed("server sent an invalid control frame")
        return fin, op, payload

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def short(b, n=24):
    if isinstance(b, str):
        b = b.encode()
    h = b[:n].hex()
    return f"{h}{'...' if len(b) > n else ''} ({len(b)} B)"


# ---- expectations ----

def expect_message(c, op, payload, timeout=REPLY_TIMEOUT):
    """The next data message (server frames may be fragmented) must be op/payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    parts, first = [], None
    while True:
        fin, fop, data = c.next_frame(f"echo of {OPNAME[op]} {short(payload)}", timeout)
        if fop == OP_CLOSE:
            raise CaseFailed(f"got close {describe_close(data)} instead of the echo of {OPNAME[op]} "
                             f"{short(payload)}")
        if fop in (OP_PING, OP_PONG):
            raise CaseFailed(f"got {OPNAME[fop]} {short(data)} instead of the echo")
        if first is None:
            if fop == OP_CONT:
                raise CaseFailed("server sent a continuation frame first")
            first = fop
        elif fop != OP_CONT:
            raise CaseFailed("server started a new message inside a fragmented one")
        parts.append(data)
        if fin:
            break
    got = b"".join(parts)
    if first != op:
        raise CaseFailed(f"echo opcode {OPNAME.get(first, first)}, expected {OPNAME[op]}")
    if got != payload:
        raise CaseFailed(f"echo differs: got {short(got)}, expected {short(payload)}")


def expect_pong(c, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    fin, op, data = c.next_frame(f"pong {short(payload)}")
    if op != OP_PONG:
        raise CaseFailed(f"got {OPNAME.get(op, op)} {short(data)}"
                         f"{' ' + describe_close(data) if op == OP_CLOSE else ''} instead of pong {short(payload)}")
    if data != payload:
        raise CaseFailed(f"pong payload {short(data)}, expected {short(payload)}")


def describe_close(data):
    if len(data) >= 2:
        code = struct.unpack("!H", data[:2])[0]
        return f"[{code} {data[2:].decode('utf-8', 'replace')!r}]"
    return f"[{data.hex() or 'empty'}]"


def expect_nothing(c, t=QUIET):
    """Nothing arrives within t seconds (and the connection stays open)."""
    try:
        f = c.recv_frame(t)
    except socket.timeout:
        return
    if f is None:
        raise CaseFailed("connection closed; expected it to stay open")
    fin, rsv, op, payload = f
    extra = " " + describe_close(payload) if op == OP_CLOSE else ""
    raise CaseFailed(f"unexpected {OPNAME.get(op, op)} frame {short(payload)}{extra}")


def expect_close(c, codes, allow_empty=False, timeout=REPLY_TIMEOUT, reply=True):
    """The server closes with one of `codes` (None in codes: an empty close payload), then
    closes TCP. Frames other than close before it fail the case."""
    fin, op, data = c.next_frame(f"close {codes}", timeout)
    if op != OP_CLOSE:
        raise CaseFailed(f"got {OPNAME.get(op, op)} {short(data)} instead of close {codes}")
    if len(data) == 0:
        if not allow_empty:
            raise CaseFailed(f"close without a status code, expected {codes}")
    else:
        if len(data) == 1:
            raise CaseFailed("close payload of 1 byte")
        code = struct.unpack("!H", data[:2])[0]
        if code not in codes:
            raise CaseFailed(f"close code {code} ({data[2:].decode('utf-8', 'replace')!r}), expected {codes}")
        try:
            data[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise CaseFailed("server close reason is not UTF-8")
    if reply and not c.sent_close:
        try:
            c.send(frame(OP_CLOSE, data[:2]), "whole")
        except CaseFailed:
            pass                       # the server may already have gone: fine after its close
    expect_eof(c)


def expect_eof(c, timeout=REPLY_TIMEOUT):
    """After the close handshake the server closes the TCP connection; nothing else arrives."""
    try:
        f = c.recv_frame(timeout)
    except socket.timeout:
        raise CaseFailed("server did not close TCP after the close handshake")
    if f is not None:
        raise CaseFailed(f"frame {OPNAME.get(f[2], f[2])} {short(f[3])} after close")


def close_normally(c, chop="random"):
    """Client-initiated close 1000: the server echoes 1000 and closes TCP."""
    c.send(frame(OP_CLOSE, close_payload(1000)), chop)
    c.sent_close = True
    expect_close(c, [1000])


def fail_close(c, code, timeout=REPLY_TIMEOUT):
    expect_close(c, [code], timeout=timeout)


# ---- the cases ----

CASES = []   # (id, description, expectation, function(conn), server 'main'|'limits')


def case(cid, desc, expect, server="main"):
    def deco(fn):
        CASES.append((cid, desc, expect, fn, server))
        return fn
    return deco


def text_payload(n):
    # printable ASCII with some variety, deterministic per size
    pat = b"Hello, ringroom! *~0123456789abcdefghijklmnopqrstuvwxyz~* "
    return (pat * (n // len(pat) + 1))[:n]


def bin_payload(n):
    r = random.Random(n)
    return r.randbytes(n)


def echo_case(op, payload, chop="random"):
    def fn(c):
        c.send(frame(op, payload), chop)
        expect_message(c, op, payload)
        close_normally(c)
    return fn


# 1.x framing: text and binary messages of boundary lengths
_sizes = [(1, 0), (2, 125), (3, 126), (4, 127), (5, 128), (6, 65535), (7, 65536)]
for _sec, _op, _pl, _name in ((1, OP_TEXT, text_payload, "text"), (2, OP_BINARY, bin_payload, "binary")):
    for _k, _n in _sizes:
        case(f"1.{_sec}.{_k}", f"{_name} message, payload {_n} B (random TCP splits)",
             "echoed, then clean close 1000")(echo_case(_op, _pl(_n)))
    case(f"1.{_sec}.8", f"{_name} message, payload 65536 B, sent in chops of 997 octets",
         "echoed, then clean close 1000")(echo_case(_op, _pl(65536), 997))


# 2.x pings and pongs
def _ping_case(payload, chop="random"):
    def fn(c):
        c.send(frame(OP_PING, payload), chop)
        expect_pong(c, payload)
        close_normally(c)
    return fn


case("2.1", "ping, no payload", "pong, no payload")(_ping_case(b""))
case("2.2", "ping, small text payload", "pong echoes the payload")(_ping_case(b"Hello, world!"))
case("2.3", "ping, small binary payload", "pong echoes the payload")(_ping_case(bytes([0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])))
case("2.4", "ping, 125 B binary payload", "pong echoes the payload")(_ping_case(bytes([0xfe]) * 125))


@case("2.5", "ping with 126 B payload (control frames are at most 125 B)", "close 1002")
def _c2_5(c):
    c.send(frame(OP_PING, bytes([0xfe]) * 126))
    fail_close(c, 1002)


case("2.6", "ping, 125 B payload, sent octet by octet", "pong echoes the payload")(_ping_case(bytes([0xfe]) * 125, 1))


@case("2.7", "unsolicited pong, no payload", "nothing; clean close 1000")
def _c2_7(c):
    c.send(frame(OP_PONG))
    expect_nothing(c)
    close_normally(c)


@case("2.8", "unsolicited pong with payload", "nothing; clean close 1000")
def _c2_8(c):
    c.send(frame(OP_PONG, b"unsolicited pong payload"))
    expect_nothing(c)
    close_normally(c)


@case("2.9", "unsolicited pong, then ping with payload", "only the pong for the ping")
def _c2_9(c):
    c.send(frame(OP_PONG, b"unsolicited pong payload") + frame(OP_PING, b"ping payload"))
    expect_pong(c, b"ping payload")
    close_normally(c)


def _ten_pings(chop):
    def fn(c):
        pays = [f"payload-{i}".encode() for i in range(10)]
        c.send(b"".join(frame(OP_PING, p) for p in pays), chop)
        for p in pays:
            expect_pong(c, p)
        close_normally(c)
    return fn


case("2.10", "10 pings with payloads, back to back", "10 pongs, in order")(_ten_pings("random"))
case("2.11", "10 pings with payloads, octet by octet", "10 pongs, in order")(_ten_pings(1))


# 3.x reserved bits
@case("3.1", "text with RSV1 set", "close 1002")
def _c3_1(c):
    c.send(frame(OP_TEXT, b"Hello, world!", rsv=4))
    fail_close(c, 1002)


def _rsv_after_valid(rsv, chop, pause=0.0):
    def fn(c):
        c.send_frames([frame(OP_TEXT, b"Hello, world!"), frame(OP_TEXT, b"Hello, world!", rsv=rsv),
                       frame(OP_PING, b"")], chop, pause)
        expect_message(c, OP_TEXT, b"Hello, world!")
        fail_close(c, 1002)            # and no pong: the ping came after the bad frame
    return fn


case("3.2", "text, then text with RSV2, then ping (frame-wise sends)", "echo of the first; close 1002; no pong")(_rsv_after_valid(2, "frame", 0.05))
case("3.3", "text, then text with RSV3, then ping (one send)", "echo of the first; close 1002; no pong")(_rsv_after_valid(1, "whole"))
case("3.4", "text, then text with RSV1|RSV2, then ping (octet-wise)", "echo of the first; close 1002; no pong")(_rsv_after_valid(6, 1))


@case("3.5", "binary with RSV1|RSV3", "close 1002")
def _c3_5(c):
    c.send(frame(OP_BINARY, bytes(range(8)), rsv=5))
    fail_close(c, 1002)


@case("3.6", "ping with RSV2|RSV3", "close 1002 (no pong)")
def _c3_6(c):
    c.send(frame(OP_PING, b"Hello, world!", rsv=3))
    fail_close(c, 1002)


@case("3.7", "close 1000 with all RSV bits set", "close 1002")
def _c3_7(c):
    c.send(frame(OP_CLOSE, close_payload(1000), rsv=7))
    fail_close(c, 1002)


# 4.x reserved opcodes
def _reserved_op(op, after_valid, payload, chop="random"):
    def fn(c):
        if not after_valid:
            c.send(frame(op, payload), chop)
            fail_close(c, 1002)
            return
        c.send_frames([frame(OP_TEXT, b"Hello, world!"), frame(op, payload), frame(OP_PING, b"")], chop)
        expect_message(c, OP_TEXT, b"Hello, world!")
        fail_close(c, 1002)
    return fn


for _sub, _ops in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
    _kind = "non-control" if _sub == 1 else "control"
    _o = _ops
    case(f"4.{_sub}.1", f"frame with reserved {_kind} opcode {_o[0]}, empty", "close 1002")(_reserved_op(_o[0], False, b""))
    case(f"4.{_sub}.2", f"frame with reserved {_kind} opcode {_o[1]}, with payload", "close 1002")(_reserved_op(_o[1], False, b"reserved opcode payload"))
    case(f"4.{_sub}.3", f"text, reserved opcode {_o[2]}, ping", "echo of the text; close 1002; no pong")(_reserved_op(_o[2], True, b""))
    case(f"4.{_sub}.4", f"text, reserved opcode {_o[3]} with payload, ping", "echo of the text; close 1002; no pong")(_reserved_op(_o[3], True, b"reserved opcode payload"))
    case(f"4.{_sub}.5", f"text, reserved opcode {_o[4]} with payload, ping (octet-wise)", "echo of the text; close 1002; no pong")(_reserved_op(_o[4], True, b"reserved opcode payload", 1))


# 5.x fragmentation
@case("5.1", "ping fragmented into 2 frames", "close 1002")
def _c5_1(c):
    c.send(frame(OP_PING, b"fragment1", fin=False) + frame(OP_CONT, b"fragment2"))
    fail_close(c, 1002)


@case("5.2", "pong fragmented into 2 frames", "close 1002")
def _c5_2(c):
    c.send(frame(OP_PONG, b"fragment1", fin=False) + frame(OP_CONT, b"fragment2"))
    fail_close(c, 1002)


def _two_frag(chop, ping=False, pause=0.0):
    def fn(c):
        fr = [frame(OP_TEXT, b"fragment1", fin=False)]
        if ping:
            fr.append(frame(OP_PING, b"pongme!"))
        fr.append(frame(OP_CONT, b"fragment2"))
        c.send_frames(fr, chop, pause)
        if ping:
            expect_pong(c, b"pongme!")
        expect_message(c, OP_TEXT, b"fragment1fragment2")
        close_normally(c)
    return fn


case("5.3", "text in 2 fragments (one send)", "echo of the whole message")(_two_frag("whole"))
case("5.4", "text in 2 fragments, frame-wise sends", "echo of the whole message")(_two_frag("frame", pause=0.05))
case("5.5", "text in 2 fragments, octet-wise", "echo of the whole message")(_two_frag(1))
case("5.6", "text in 2 fragments with a ping in between (one send)", "pong at once, then the echo")(_two_frag("whole", True))
case("5.7", "text in 2 fragments with a ping in between, frame-wise", "pong at once, then the echo")(_two_frag("frame", True, 0.05))
case("5.8", "text in 2 fragments with a ping in between, octet-wise", "pong at once, then the echo")(_two_frag(1, True))


def _cont_nothing(fin, chop):
    def fn(c):
        c.send_frames([frame(OP_CONT, b"non-continuation payload", fin=fin),
                       frame(OP_TEXT, b"Hello, world!")], chop, 0.05 if chop == "frame" else 0)
        fail_close(c, 1002)
    return fn


case("5.9", "continuation (FIN) with nothing to continue, then text (one send)", "close 1002, no echo")(_cont_nothing(True, "whole"))
case("5.10", "same as 5.9, frame-wise", "close 1002, no echo")(_cont_nothing(True, "frame"))
case("5.11", "same as 5.9, octet-wise", "close 1002, no echo")(_cont_nothing(True, 1))
case("5.12", "continuation (no FIN) with nothing to continue, then text (one send)", "close 1002, no echo")(_cont_nothing(False, "whole"))
case("5.13", "same as 5.12, frame-wise", "close 1002, no echo")(_cont_nothing(False, "frame"))
case("5.14", "same as 5.12, octet-wise", "close 1002, no echo")(_cont_nothing(False, 1))


@case("5.15", "text in 2 fragments, then continuation (no FIN) with nothing to continue, then text",
      "echo of the first message; close 1002")
def _c5_15(c):
    c.send(frame(OP_TEXT, b"fragment1", fin=False) + frame(OP_CONT, b"fragment2") +
           frame(OP_CONT, b"fragment3", fin=False) + frame(OP_TEXT, b"fragment4"))
    expect_message(c, OP_TEXT, b"fragment1fragment2")
    fail_close(c, 1002)


def _c5_16_17(first_fin):
    def fn(c):
        fr = []
        for _ in range(2):
            fr += [frame(OP_CONT, b"fragment1", fin=first_fin), frame(OP_TEXT, b"fragment2", fin=False),
                   frame(OP_CONT, b"fragment3")]
        c.send(b"".join(fr))
        fail_close(c, 1002)
    return fn


case("5.16", "2x (continuation no FIN with nothing to continue, text fragment, continuation FIN)", "close 1002, no echo")(_c5_16_17(False))
case("5.17", "2x (continuation FIN with nothing to continue, text fragment, continuation FIN)", "close 1002, no echo")(_c5_16_17(True))


@case("5.18", "text in 2 fragments, both with opcode text", "close 1002, no echo")
def _c5_18(c):
    c.send(frame(OP_TEXT, b"fragment1", fin=False) + frame(OP_TEXT, b"fragment2"))
    fail_close(c, 1002)


def _five_frags(pause):
    def fn(c):
        c.send(frame(OP_TEXT, b"fragment1", fin=False) + frame(OP_CONT, b"fragment2", fin=False) +
               frame(OP_PING, b"pongme 1!"))
        expect_pong(c, b"pongme 1!")      # answered at once, while the message is unfinished
        if pause:
            time.sleep(pause)
        c.send(frame(OP_CONT, b"fragment3", fin=False) + frame(OP_PING, b"pongme 2!") +
               frame(OP_CONT, b"fragment4", fin=False))
        expect_pong(c, b"pongme 2!")
        if pause:
            time.sleep(pause)
        c.send(frame(OP_CONT, b"fragment5"))
        expect_message(c, OP_TEXT, b"fragment1fragment2fragment3fragment4fragment5")
        close_normally(c)
    return fn


case("5.19", "text in 5 fragments, 2 pings in between, with pauses", "each pong at once, then the echo")(_five_frags(0.2))
case("5.20", "same as 5.19 without pauses", "each pong at once, then the echo")(_five_frags(0))


# 6.x UTF-8 handling
@case("6.1.1", "empty text message", "echo of the empty message")
def _c6_1_1(c):
    echo_case(OP_TEXT, b"")(c)


@case("6.1.2", "empty text message in 3 empty fragments", "echo of the empty message")
def _c6_1_2(c):
    c.send(frame(OP_TEXT, b"", fin=False) + frame(OP_CONT, b"", fin=False) + frame(OP_CONT, b""))
    expect_message(c, OP_TEXT, b"")
    close_normally(c)


@case("6.1.3", "text in 3 fragments: empty, 'middle frame payload', empty", "echo")
def _c6_1_3(c):
    c.send(frame(OP_TEXT, b"", fin=False) + frame(OP_CONT, b"middle frame payload", fin=False) + frame(OP_CONT, b""))
    expect_message(c, OP_TEXT, b"middle frame payload")
    close_normally(c)


HELLO_UTF8 = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = bytes.fromhex("cebae1bdb9cf83cebcceb5")


def _frag_text(payload, size, chop="random"):
    def fn(c):
        parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        fr = [frame(OP_TEXT if i == 0 else OP_CONT, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)]
        c.send(b"".join(fr), chop)
        expect_message(c, OP_TEXT, payload)
        close_normally(c)
    return fn


case("6.2.1", "valid UTF-8 text in one frame", "echo")(echo_case(OP_TEXT, HELLO_UTF8))
case("6.2.2", "valid UTF-8 text in 2 fragments split at a code point boundary", "echo")(_frag_text(HELLO_UTF8, 7))
case("6.2.3", "valid UTF-8 text in 1-octet fragments (code points split)", "echo")(_frag_text(HELLO_UTF8, 1))
case("6.2.4", "valid UTF-8 'κόσμε' in 1-octet fragments", "echo")(_frag_text(KOSME, 1))

KOSME_BAD = bytes.fromhex("cebae1bdb9cf83cebcceb5eda080656469746564")
case("6.3.1", "invalid UTF-8 text (κόσμε + surrogate + 'edited') in one frame", "close 1007")(
    lambda c: (c.send(frame(OP_TEXT, KOSME_BAD)), fail_close(c, 1007)))
case("6.3.2", "same as 6.3.1 in 1-octet fragments", "close 1007")(
    lambda c: (c.send(b"".join(frame(OP_TEXT if i == 0 else OP_CONT, KOSME_BAD[i:i + 1], fin=i == len(KOSME_BAD) - 1)
                               for i in range(len(KOSME_BAD)))), fail_close(c, 1007)))

P1, P2, P3 = KOSME, bytes.fromhex("f4908080"), b"edited"


def _fail_fast_frames(p1, p2, p3, chop):
    def fn(c):
        c.send(frame(OP_TEXT, p1, fin=False), chop)
        expect_nothing(c)                          # valid so far: no reaction
        c.send(frame(OP_CONT, p2, fin=False), chop)
        fail_close(c, 1007, timeout=2.0)           # before the 3rd fragment is sent
    return fn


def _fail_fast_chops(p1, p2, p3, chop):
    def fn(c):
        whole = frame(OP_TEXT, p1 + p2 + p3)
        hl = len(whole) - len(p1 + p2 + p3)
        c.send(whole[:hl + len(p1)], chop)
        expect_nothing(c)
        c.send(whole[hl + len(p1):hl + len(p1) + len(p2)], chop)
        fail_close(c, 1007, timeout=2.0)           # the frame is not complete yet
    return fn


case("6.4.1", "3 fragments: valid, then F4 90 80 80 (>U+10FFFF), then rest; pauses", "close 1007 right after fragment 2")(_fail_fast_frames(P1, P2, P3, "random"))
case("6.4.2", "3 fragments: κόσμε+F4, then 90, then 80 80 'edited' (boundary at the bad octet)", "close 1007 right after fragment 2")(_fail_fast_frames(P1 + b"\xf4", b"\x90", b"\x80\x80" + P3, "random"))
case("6.4.3", "one frame in 3 chops, 2nd chop makes it invalid", "close 1007 before the frame is complete")(_fail_fast_chops(P1, P2, P3, "whole"))
case("6.4.4", "same as 6.4.3 (boundary at the bad octet), octet-wise", "close 1007 before the frame is complete")(_fail_fast_chops(P1 + b"\xf4", b"\x90", b"\x80\x80" + P3, 1))


def utf8_sequences():
    """Autobahn's createUtf8TestSequences (Markus Kuhn's UTF-8 decoder test): [(title, [(valid, bytes)])]."""
    vss = KOSME
    out = [("Some valid UTF-8 sequences", [(True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
                                            (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
                                            (True, vss)])]
    pref = []
    for i in range(1, len(vss) + 1):
        try:
            vss[:i].decode("utf-8")
            pref.append((True, vss[:i]))
        except UnicodeDecodeError:
            pref.append((False, vss[:i]))
    out.append(("All prefixes of a valid UTF-8 string with multi-byte code points", pref))
    out.append(("First possible sequence of a certain length", [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"), (True, b"\xf0\x90\x80\x80")]))
    out.append(("First possible sequence length 5/6 (invalid code points)", [(False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    out.append(("Last possible sequence of a certain length", [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"), (True, b"\xf4\x8f\xbf\xbf")]))
    out.append(("Last possible sequence length 4/5/6 (invalid code points)", [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"), (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    out.append(("Other boundary conditions", [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"), (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    out.append(("Unexpected continuation bytes", [(False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
                                                   (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
                                                   (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xbf)))]))
    lonely = []
    for lo, hi in ((0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)):
        lonely.append((False, b"".join(bytes([i, 0x20]) for i in range(lo, hi))))
    out.append(("Lonely start characters", lonely))
    k = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
         b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    out.append(("Sequences with last continuation byte missing", [(False, x) for x in k]))
    out.append(("Concatenation of incomplete sequences", [(False, b"".join(k))]))
    out.append(("Impossible bytes", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    out.append(("Overlong ASCII character", [(False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
                                              (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    out.append(("Maximum overlong sequences", [(False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
                                                (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    out.append(("Overlong NUL", [(False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
                                  (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    out.append(("Single UTF-16 surrogates", [(False, bytes.fromhex(h)) for h in
                                              ("eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf")]))
    out.append(("Paired UTF-16 surrogates", [(False, bytes.fromhex(h)) for h in
                                              ("eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf",
                                               "edae80edb080", "edae80edbfbf", "edafbfedb080", "edafbfedbfbf")]))
    nonchar = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in (0xf0, 0xf1, 0xf2, 0xf3, 0xf4):
        for z2 in (0x8f, 0x9f, 0xaf, 0xbf):
            if z1 == 0xf4 and z2 != 0x8f:
                continue
            for z3 in (0xbe, 0xbf):
                zz = bytes([z1, z2, 0xbf, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                    nonchar.append((True, zz))
    out.append(("Non-character code points (valid UTF-8)", nonchar))
    out.append(("Unicode specials (replacement char etc.)", [(True, bytes([0xef, 0xbf, b])) for b in range(0xb9, 0xc0)]))
    return out


def _utf8_case(valid, payload):
    def fn(c):
        c.send(frame(OP_TEXT, payload))
        if valid:
            expect_message(c, OP_TEXT, payload)
            close_normally(c)
        else:
            fail_close(c, 1007)
    return fn


def _utf8_frag_case(valid, payload):
    """Extension of 6.5+: the same payload as 1-octet fragments, octet-wise on the wire."""
    def fn(c):
        fr = [frame(OP_TEXT if i == 0 else OP_CONT, payload[i:i + 1], fin=i == len(payload) - 1)
              for i in range(len(payload))]
        c.send(b"".join(fr), 1)
        if valid:
            expect_message(c, OP_TEXT, payload)
            close_normally(c)
        else:
            fail_close(c, 1007)
    return fn


for _i, (_title, _seqs) in enumerate(utf8_sequences(), start=5):
    for _j, (_valid, _p) in enumerate(_seqs, start=1):
        case(f"6.{_i}.{_j}", f"{_title}: text 0x{_p.hex() if len(_p) <= 16 else _p[:16].hex() + '...'}",
             "echo" if _valid else "close 1007")(_utf8_case(_valid, _p))
# the same sequences, fragmented octet by octet (incremental validation across fragments)
_n = 0
for _title, _seqs in utf8_sequences():
    for _valid, _p in _seqs:
        if len(_p) < 2:
            continue
        _n += 1
        case(f"6.24.{_n}", f"{_title}, in 1-octet fragments: 0x{_p.hex() if len(_p) <= 16 else _p[:16].hex() + '...'}",
             "echo" if _valid else "close 1007")(_utf8_frag_case(_valid, _p))


# 7.x close handling
@case("7.1.1", "text message, then close 1000", "echo, then close 1000 and TCP close")
def _c7_1_1(c):
    c.send(frame(OP_TEXT, b"Hello World!"))
    expect_message(c, OP_TEXT, b"Hello World!")
    close_normally(c)


@case("7.1.2", "close 1000 twice", "one close 1000 back; the second is ignored")
def _c7_1_2(c):
    c.send(frame(OP_CLOSE, close_payload(1000)) + frame(OP_CLOSE, close_payload(1000)))
    c.sent_close = True
    expect_close(c, [1000])


@case("7.1.3", "close 1000, then ping", "close 1000 back, no pong")
def _c7_1_3(c):
    c.send(frame(OP_CLOSE, close_payload(1000)) + frame(OP_PING, b"Hello World!"))
    c.sent_close = True
    expect_close(c, [1000])


@case("7.1.4", "close 1000, then text", "close 1000 back, no echo")
def _c7_1_4(c):
    c.send(frame(OP_CLOSE, close_payload(1000)) + frame(OP_TEXT, b"Hello World!"))
    c.sent_close = True
    expect_close(c, [1000])


@case("7.1.5", "text fragment (no FIN), close 1000, continuation", "close 1000 back, no echo")
def _c7_1_5(c):
    c.send(frame(OP_TEXT, b"fragment1", fin=False) + frame(OP_CLOSE, close_payload(1000)) +
           frame(OP_CONT, b"fragment2"))
    c.sent_close = True
    expect_close(c, [1000])


@case("7.1.6", "256 KiB text, close 1000, ping, back to back", "echo of the message, close 1000, no pong")
def _c7_1_6(c):
    big = text_payload(256 * KB)
    c.send(frame(OP_TEXT, big) + frame(OP_CLOSE, close_payload(1000)) + frame(OP_PING, b"Hello World!"))
    c.sent_close = True
    expect_message(c, OP_TEXT, big)
    expect_close(c, [1000])


def _close_case(payload, codes, allow_empty=False):
    def fn(c):
        c.send(frame(OP_CLOSE, payload))
        c.sent_close = True
        expect_close(c, codes, allow_empty=allow_empty)
    return fn


case("7.3.1", "close with empty payload", "close with empty payload (or 1000) back")(_close_case(b"", [1000], True))
case("7.3.2", "close with a 1-octet payload", "close 1002")(_close_case(b"\x03", [1002]))
case("7.3.3", "close 1000, no reason", "close 1000")(_close_case(close_payload(1000), [1000]))
case("7.3.4", "close 1000 with reason 'Hello World!'", "close 1000")(_close_case(close_payload(1000, "Hello World!"), [1000]))
case("7.3.5", "close 1000 with a 123-octet reason (payload 125)", "close 1000")(_close_case(close_payload(1000, "*" * 123), [1000]))
case("7.3.6", "close 1000 with a 124-octet reason (payload 126 > 125)", "close 1002")(_close_case(close_payload(1000, "*" * 124), [1002]))
case("7.5.1", "close 1000 with an invalid UTF-8 reason", "close 1002")(
    _close_case(close_payload(1000, KOSME_BAD), [1002]))

for _k, _code in enumerate([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999], start=1):
    case(f"7.7.{_k}", f"close with valid code {_code}", f"close {_code} echoed, clean TCP close")(
        _close_case(close_payload(_code), [_code]))
for _k, _code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], start=1):
    case(f"7.9.{_k}", f"close with invalid code {_code}", "close 1002")(_close_case(close_payload(_code), [1002]))
case("7.13.1", "close with code 5000", "close 1002 (docs/protocol.md: >= 5000 is invalid)")(_close_case(close_payload(5000), [1002]))
case("7.13.2", "close with code 65535", "close 1002 (docs/protocol.md: >= 5000 is invalid)")(_close_case(close_payload(65535), [1002]))


# 9.x limits/performance (sizes reduced from Autobahn's 16 MiB maximum so the suite stays fast)
def _big_echo(op, n, chop="random"):
    pay = (text_payload if op == OP_TEXT else bin_payload)(n)

    def fn(c):
        c.send(frame(op, pay), chop)
        expect_message(c, op, pay, timeout=60)
        close_normally(c)
    return fn


def _big_frag(op, total, frag):
    pay = (text_payload if op == OP_TEXT else bin_payload)(total)

    def fn(c):
        parts = [pay[i:i + frag] for i in range(0, total, frag)]
        c.send(b"".join(frame(op if i == 0 else OP_CONT, p, fin=i == len(parts) - 1) for i, p in enumerate(parts)),
               "random")
        expect_message(c, op, pay, timeout=60)
        close_normally(c)
    return fn


def _many(op, n, count=1000):
    pay = (text_payload if op == OP_TEXT else bin_payload)(n)

    def fn(c):
        for _ in range(count):
            c.send(frame(op, pay), "whole")
            expect_message(c, op, pay)
        close_normally(c)
    return fn


_big_sizes = [64 * KB, 256 * KB, 1 * MB, 4 * MB, 8 * MB, 16 * MB]
for _sec, _op, _name in ((1, OP_TEXT, "text"), (2, OP_BINARY, "binary")):
    for _k, _n in enumerate(_big_sizes, start=1):
        case(f"9.{_sec}.{_k}", f"{_name} message of {_n // KB} KiB in one frame", "echo")(_big_echo(_op, _n))
_frag_sizes = [64, 256, 1 * KB, 4 * KB, 16 * KB, 64 * KB, 256 * KB, 1 * MB, 4 * MB]
for _sec, _op, _name in ((3, OP_TEXT, "text"), (4, OP_BINARY, "binary")):
    for _k, _f in enumerate(_frag_sizes, start=1):
        case(f"9.{_sec}.{_k}", f"4 MiB {_name} message in fragments of {_f} B", "echo")(_big_frag(_op, 4 * MB, _f))
for _sec, _op, _name in ((5, OP_TEXT, "text"), (6, OP_BINARY, "binary")):
    for _k, _ch in enumerate([64, 128, 256, 512, 1024, 2048], start=1):
        case(f"9.{_sec}.{_k}", f"1 MiB {_name} message in one frame, sent in TCP chops of {_ch} B", "echo")(
            _big_echo(_op, 1 * MB, _ch))
for _sec, _op, _name in ((7, OP_TEXT, "text"), (8, OP_BINARY, "binary")):
    for _k, _n in enumerate([0, 16, 64, 256, 1 * KB, 4 * KB], start=1):
        case(f"9.{_sec}.{_k}", f"1000 {_name} messages of {_n} B, each after the previous echo", "1000 echoes")(
            _many(_op, _n))


# 10.x misc
@case("10.1.1", "64 KiB text message auto-fragmented into 1300 B frames", "echo of the whole message")
def _c10_1_1(c):
    _big_frag(OP_TEXT, 65536, 1300)(c)


# R.x ringroom's own traps (docs/protocol.md, "WebSocket level")
@case("R.1.1", "text frame with a 64-bit length whose top bit is set", "close 1002")
def _r1_1(c):
    c.send(frame(OP_TEXT, b"", length=(1 << 63) | 5, len_form=64))   # header (with mask key) only
    fail_close(c, 1002)


@case("R.1.2", "binary frame with a 64-bit length 2^62 (header only)", "close 1009 (over --max-frame)")
def _r1_2(c):
    c.send(frame(OP_BINARY, b"", length=1 << 62, len_form=64))
    fail_close(c, 1009)


@case("R.1.3", "unmasked text frame from the client", "close 1002")
def _r1_3(c):
    c.send(frame(OP_TEXT, b"Hello, world!", mask=False))
    fail_close(c, 1002)


@case("R.1.4", "masked frame, then an unmasked ping", "echo, then close 1002, no pong")
def _r1_4(c):
    c.send(frame(OP_TEXT, b"masked") + frame(OP_PING, b"x", mask=False))
    expect_message(c, OP_TEXT, b"masked")
    fail_close(c, 1002)


@case("R.1.5", "close 1000 whose 2-byte payload length uses the 16-bit form",
      "close 1002 (a control frame's length must fit the 7-bit form)")
def _r1_5(c):
    c.send(frame(OP_CLOSE, close_payload(1000), len_form=16))
    c.sent_close = True
    expect_close(c, [1002])


@case("R.1.6", "text with non-minimal 64-bit length encoding (5 B payload)",
      "echo (ringroom is lenient here; RFC 6455 5.2 asks senders for the minimal form)")
def _r1_6(c):
    c.send(frame(OP_TEXT, b"hello", len_form=64), 1)
    expect_message(c, OP_TEXT, b"hello")
    close_normally(c)


@case("R.1.7", "ping between fragments whose split falls inside a UTF-8 code point, octet-wise",
      "pong at once, then the echo")
def _r1_7(c):
    s = "añ€😀".encode()
    c.send(frame(OP_TEXT, s[:2], fin=False) + frame(OP_PING, b"p") + frame(OP_CONT, s[2:5], fin=False) +
           frame(OP_PONG, b"q") + frame(OP_CONT, s[5:]), 1)
    expect_pong(c, b"p")
    expect_message(c, OP_TEXT, s)
    close_normally(c)


@case("R.1.8", "fragmented text whose last fragment ends inside a code point", "close 1007")
def _r1_8(c):
    s = "a€".encode()
    c.send(frame(OP_TEXT, s[:2], fin=False) + frame(OP_CONT, s[2:3]))
    fail_close(c, 1007)


@case("R.1.9", "invalid UTF-8 in a fragment of a *binary* message", "echo (binary is not validated)")
def _r1_9(c):
    c.send(frame(OP_BINARY, b"\xff\xfe", fin=False) + frame(OP_CONT, b"\xed\xa0\x80"))
    expect_message(c, OP_BINARY, b"\xff\xfe\xed\xa0\x80")
    close_normally(c)


@case("R.1.10", "close 1000 whose reason is split across TCP segments octet-wise", "close 1000")
def _r1_10(c):
    c.send(frame(OP_CLOSE, close_payload(1000, "bye " * 30)), 1)
    c.sent_close = True
    expect_close(c, [1000])


for _k, _code in enumerate([1012, 1013, 1014], start=1):
    case(f"R.2.{_k}", f"close with valid code {_code}", f"close {_code} echoed")(_close_case(close_payload(_code), [_code]))
for _k, _code in enumerate([1, 1015, 2500, 4999 + 1, 0xFFFF - 1], start=4):
    case(f"R.2.{_k}", f"close with invalid code {_code}", "close 1002")(_close_case(close_payload(_code), [1002]))
case("R.2.9", "close 1000 with a reason ending inside a UTF-8 sequence", "close 1002")(
    _close_case(close_payload(1000, "ok€".encode()[:-1]), [1002]))
case("R.2.10", "close 3000 with a valid multi-byte UTF-8 reason", "close 3000")(
    _close_case(close_payload(3000, "κόσμε ✓"), [3000]))


# limits server: --max-frame 32KiB --max-message 64KiB
@case("R.3.1", f"binary frame of exactly --max-frame ({LIMIT_FRAME} B)", "echo", "limits")
def _r3_1(c):
    echo_case(OP_BINARY, bin_payload(LIMIT_FRAME))(c)


@case("R.3.2", "binary frame of --max-frame + 1 B (header only)", "close 1009 before the payload", "limits")
def _r3_2(c):
    c.send(frame(OP_BINARY, b"", length=LIMIT_FRAME + 1))
    fail_close(c, 1009)


@case("R.3.3", f"text message of exactly --max-message ({LIMIT_MESSAGE} B) in 2 fragments", "echo", "limits")
def _r3_3(c):
    _big_frag(OP_TEXT, LIMIT_MESSAGE, LIMIT_FRAME)(c)


@case("R.3.4", "text message in 3 fragments of 30000 B (90000 B > --max-message)", "close 1009 at the 3rd fragment header", "limits")
def _r3_4(c):
    p = text_payload(30000)
    c.send(frame(OP_TEXT, p, fin=False) + frame(OP_CONT, p, fin=False))
    expect_nothing(c)
    c.send(frame(OP_CONT, b"", length=30000))     # just the header (with mask key) of the third
    fail_close(c, 1009)


@case("R.3.5", "text message over --max-message in 1-KiB fragments with pings in between", "pongs, then close 1009", "limits")
def _r3_5(c):
    p = text_payload(1024)
    fr = []
    for i in range(LIMIT_MESSAGE // 1024 + 1):
        fr.append(frame(OP_TEXT if i == 0 else OP_CONT, p, fin=False))
        if i % 16 == 0:
            fr.append(frame(OP_PING, str(i).encode()))
    c.send(b"".join(fr))
    for i in range(0, LIMIT_MESSAGE // 1024, 16):
        expect_pong(c, str(i).encode())
    fail_close(c, 1009)


@case("R.3.6", "after an over-limit message on one connection, another connection still echoes", "echo", "limits")
def _r3_6(c):
    echo_case(OP_TEXT, text_payload(1000))(c)


# default limits server (no flags but --threads 1)
@case("R.4.1", "binary message of 4 MiB + 1 B (under the default --max-message 16MiB)", "echo", "defaults")
def _r4_1(c):
    echo_case(OP_BINARY, bin_payload(4 * MB + 1))(c)


# Cases that fail because of a known, reported server bug: shown as "xfail" and not counted
# as failures; if one passes ("XPASS") the suite fails so that this list gets updated.
KNOWN_BUGS = {}


# ---- runner ----

def run_case(port, fn):
    c = Conn(port)
    try:
        fn(c)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()

    if a.list:
        for cid, desc, exp, _, srv in CASES:
            print(f"{cid:10} {desc} -> {exp}{' [limits server]' if srv == 'limits' else ''}")
        return 0
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    RNG.seed(seed)
    selected = [x for x in CASES if not a.only or any(x[0].startswith(p) for p in a.only)]
    binpath = harness.binary()
    print(f"conformance: {len(selected)} cases against {binpath} /echo, seed {seed} "
          f"(rerun with --seed {seed})", flush=True)

    t0 = time.monotonic()
    servers = {}
    results = []
    tmp = tempfile.mkdtemp(prefix="ringroom-conformance-")

    def server(name, *args):
        # each server its own (empty) op log directory: they run side by side
        env = {"RINGROOM_DATA_DIR": os.path.join(tmp, name)}
        servers[name] = harness.Server(*args, name=f"conformance-{name}", env=env).start()

    try:
        server("main", "--threads", "2")
        server("defaults", "--threads", "1")
        server("limits", "--threads", "1", "--max-frame", f"{LIMIT_FRAME}", "--max-message", f"{LIMIT_MESSAGE}")
        for cid, desc, exp, fn, srv in selected:
            s = servers[srv]
            ct = time.monotonic()
            try:
                run_case(s.port, fn)
                ok, detail = True, ""
            except CaseFailed as e:
                ok, detail = False, str(e)
            except (OSError, socket.timeout) as e:
                ok, detail = False, f"{type(e).__name__}: {e}"
            dt = time.monotonic() - ct
            if s.proc.poll() is not None:
                ok, detail = False, f"server exited with {s.proc.returncode}: {s.output()[-2000:]}"
            if cid in KNOWN_BUGS:
                ok, detail = ("XPASS", f"passes now: remove it from KNOWN_BUGS ({KNOWN_BUGS[cid]})") if ok else \
                             ("xfail", f"known server bug: {KNOWN_BUGS[cid]} [{detail}]")
            results.append((cid, desc, exp, ok, detail, dt))
            if a.v or ok is not True:
                print(f"  {cid:10} {label(ok)} {dt * 1000:7.1f} ms  {desc}"
                      f"{'' if ok is True else chr(10) + '             ' + detail}", flush=True)
            if s.proc.poll() is not None:
                break
    finally:
        stop_errors = []
        for name, s in servers.items():
            try:
                s.stop()
            except AssertionError as e:
                stop_errors.append(f"{name} server: {e}")
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - t0

    # table
    print()
    print(f"{'case':10} {'result':6} {'ms':>8}  description")
    for cid, desc, exp, ok, detail, dt in results:
        print(f"{cid:10} {label(ok):6} {dt * 1000:8.1f}  {desc[:90]}")
    npass = sum(1 for r in results if r[3] is True)
    nxfail = sum(1 for r in results if r[3] == "xfail")
    nfail = len(results) - npass - nxfail
    print()
    sections = {}
    for cid, _, _, ok, _, _ in results:
        sec = cid.split(".")[0]
        p, f = sections.get(sec, (0, 0))
        sections[sec] = (p + (ok is True), f + (ok is not True))
    print("by section: " + ", ".join(f"{k}.x {p}/{p + f}" for k, (p, f) in sections.items()))
    for e in stop_errors:
        print(f"FAIL: {e}")
    print(f"conformance: {npass} passed, {nfail} failed, {nxfail} known server bugs (xfail), "
          f"{len(selected) - len(results)} not run, "
          f"{elapsed:.1f} s (seed {seed})")
    if a.markdown:
        write_markdown(results, seed, binpath, elapsed, complete=not a.only)
    return 0 if nfail == 0 and not stop_errors and len(results) == len(selected) else 1


def label(ok):
    return "pass" if ok is True else "FAIL" if ok is False else ok


def md_escape(s):
    return s.replace("|", "\\|").replace("\n", " ")


def write_markdown(results, seed, binpath, elapsed, complete):
    path = os.path.join(HERE, "CASES.md")
    npass = sum(1 for r in results if r[3] is True)
    nxfail = sum(1 for r in results if r[3] == "xfail")
    lines = [
        "# WebSocket conformance cases",
        "",
        "Generated by `tests/conformance/run.py --markdown` (do not edit by hand: change run.py and",
        "regenerate). The suite follows Autobahn|Testsuite's case list: 1.x framing, 2.x pings/pongs,",
        "3.x reserved bits, 4.x opcodes, 5.x fragmentation, 6.x UTF-8 (6.5-6.23 are Autobahn's",
        "UTF-8 decoder sequences; 6.24 sends the same sequences as 1-octet fragments), 7.x closing,",
        "9.x large messages (Autobahn's sizes: up to 16 MiB in one frame, 4 MiB fragmented, 1 MiB",
        "in small TCP chops), 10.x auto-fragmentation, and R.x for ringroom's own traps from",
        "docs/protocol.md (64-bit length top bit, masking, close codes, and the 1009 limits on a second",
        f"server started with `--max-frame {LIMIT_FRAME} --max-message {LIMIT_MESSAGE}`). The main server runs",
        "with `--threads 2`; R.4.x use a server with default limits.",
        "",
        "Every client frame is masked with a random key and the bytes go out in random TCP splits",
        "(TCP_NODELAY) unless the case says otherwise (octet-wise = one byte per send). Expected",
        "results follow RFC 6455 and docs/protocol.md: 1002 for protocol errors, 1007 for invalid UTF-8 in",
        "text (failing fast, before the rest of the message is sent), 1009 for over-limit frames or",
        "messages, a valid close code echoed back, and the server closing TCP after the close",
        "handshake. Unlike Autobahn's non-strict grading, a case here either passes or fails;",
        "\"xfail\" marks a case that fails because of a known, reported server bug (KNOWN_BUGS in",
        "run.py), which does not fail the suite until it is fixed (then it shows XPASS and fails).",
        "",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `{os.path.relpath(binpath, ROOT)}`, "
        f"seed {seed}: **{npass}/{len(results)} passed**"
        f"{f', {nxfail} known server bug(s) (xfail)' if nxfail else ''} in {elapsed:.1f} s"
        f"{'' if complete else ' (partial run)'}.",
        "",
        "| case | sends | expected | result |",
        "|---|---|---|---|",
    ]
    for cid, desc, exp, ok, detail, dt in results:
        res = "pass" if ok is True else f"**{label(ok)}**: {md_escape(detail)}"
        lines.append(f"| {cid} | {md_escape(desc)} | {md_escape(exp)} | {res} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
