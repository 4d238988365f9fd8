#!/usr/bin/env python3
"""Checks a built ringroom image without running a container (podman cannot run containers on
the project's machines: crun refuses hybrid cgroups): its config (USER 10001, STOPSIGNAL,
EXPOSE 8080, HEALTHCHECK, ENTRYPOINT, ENV), its content (no compiler or -dev package; every
shared library resolves), and then the image's own filesystem is mounted and its ringroom
run in a chroot as uid 10001 with the image's environment on a free loopback port: /health
and / (the web files) answer, the image's HEALTHCHECK command succeeds inside the chroot,
SIGTERM drains with exit 0.

  check_image.py IMAGE      (as root: podman image mount, chroot)
"""
import json, os, signal, socket, subprocess, sys, time, urllib.request

IMAGE = sys.argv[1]
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} image: {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    info = json.loads(subprocess.run(["podman", "image", "inspect", IMAGE], capture_output=True, text=True,
                                     check=True).stdout)[0]
    cfg = info["Config"]
    check("USER 10001:10001", cfg.get("User") == "10001:10001", cfg.get("User"))
    check("STOPSIGNAL SIGTERM", cfg.get("StopSignal") == "SIGTERM", cfg.get("StopSignal"))
    check("EXPOSE 8080/tcp", "8080/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts"))
    check("ENTRYPOINT /usr/bin/ringroom", cfg.get("Entrypoint") == ["/usr/bin/ringroom"], cfg.get("Entrypoint"))
    hc = (info.get("Healthcheck") or cfg.get("Healthcheck") or {}).get("Test") or []
    check("HEALTHCHECK present (docker format)", hc[:1] == ["CMD"], hc)
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    check("ENV RINGROOM_LISTEN=0.0.0.0:8080", env.get("RINGROOM_LISTEN") == "0.0.0.0:8080", env)

    mounted = []
    mnt = subprocess.run(["podman", "image", "mount", IMAGE], capture_output=True, text=True, check=True).stdout.strip()
    try:
        def inroot(*cmd, **kw):
            return subprocess.run(["chroot", mnt, *cmd], capture_output=True, text=True, timeout=30, **kw)

        pk = inroot("dpkg-query", "-W", "-f", "${Package}\n").stdout.split()
        dev = [p for p in pk if p.endswith("-dev") or p in ("gcc", "gcc-12", "make", "build-essential", "clang")]
        check(f"runtime stage has no build tools ({len(pk)} packages)", not dev, dev)
        ldd = inroot("ldd", "/usr/bin/ringroom")
        check("every shared library resolves", ldd.returncode == 0 and "not found" not in ldd.stdout, ldd.stdout)
        check("web files present", os.path.exists(os.path.join(mnt, env.get("RINGROOM_WEB_DIR", "x").lstrip("/"),
                                                                "index.html")))

        # what the Deployment gives it: a read-only root (the image mount is read-only) and
        # emptyDirs on /var/lib/ringroom and /tmp
        for d in ("var/lib/ringroom", "tmp"):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0750,uid=10001,gid=10001", "tmpfs",
                            os.path.join(mnt, d)], check=True)
            mounted.append(os.path.join(mnt, d))
        port = free_port()
        run_env = {**env, "RINGROOM_LISTEN": f"127.0.0.1:{port}", "RINGROOM_THREADS": "2"}
        p = subprocess.Popen(["chroot", "--userspec=10001:10001", mnt, "/usr/bin/ringroom"], env=run_env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd="/")
        try:
            status = None
            deadline = time.time() + 10
            while time.time() < deadline and p.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                        status = r.status
                        break
                except OSError:
                    time.sleep(0.05)
            check("ringroom from the image serves /health as uid 10001", status == 200, f"exit {p.poll()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read()
                check("/ serves the image's index.html", r.status == 200 and b"<" in body)
            except OSError as e:
                check("/ serves the image's index.html", False, repr(e))
            cmd = [x.replace("/8080", f"/{port}") for x in hc[1:]]
            r = subprocess.run(["chroot", "--userspec=10001:10001", mnt, *cmd], capture_output=True, text=True,
                               timeout=10, stdin=subprocess.DEVNULL) if cmd else None
            check("the image's HEALTHCHECK command succeeds in its own root", bool(r) and r.returncode == 0,
                  r.stderr if r else "no HEALTHCHECK command")
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                out, _ = p.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            check("SIGTERM drains, exit 0", p.returncode == 0, out.decode(errors="replace")[-500:])
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", m], capture_output=True)
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True)
    print(f"check_image: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
