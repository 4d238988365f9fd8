#!/usr/bin/env python3
"""Runs the real ringroom binary under seccomp filters built from k8s/seccomp/ringroom.json,
with libseccomp (python3-seccomp), no container runtime needed:

 1. the profile as shipped: ringroom starts, /health answers 200, a WebSocket on /echo echoes,
    SIGTERM drains and it exits 0;
 2. the same profile without the three io_uring syscalls (what containerd >= 2.0's and
    Docker >= 25's RuntimeDefault do: EPERM): ringroom exits non-zero, promptly, saying
    "io_uring_queue_init: Operation not permitted";
 3. the containers-common default profile (CRI-O, podman), if installed: ENOSYS, same exit.

Also checks the profile's shape: only OCI LinuxSeccomp keys (containerd reads a Localhost
profile straight into that struct and ignores anything else), default action ERRNO, the
io_uring syscalls allowed unconditionally, no dangerous syscall allowed.

  check_seccomp.py PROFILE.json RINGROOM_BIN
"""
import asyncio, json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request

import seccomp

# set in __main__ (scratch_image.py imports build_filter from here)
PROFILE = BIN = DATA = None
HAS_DATA_DIR = False
IO_URING = {"io_uring_setup", "io_uring_enter", "io_uring_register"}
OPS = {"SCMP_CMP_EQ": seccomp.EQ, "SCMP_CMP_NE": seccomp.NE, "SCMP_CMP_LT": seccomp.LT,
       "SCMP_CMP_LE": seccomp.LE, "SCMP_CMP_GT": seccomp.GT, "SCMP_CMP_GE": seccomp.GE,
       "SCMP_CMP_MASKED_EQ": seccomp.MASKED_EQ}
failures = []


def fail(msg):
    print("FAIL", msg)
    failures.append(msg)


def ok(msg):
    print("ok  ", msg)


def build_filter(profile, drop=()):
    dflt = profile["defaultAction"]
    assert dflt == "SCMP_ACT_ERRNO", dflt
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(profile.get("defaultErrnoRet", 1)))
    for rule in profile["syscalls"]:
        inc = rule.get("includes") or {}
        if inc.get("caps") or inc.get("minKernel"):
            continue                                   # we run with no capabilities
        if (rule.get("excludes") or {}).get("caps") and rule["action"] == "SCMP_ACT_ERRNO":
            continue
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        act = {"SCMP_ACT_ALLOW": seccomp.ALLOW}.get(rule["action"])
        if act is None:
            act = seccomp.ERRNO(rule.get("errnoRet", 1))
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], *( [a["valueTwo"]] if a["op"] == "SCMP_CMP_MASKED_EQ" else []))
                for a in (rule.get("args") or [])]
        for name in rule["names"]:
            if name in drop:
                continue
            try:
                f.add_rule(act, name, *args)
            except (RuntimeError, ValueError, OSError):
                pass                                   # not a syscall on this arch: runc skips it too
    return f


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def start(filt, port, log):
    data = ["--data-dir", os.path.join(DATA, str(port))] if HAS_DATA_DIR else []
    return subprocess.Popen([BIN, "--listen", f"127.0.0.1:{port}", "--threads", "2", "--drain-timeout", "2s", *data],
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=filt.load,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(BIN))) or ".")


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


async def echo(port):
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{port}/echo", open_timeout=5) as ws:
        await ws.send("seccomp says hi")
        return await asyncio.wait_for(ws.recv(), 5)


def shape(profile):
    allowed_keys = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath",
                    "listenerMetadata", "syscalls"}
    extra = set(profile) - allowed_keys
    if extra:
        fail(f"profile has keys outside OCI LinuxSeccomp (containerd would ignore them): {extra}")
    for r in profile["syscalls"]:
        extra = set(r) - {"names", "action", "errnoRet", "args"}
        if extra:
            fail(f"syscall rule with non-OCI keys {extra}: {r['names'][:3]}")
    if profile.get("defaultAction") != "SCMP_ACT_ERRNO":
        fail(f"defaultAction {profile.get('defaultAction')} is not an allowlist")
    uncond = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")
              for n in r["names"]}
    if not IO_URING <= uncond:
        fail(f"io_uring syscalls not allowed: {IO_URING - uncond}")
    danger = uncond & {"kexec_load", "init_module", "finit_module", "bpf", "perf_event_open", "open_by_handle_at",
                       "iopl", "ioperm", "reboot", "swapon", "clock_settime", "add_key", "request_key",
                       "mount", "umount2", "pivot_root", "unshare", "setns", "ptrace"}
    if danger:
        fail(f"profile allows {danger}")
    if "SCMP_ARCH_X86_64" not in profile.get("architectures", []):
        fail("profile lacks SCMP_ARCH_X86_64")
    if not failures:
        ok(f"profile shape: OCI keys only, ERRNO default, {len(uncond)} syscalls allowed incl. io_uring_*")


def main():
    profile = json.load(open(PROFILE))
    shape(profile)
    os.makedirs("tests/artifacts/logs", exist_ok=True)

    # 1. shipped profile: ringroom works
    port = free_port()
    with open(f"tests/artifacts/logs/seccomp-allowed-{port}.log", "wb+") as log:
        p = start(build_filter(profile), port, log)
        try:
            deadline, status = time.time() + 10, None
            while time.time() < deadline and p.poll() is None:
                try:
                    status, _ = get(port, "/health")
                    break
                except OSError:
                    time.sleep(0.05)
            if status != 200:
                log.seek(0)
                fail(f"under the shipped profile ringroom did not serve /health (status {status}, "
                     f"exit {p.poll()}): {log.read().decode(errors='replace')[-800:]}")
            else:
                ok("shipped profile: /health 200")
                try:
                    got = asyncio.run(echo(port))
                    if got == "seccomp says hi":
                        ok("shipped profile: WebSocket /echo round trip")
                    else:
                        fail(f"/echo answered {got!r}")
                except Exception as e:  # noqa: BLE001
                    fail(f"/echo under the shipped profile: {e!r}")
                st, body = get(port, "/metrics")
                (ok if st == 200 else fail)(f"shipped profile: /metrics status {st}")
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            (ok if rc == 0 else fail)(f"shipped profile: SIGTERM drain exit code {rc}")

    # the preStop hook runs /bin/sleep inside the container, under the same profile
    r = subprocess.run(["/bin/sleep", "0.1"], preexec_fn=build_filter(profile).load, timeout=10)
    (ok if r.returncode == 0 else fail)(f"shipped profile: preStop /bin/sleep exit {r.returncode}")

    # 2./3. io_uring blocked: a clear error, promptly
    cases = [("RuntimeDefault-like (io_uring removed, EPERM)", build_filter(profile, drop=IO_URING),
              "io_uring_queue_init: Operation not permitted")]
    cc = "/usr/share/containers/seccomp.json"
    if os.path.exists(cc):
        cases.append(("containers-common default (CRI-O/podman, ENOSYS)", build_filter(json.load(open(cc))),
                      "io_uring_queue_init: Function not implemented"))
    for name, filt, want in cases:
        port = free_port()
        with open(f"tests/artifacts/logs/seccomp-blocked-{port}.log", "wb+") as log:
            t0 = time.time()
            p = start(filt, port, log)
            try:
                rc = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                fail(f"{name}: ringroom still running after 10s")
                continue
            log.seek(0)
            out = log.read().decode(errors="replace")
            if rc != 0 and want in out:
                ok(f"{name}: exit {rc} after {time.time() - t0:.2f}s: "
                   + next(line for line in out.splitlines() if want in line).split("  ", 1)[-1].strip())
            else:
                fail(f"{name}: exit {rc}, expected non-zero with {want!r}; output: {out[-600:]}")

    shutil.rmtree(DATA, ignore_errors=True)
    print(f"check_seccomp: {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    PROFILE, BIN = sys.argv[1], sys.argv[2]
    DATA = tempfile.mkdtemp(prefix="ringroom-seccomp-")
    HAS_DATA_DIR = "--data-dir" in subprocess.run([BIN, "--help"], capture_output=True, text=True).stdout
    main()
