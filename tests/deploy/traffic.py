#!/usr/bin/env python3
"""Steady, bounded, loopback-only traffic against one ringroom, so that every dashboard query
has something to show: rooms over /ws (one editor sending OT ops and waiting for each ack,
members sending chat and cursors), /echo clients, HTTP GETs, and a few connections opened and
closed to move the close-code and accept counters. Falls back to /echo-only traffic when /ws
rooms do not answer `joined` (an older server).

  traffic.py --port PORT [--seconds 120] [--rooms 4] [--members 3]

Stops after --seconds or on SIGTERM/SIGINT, closes every connection, prints what it did.
"""
import argparse, asyncio, json, random, signal, sys, time, urllib.request

import websockets

stats = {"sent": 0, "received": 0, "acks": 0, "errors": 0, "echo": 0, "http": 0, "reconnects": 0}


async def recv_loop(ws, on_msg=None):
    try:
        async for raw in ws:
            stats["received"] += 1
            if on_msg:
                m = json.loads(raw)
                if m.get("type") == "error":
                    stats["errors"] += 1
                on_msg(m)
    except websockets.ConnectionClosed:
        pass


async def join(url, room, name):
    ws = await websockets.connect(url, open_timeout=5, max_size=None)
    await ws.send(json.dumps({"type": "join", "room": room,
                              "user": {"id": name, "name": name, "color": "#3366cc"}}))
    deadline = time.monotonic() + 5
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if m.get("type") == "joined":
            return ws, m
        if m.get("type") == "error":
            raise RuntimeError(f"join refused: {m}")


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


async def editor(url, room, stop):
    ws, joined = await join(url, room, f"{room}-editor")
    rev, length = joined["rev"], utf16_len(joined.get("doc", ""))
    acked = asyncio.Event()
    acked.set()

    def on_msg(m):
        nonlocal rev
        if m.get("type") == "ack":
            rev = m["rev"]
            stats["acks"] += 1
            acked.set()

    reader = asyncio.create_task(recv_loop(ws, on_msg))
    try:
        while not stop.is_set():
            await asyncio.wait_for(acked.wait(), 5)     # ot.js: one op in flight
            acked.clear()
            op = [length, "x"] if length else ["x"]
            if length > 2000:                           # keep the document small
                op = [-length, "y"]
                length = 1
            else:
                length += 1
            await ws.send(json.dumps({"type": "op", "rev": rev, "op": op}))
            stats["sent"] += 1
            await asyncio.sleep(0.05)
    finally:
        await ws.close()
        reader.cancel()


async def member(url, room, i, stop):
    ws, _ = await join(url, room, f"{room}-m{i}")
    reader = asyncio.create_task(recv_loop(ws, lambda m: None))
    k = 0
    try:
        while not stop.is_set():
            k += 1
            await ws.send(json.dumps({"type": "chat", "text": f"hello {k} from {i}", "id": f"{i}-{k}"}))
            await ws.send(json.dumps({"type": "cursor", "pos": k % 50}))
            stats["sent"] += 2
            await asyncio.sleep(0.1)
    finally:
        await ws.close()
        reader.cancel()


async def echoer(url, stop):
    async with websockets.connect(url, open_timeout=5) as ws:
        k = 0
        while not stop.is_set():
            k += 1
            await ws.send(f"echo {k}")
            await asyncio.wait_for(ws.recv(), 5)
            stats["echo"] += 1
            await asyncio.sleep(0.05)


async def churn(url, stop):
    """Short-lived connections: accepts, and closes with code 1000 (and 1001 below)."""
    while not stop.is_set():
        try:
            async with websockets.connect(url, open_timeout=5) as ws:
                await ws.send("bye")
                await asyncio.wait_for(ws.recv(), 5)
            stats["reconnects"] += 1
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.5)


async def http(base, paths, stop):
    loop = asyncio.get_running_loop()

    def get(path):
        try:
            with urllib.request.urlopen(base + path, timeout=2) as r:
                r.read()
        except Exception:  # noqa: BLE001  (404s count too)
            pass

    while not stop.is_set():
        for p in paths:
            await loop.run_in_executor(None, get, p)
            stats["http"] += 1
        await asyncio.sleep(0.5)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--rooms", type=int, default=4)
    ap.add_argument("--members", type=int, default=3)
    a = ap.parse_args()
    base = f"http://127.0.0.1:{a.port}"
    ws_url, echo_url = f"ws://127.0.0.1:{a.port}/ws", f"ws://127.0.0.1:{a.port}/echo"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    loop.call_later(a.seconds, stop.set)

    rooms = [f"deploy-test-{i}" for i in range(a.rooms)]
    mode = "rooms"
    try:
        ws, _ = await join(ws_url, rooms[0] + "-probe", "probe")
        await ws.close()
    except Exception as e:  # noqa: BLE001
        mode = "echo-only"
        print(f"traffic: /ws rooms unavailable ({e!r}); /echo traffic only", flush=True)

    tasks = [echoer(echo_url, stop) for _ in range(4)] + [churn(echo_url, stop)]
    tasks.append(http(base, ["/health", "/nope"] + ([f"/rooms/{rooms[0]}", f"/history/{rooms[0]}?limit=5"]
                                                   if mode == "rooms" else []), stop))
    if mode == "rooms":
        for r in rooms:
            tasks.append(editor(ws_url, r, stop))
            tasks += [member(ws_url, r, i, stop) for i in range(1, a.members)]
    print(f"traffic: {mode}, {len(tasks)} tasks for up to {a.seconds:.0f}s", flush=True)
    t0 = time.monotonic()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errs = [r for r in results if isinstance(r, BaseException)]
    for e in errs[:5]:
        print(f"traffic: task failed: {e!r}", flush=True)
    print(f"traffic: done after {time.monotonic() - t0:.1f}s: {json.dumps(stats)}", flush=True)
    return 1 if len(errs) == len(results) else 0


if __name__ == "__main__":
    random.seed(7)
    sys.exit(asyncio.run(main()))
