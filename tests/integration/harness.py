"""harness.py: start the real ringroom binary on a free loopback port for a test, and stop it.

Every integration test goes through Server: it picks a free port on 127.0.0.1, starts the
binary named by $RINGROOM_BIN (default build/ringroom), waits for /health, and on stop checks
the exit code and that stderr holds no sanitizer report. Logs go to tests/artifacts/logs/.
Runs under Debian's /usr/bin/python3 (python3-websockets).
"""
import atexit
import json
import os
import signal
import socket
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")


def binary(name="ringroom"):
    env = "RINGROOM_BIN" if name == "ringroom" else "RINGLOAD_BIN"
    path = os.environ.get(env) or os.path.join(ROOT, "build", name)
    if not os.path.exists(path):
        raise RuntimeError(f"{path} not built (run ./build.sh build)")
    return path


def wait_for(probe, timeout=10, every=0.02):
    """Calls probe() until it returns something true or `timeout` seconds passed; returns its
    last value (the caller asserts on it). For states a server reaches shortly after an event
    it does not announce, where a fixed sleep would be a guess at a loaded machine's speed."""
    deadline = time.time() + timeout
    while True:
        v = probe()
        if v or time.time() > deadline:
            return v
        time.sleep(every)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ringroom process. Use as a context manager or call start()/stop()."""

    def __init__(self, *args, name="ringroom", env=None, port=None, start_timeout=15):
        self.args = list(args)
        # Each server gets its own op log directory (one server per directory; no state
        # carried between tests) unless the test chose one.
        self.tmp_data = None
        if not any(a == "--data-dir" or a.startswith("--data-dir=") for a in self.args) \
                and "RINGROOM_DATA_DIR" not in (env or {}):
            self.tmp_data = tempfile.mkdtemp(prefix="ringroom-data-")
            atexit.register(shutil.rmtree, self.tmp_data, True)
            self.args += ["--data-dir", self.tmp_data]
        self.port = port or free_port()
        self.env = dict(os.environ, **(env or {}))
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.name = name
        self.start_timeout = start_timeout
        self.proc = None
        os.makedirs(os.path.join(ARTIFACTS, "logs"), exist_ok=True)
        self.log_path = os.path.join(ARTIFACTS, "logs", f"{name}-{self.port}.log")

    @property
    def host(self):
        return "127.0.0.1"

    def url(self, path="/", scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def ws_url(self, path="/ws"):
        return self.url(path, "ws")

    def start(self):
        self.log = open(self.log_path, "wb")
        cmd = [binary(), "--listen", f"127.0.0.1:{self.port}", *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT)
        deadline = time.time() + self.start_timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ringroom exited with {self.proc.returncode}: {self.output()}")
            try:
                status, _ = self.get("/health", timeout=1)
                if status == 200:
                    return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ringroom did not answer /health within {self.start_timeout}s: {self.output()}")

    def get(self, path, timeout=5):
        """GET a path; returns (status, body bytes) for any status."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path, timeout=5):
        status, body = self.get(path, timeout)
        return status, json.loads(body) if body else None

    def output(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=20, expect_code=0):
        """Stops the server (SIGTERM unless told); returns its exit code. Fails on a sanitizer
        report or a bad code."""
        sig = signal.SIGTERM if sig is None else sig
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"ringroom did not exit within {timeout}s of {sig!r}")
        self.log.close()
        code = self.proc.returncode
        out = self.output()
        for marker in SANITIZER_MARKERS:
            if marker in out:
                raise AssertionError(f"sanitizer report in ringroom output:\n{out[-6000:]}")
        if expect_code is not None and code != expect_code:
            raise AssertionError(f"ringroom exited with {code}, expected {expect_code}:\n{out[-3000:]}")
        self.proc = None
        return code

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()
        return False


def raw_http(port, data, timeout=5, read_until_close=True):
    """Sends raw bytes and returns everything the server answered (until close or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)
