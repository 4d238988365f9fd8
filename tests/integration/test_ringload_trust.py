"""test_ringload_trust.py: does ringload report what really happened?

ringload's numbers are only worth something if, facing a server whose behaviour is known,
it reports exactly that behaviour. tests/helpers/trust_server.c delays and drops known
fractions of messages and runs ot.js's server for the `ot` scenario (and can be told to
report documents its clients cannot have); ringroom itself is stopped with SIGSTOP for a
second. Each test states the known truth and checks the report against it: the delay lands
in the right percentiles, the loss is the server's own count, a clean run has no loss,
duplicates or reordering, the stall shows in the tail, the JSON schema is complete and
--slo drives the exit code, closes are counted by code, ot editors converge and a diverged
document fails the run, and with several --url instances the members are spread and counted
per instance (the same server twice is a clean cluster with half the deliveries crossing;
two servers that share nothing lose exactly half of every room and fail the convergence
check on both). The measuring parts themselves (the histogram's precision,
percentiles, merge, the per-sender window, --slo parsing and comparison) are cmocka unit
tests, tests/unit/test_ringload.c, run by the `unit` suite of tests/run.sh.

Binaries: $RINGLOAD_BIN (default build/ringload) and the trust server next to it
(build/tests/trust_server); ringroom from $RINGROOM_BIN. Runs under /usr/bin/python3.
Whole file: about 55 seconds.
"""
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

RINGLOAD = None
TRUST = None


def binary(env, default):
    path = os.path.abspath(os.environ.get(env) or os.path.join(ROOT, default))
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not built (run ./build.sh build)")
    return path


def setUpModule():
    global RINGLOAD, TRUST
    RINGLOAD = binary("RINGLOAD_BIN", "build/ringload")
    TRUST = os.environ.get("TRUST_SERVER_BIN") or os.path.join(os.path.dirname(RINGLOAD), "tests", "trust_server")
    if not os.path.exists(TRUST):
        raise RuntimeError(f"{TRUST} not built (`make units` builds tests/helpers/*.c)")


class TrustServer:
    """The trust server on a free port; stop() returns what it counted (messages, dropped, delayed)."""

    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        self.proc = subprocess.Popen([TRUST, "--listen", "127.0.0.1:0", *self.args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            self.proc.kill()
            raise RuntimeError(f"trust_server did not start: {line!r} {self.proc.stderr.read()}")
        self.port = int(line.split()[1])
        return self

    def url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=10)
        self.counts = {}
        for line in err.splitlines():
            if line.startswith("trust_server: "):
                # "trust_server: N messages, D dropped, L delayed"
                parts = line.split()
                self.counts = {"messages": int(parts[1]), "dropped": int(parts[3]), "delayed": int(parts[5])}
        return self.counts

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()
        return False


def ringload(*args, timeout=60):
    """Runs ringload with a JSON report; returns (exit code, report or None, stdout+stderr)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "report.json")
        spec = os.path.join(d, "spectrum.txt")
        p = subprocess.run([RINGLOAD, "--quiet", "--json", path, "--spectrum", spec, *args], capture_output=True,
                           text=True, timeout=timeout)
        report = None
        if os.path.exists(path):
            with open(path) as f:
                report = json.load(f)
            with open(spec) as f:
                report["_spectrum"] = f.read()
        return p.returncode, report, p.stdout + p.stderr


MS = 1000.0  # latency fields are microseconds


class Delays(unittest.TestCase):
    def test_ten_percent_delayed_200ms_lands_in_p95_and_p99(self):
        # 20 senders x 200 messages; exactly 10% of each sender's messages held 200 ms. The
        # bounds leave room for a busy machine (2 cores shared with the server and builds):
        # p90 is the slowest undelayed message, p95 and p99 are delayed ones.
        with TrustServer("--delay-fraction", "0.1", "--delay-ms", "200") as ts:
            code, rep, out = ringload("--url", ts.url("/echo"), "--conns", "20", "--rate", "1000",
                                      "--duration", "4s", "--warmup", "0s", "--drain", "1s")
            counts = ts.stop()
        self.assertEqual(code, 0, out)
        lat = rep["latency_us"]
        self.assertEqual(rep["sent"], 4000, out)
        self.assertEqual(lat["count"], rep["sent"], out)
        self.assertEqual(counts["delayed"], 400)
        self.assertEqual(rep["lost"], 0, out)
        self.assertLess(lat["p50"], 50 * MS, out)
        self.assertLess(lat["p90"], 200 * MS, out)
        self.assertGreaterEqual(lat["p95"], 200 * MS, out)
        self.assertGreaterEqual(lat["p99"], 200 * MS, out)
        self.assertLess(lat["p95"], 400 * MS, out)
        self.assertLess(lat["max"], 1000 * MS, out)
        self.assertEqual(rep["duplicates"], 0)
        # the spectrum file shows the step: below 90% under 200 ms, above it at least 200 ms
        rows = [l.split() for l in rep["_spectrum"].splitlines() if l.strip() and not l.startswith("#")][1:]
        for value, pct, *_ in rows:
            if float(pct) <= 0.89:
                self.assertLess(float(value), 200 * MS, out)
            elif float(pct) >= 0.91:
                self.assertGreaterEqual(float(value), 200 * MS, out)


class Drops(unittest.TestCase):
    def test_one_percent_dropped_echo(self):
        with TrustServer("--drop-fraction", "0.01", "--pattern", "random", "--seed", "7") as ts:
            code, rep, out = ringload("--url", ts.url("/echo"), "--conns", "20", "--rate", "5000",
                                      "--duration", "4s", "--warmup", "0s", "--drain", "500ms")
            counts = ts.stop()
        self.assertEqual(code, 0, out)
        self.assertEqual(rep["sent"], 20000, out)
        self.assertEqual(counts["messages"], rep["sent"])
        # exactly what the server dropped, and within a tight bound of 1%
        self.assertEqual(rep["lost"], counts["dropped"], out)
        self.assertGreaterEqual(rep["loss_ratio"], 0.007, out)
        self.assertLessEqual(rep["loss_ratio"], 0.013, out)
        self.assertEqual(rep["received"] + rep["lost"], rep["expected"])
        self.assertEqual(rep["duplicates"], 0)

    def test_one_percent_dropped_chat_counts_every_member(self):
        # rooms of 10: each dropped message is 10 lost deliveries
        with TrustServer("--drop-fraction", "0.01") as ts:
            code, rep, out = ringload("--scenario", "chat", "--url", ts.url("/ws"), "--conns", "40",
                                      "--room-size", "10", "--rate", "40/conn", "--duration", "5s",
                                      "--warmup", "0s", "--drain", "500ms")
            counts = ts.stop()
        self.assertEqual(code, 0, out)
        self.assertEqual(rep["sent"], 8000, out)
        self.assertEqual(rep["expected"], 80000, out)
        self.assertEqual(counts["dropped"], 80)          # even pattern: 2 of each sender's 200
        self.assertEqual(rep["lost"], counts["dropped"] * 10, out)
        self.assertAlmostEqual(rep["loss_ratio"], 0.01, places=6)


class Clean(unittest.TestCase):
    def test_echo_and_chat_without_faults(self):
        with TrustServer() as ts:
            code, rep, out = ringload("--url", ts.url("/echo"), "--conns", "10", "--rate", "2000",
                                      "--duration", "2s", "--warmup", "500ms", "--payload", "text", "--size", "100")
            self.assertEqual(code, 0, out)
            for k in ("lost", "duplicates", "reordered"):
                self.assertEqual(rep[k], 0, (k, out))
            self.assertEqual(rep["errors"]["total"], 0, out)
            self.assertEqual(rep["received"], rep["sent"])
            self.assertEqual(rep["closes"], {}, out)
            code, rep, out = ringload("--scenario", "chat", "--url", ts.url("/ws"), "--conns", "50",
                                      "--room-size", "10", "--rate", "500", "--duration", "2s", "--warmup", "500ms")
            self.assertEqual(code, 0, out)
            self.assertEqual(rep["expected"], rep["sent"] * 10)
            for k in ("lost", "duplicates", "reordered"):
                self.assertEqual(rep[k], 0, (k, out))
            self.assertEqual(rep["errors"]["total"], 0, out)
            self.assertEqual(rep["latency_us"]["count"], rep["received"])

    def test_cursor_churn_idle_smoke(self):
        with TrustServer() as ts:
            code, rep, out = ringload("--scenario", "cursor", "--url", ts.url("/ws"), "--conns", "20",
                                      "--room-size", "5", "--rate", "200", "--duration", "1s", "--warmup", "0s")
            self.assertEqual(code, 0, out)
            self.assertIsNone(rep["loss_ratio"])
            self.assertEqual(rep["received"], rep["sent"] * 4, out)   # not coalesced here: 4 others
            code, rep, out = ringload("--scenario", "churn", "--url", ts.url("/ws"), "--conns", "10",
                                      "--rate", "50", "--duration", "1s", "--warmup", "0s")
            self.assertEqual(code, 0, out)
            self.assertGreaterEqual(rep["connect_latency_us"]["count"], 45, out)
            self.assertEqual(rep["errors"]["total"], 0, out)
            self.assertEqual(rep["lost"], 0, out)
            code, rep, out = ringload("--scenario", "idle", "--url", ts.url("/echo"), "--conns", "200",
                                      "--duration", "1s", "--warmup", "0s")
            self.assertEqual(code, 0, out)
            self.assertEqual(rep["connections"]["established"], 200, out)


class Ot(unittest.TestCase):
    def test_editors_converge_with_the_server(self):
        # 4 documents x 10 editors, 50 edits/s each, against ot.js's server rules; every ack
        # and op is held back 30 ms (in order), so editors edit concurrently and compose edits
        # made while their op is in flight
        with TrustServer("--delay-fraction", "1", "--delay-ms", "30") as ts:
            code, rep, out = ringload("--scenario", "ot", "--url", ts.url("/ws"), "--conns", "40",
                                      "--room-size", "10", "--rate", "50/conn", "--duration", "3s",
                                      "--warmup", "0s", "--drain", "3s")
        self.assertEqual(code, 0, out)
        ot = rep["ot"]
        self.assertEqual(ot["documents"], 4, out)
        self.assertTrue(ot["converged"], out)
        self.assertEqual(ot["mismatches"], 0, out)
        self.assertEqual(ot["edits"], 6000, out)
        self.assertEqual(ot["edits_acked"], ot["edits"], "every edit is inside an acknowledged op")
        self.assertEqual(ot["acks"], ot["ops"], out)
        self.assertEqual(ot["remote_ops"], ot["ops"] * 9, out)
        self.assertLess(ot["ops"], ot["edits"], "edits made while an op was in flight are composed")
        self.assertEqual(rep["errors"]["total"], 0, out)
        self.assertEqual(rep["lost"], 0, out)
        self.assertEqual(rep["ack_latency_us"]["count"], ot["ops"], out)
        self.assertEqual(rep["latency_us"]["count"], rep["received"], out)
        self.assertGreaterEqual(rep["latency_us"]["p50"], 30 * MS, out)
        self.assertGreaterEqual(rep["ack_latency_us"]["p50"], 30 * MS, out)

    def test_a_diverged_document_fails_the_run(self):
        with TrustServer("--ot-diverge") as ts:
            code, rep, out = ringload("--scenario", "ot", "--url", ts.url("/ws"), "--conns", "10",
                                      "--room-size", "5", "--rate", "10/conn", "--duration", "1s", "--warmup", "0s")
        self.assertEqual(code, 1, out)
        self.assertEqual(rep["ot"]["mismatches"], 2, out)
        self.assertFalse(rep["ot"]["converged"], out)
        self.assertIn("has rev", out)


class Instances(unittest.TestCase):
    """--url with several URLs: each room's members spread over them, counted per instance."""

    def test_the_same_server_twice_is_one_clean_cluster(self):
        # rooms of 10 over 2 URLs: 5 members each, so half of every message's 10 deliveries
        # go from one "instance" to the other
        with TrustServer() as ts:
            code, rep, out = ringload("--scenario", "chat", "--url", ts.url("/ws") + "," + ts.url("/ws"),
                                      "--conns", "20", "--room-size", "10", "--rate", "200", "--duration", "2s",
                                      "--warmup", "0s")
        self.assertEqual(code, 0, out)
        self.assertEqual(rep["lost"], 0, out)
        self.assertEqual([i["established"] for i in rep["instances"]], [10, 10], out)
        self.assertEqual([i["url"] for i in rep["instances"]], [ts.url("/ws")] * 2, out)
        self.assertEqual(rep["latency_cross_instance_us"]["count"] * 2, rep["latency_us"]["count"], out)
        self.assertIn("Instances (2):", out)

    def test_servers_that_share_nothing_lose_the_other_half(self):
        # two servers that do not share rooms: each message reaches only the members on its
        # sender's server, exactly half of the room; no delivery crosses
        with TrustServer() as a, TrustServer() as b:
            code, rep, out = ringload("--scenario", "chat", "--url", a.url("/ws") + "," + b.url("/ws"),
                                      "--conns", "20", "--room-size", "10", "--rate", "200", "--duration", "2s",
                                      "--warmup", "0s", "--drain", "500ms")
        self.assertEqual(code, 0, out)
        self.assertEqual(rep["loss_ratio"], 0.5, out)
        self.assertEqual(rep["latency_cross_instance_us"]["count"], 0, out)

    def test_documents_are_checked_on_every_instance(self):
        with TrustServer() as a, TrustServer() as b:
            code, rep, out = ringload("--scenario", "ot", "--url", a.url("/ws") + "," + b.url("/ws"),
                                      "--conns", "12", "--room-size", "6", "--rate", "10/conn", "--duration", "1s",
                                      "--warmup", "0s")
        self.assertEqual(code, 1, out)
        self.assertFalse(rep["ot"]["converged"], out)
        self.assertEqual(rep["ot"]["mismatches"], 2, out)
        self.assertEqual([i["ot"]["mismatches"] for i in rep["instances"]], [2, 2], out)
        self.assertIn("instance 1 (" + b.url("/ws") + ")", out)
        # the same server twice: both copies are the editors' document
        with TrustServer() as ts:
            code, rep, out = ringload("--scenario", "ot", "--url", ts.url("/ws") + "," + ts.url("/ws"),
                                      "--conns", "12", "--room-size", "6", "--rate", "10/conn", "--duration", "1s",
                                      "--warmup", "0s")
        self.assertEqual(code, 0, out)
        self.assertTrue(rep["ot"]["converged"], out)
        self.assertEqual([i["ot"]["documents_converged"] for i in rep["instances"]], [2, 2], out)


def stop_for_a_second(pid, after):
    def run():
        time.sleep(after)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(1.0)
        os.kill(pid, signal.SIGCONT)
    t = threading.Thread(target=run)
    t.start()
    return t


class Ringroom:
    """The real server on a free loopback port (self-contained: this file needs no harness)."""

    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        os.makedirs(os.path.join(ROOT, "tests", "artifacts", "logs"), exist_ok=True)
        self.log = open(os.path.join(ROOT, "tests", "artifacts", "logs", f"ringroom-trust-{self.port}.log"), "wb")
        self.data = tempfile.TemporaryDirectory(prefix="ringload-trust-")   # its own op log
        env = dict(os.environ, RINGROOM_DATA_DIR=self.data.name)
        try:
            self.proc = subprocess.Popen([binary("RINGROOM_BIN", "build/ringroom"), "--listen", f"127.0.0.1:{self.port}",
                                          *self.args], stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        except Exception:
            self.log.close()
            self.data.cleanup()
            raise
        try:
            return self._wait()
        except Exception:
            self.__exit__()
            raise

    def _wait(self):
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(self.log.name, "rb") as f:
                    raise RuntimeError(f"ringroom exited with {self.proc.returncode}: {f.read()[-2000:]!r}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("ringroom did not answer /health")

    def ws_url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.data.cleanup()
        with open(self.log.name, "rb") as f:
            out = f.read().decode("utf-8", "replace")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in out and not exc[0]:
                raise AssertionError(f"sanitizer report in ringroom output:\n{out[-4000:]}")
        return False


class Stall(unittest.TestCase):
    def check_stall(self, url, pid):
        t = stop_for_a_second(pid, after=1.5)
        code, rep, out = ringload("--url", url, "--conns", "10", "--rate", "1000", "--duration", "4s",
                                  "--warmup", "0s", "--drain", "2s", "--server-pid", str(pid))
        t.join()
        self.assertEqual(code, 0, out)
        lat = rep["latency_us"]
        self.assertGreaterEqual(lat["max"], 900 * MS, out)
        self.assertGreaterEqual(lat["p999"], 900 * MS, out)
        self.assertLess(lat["p50"], 50 * MS, out)
        self.assertEqual(rep["lost"], 0, out)
        self.assertIsNotNone(rep["server"], out)
        return rep

    def test_sigstop_of_trust_server(self):
        with TrustServer() as ts:
            self.check_stall(ts.url("/echo"), ts.proc.pid)

    def test_sigstop_of_ringroom(self):
        with Ringroom("--threads", "1") as srv:
            rep = self.check_stall(srv.ws_url("/echo"), srv.proc.pid)
            self.assertGreater(rep["server"]["rss_kb_peak"], 0)


class Failures(unittest.TestCase):
    def test_closes_by_code_and_connect_errors(self):
        # ringroom closes a connection whose frame is over --max-frame with 1009: every
        # connection's first message does that
        with Ringroom("--threads", "1", "--max-frame", "1K") as srv:
            code, rep, out = ringload("--url", srv.ws_url("/echo"), "--conns", "3", "--rate", "30", "--size", "2K",
                                      "--duration", "1s", "--warmup", "0s", "--drain", "500ms")
        self.assertEqual(code, 0, out)
        self.assertEqual(rep["closes"], {"1009": 3}, out)
        self.assertEqual(rep["errors"]["disconnect"], 3, out)
        # each connection's first message is lost with it, later sends find no connection
        # (or, on a slow machine, one more goes out before the close arrives, and is lost)
        self.assertGreaterEqual(rep["lost"], 3, out)
        self.assertEqual(rep["errors"]["skipped"] + rep["lost"], 30, out)
        # nothing listening: every connect fails, and a run where nothing connected exits 1
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            code, rep, out = ringload("--url", f"ws://127.0.0.1:{port}/echo", "--conns", "5", "--duration", "500ms",
                                      "--warmup", "0s")
        self.assertEqual(code, 1, out)
        self.assertEqual(rep["errors"]["connect"], 5, out)
        self.assertEqual(rep["connections"]["established"], 0, out)


class SchemaAndSlo(unittest.TestCase):
    SCHEMA = {
        "schema": str, "schema_version": int, "scenario": str, "conns": int, "duration_s": (int, float),
        "sent": int, "expected": int, "received": int, "lost": int, "loss_ratio": (int, float),
        "duplicates": int, "reordered": int, "latency_us": dict, "rx_per_s": (int, float), "errors": dict,
        "closes": dict, "slo": dict, "rate": dict, "schedule": dict, "connections": dict,
        "connect_latency_us": dict, "client": dict, "mode": str, "exit_code": int, "totals": dict,
    }

    def test_schema_and_slo_exit_codes(self):
        with TrustServer("--delay-fraction", "0.1", "--delay-ms", "200") as ts:
            url = ts.url("/echo")
            common = ("--url", url, "--conns", "5", "--rate", "500", "--duration", "2s", "--warmup", "0s")
            code, rep, out = ringload(*common, "--slo", "p50<50ms,loss<0.01%,errors=0")
            self.assertEqual(code, 0, out)
            self.assertEqual(rep["slo"], {"p50<50ms": "pass", "loss<0.01%": "pass", "errors=0": "pass"})
            self.assertIs(rep["slo_pass"], True)
            for key, typ in self.SCHEMA.items():
                self.assertIn(key, rep)
                self.assertIsInstance(rep[key], typ, key)
            self.assertEqual(rep["schema"], "ringload-report")
            self.assertEqual(rep["schema_version"], 1)
            for k in ("p50", "p90", "p95", "p99", "p999", "max", "count"):
                self.assertIn(k, rep["latency_us"])
            self.assertIn("connect", rep["errors"])
            self.assertIsNone(rep["ack_latency_us"])
            lines = [l for l in rep["_spectrum"].splitlines() if l.strip() and not l.startswith("#")]
            self.assertGreater(len(lines), 20)
            # the 10% delayed by 200 ms break a p95 objective: exit 1, and the JSON says which failed
            code, rep, out = ringload(*common, "--slo", "p50<50ms,p95<200ms")
            self.assertEqual(code, 1, out)
            self.assertEqual(rep["slo"], {"p50<50ms": "pass", "p95<200ms": "fail"})
            self.assertIs(rep["slo_pass"], False)
            self.assertEqual(rep["exit_code"], 1)
        code, _, out = ringload("--url", url, "--slo", "p95 50ms")
        self.assertEqual(code, 2, out)


if __name__ == "__main__":
    unittest.main()
