#!/usr/bin/env python3
"""The container image's runtime half, offline, on any machine: no base image, no registry.

 1. a root filesystem holding build/ringroom, exactly the libraries `ldd build/ringroom` lists
    and the dynamic loader (PT_INTERP), /etc/passwd and /etc/group with user ringroom (10001),
    an empty /var/lib/ringroom owned by 10001 (the op log's parent), /tmp, and web/ in
    /usr/share/ringroom/web, as a tar with explicit owners and modes;
 2. `podman build --storage-driver vfs --network none` of `FROM scratch` + `ADD rootfs.tar /`
    with the Dockerfile's runtime settings (USER 10001:10001, ENV, EXPOSE, STOPSIGNAL,
    ENTRYPOINT), in a private storage (--root/--runroot/--tmpdir and a private
    containers.conf/storage.conf under one temp dir), so the machine's own podman storage is
    not touched; the image's config and file list are checked (nothing but the above);
 3. `podman run --runtime runc --ulimit nofile=20000:20000 --security-opt
    seccomp=k8s/seccomp/ringroom.json --network host IMAGE --version`, trying cgroup options
    one after the other (and crun last) until one works; with a working one the server is run
    the same way on a free 127.0.0.1 port: /health 200, / serves index.html, the container
    process is uid 10001 with nofile 20000 and a seccomp filter (read from the host's /proc),
    `podman stop` drains it, exit 0;
 4. if no `podman run` variant works (this machine: "cgroups in hybrid mode not supported"),
    every attempt's error is printed and the image's own filesystem (`podman image mount`,
    copied out) runs in a chroot as uid 10001, with nofile 20000 and the seccomp profile loaded
    through libseccomp (same rules as check_seccomp.py): --version, /health, /, SIGTERM exit 0.
    The step still passes: the image's files (binary, libraries, loader, user, data dir) are
    what is proven; namespaces, cgroups and the runtime's seccomp handling are not.
Everything is bounded in time, loopback-only, and removed at the end (image, storage, mounts).
Prints one line per check and "scratch-image: N passed, M failed".

  scratch_image.py [--bin build/ringroom] [--profile k8s/seccomp/ringroom.json] [--also-chroot]
"""
import argparse, io, json, os, resource, shutil, signal, socket, subprocess, sys, tarfile, tempfile, time
import urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
UID = GID = 10001
IMAGE = "localhost/ringroom-scratch:deploy-test"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} scratch-image: {name}" + (f": {detail}" if detail and not ok else ""),
          flush=True)
    return ok


def info(msg):
    print(f"     scratch-image: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=2):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_health(port, proc, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        try:
            st, _ = get(port, "/health", 1)
            if st == 200:
                return 200
        except OSError:
            pass
        time.sleep(0.1)
    return None


def tail(text, n=6):
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


# ---------------------------------------------------------------- 1. the root filesystem

def ldd_files(binary):
    """The files `ldd` says the binary loads, and the loader named in PT_INTERP."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=True).stdout
    libs, loader = [], None
    for ln in out.splitlines():
        w = ln.split()
        if "=>" in w:
            i = w.index("=>")
            if i + 1 < len(w) and w[i + 1].startswith("/"):
                libs.append(w[i + 1])
            elif "vdso" not in w[0]:
                raise RuntimeError(f"ldd: unresolved library: {ln.strip()}")
        elif w and w[0].startswith("/"):
            loader = w[0]
    interp = subprocess.run(["readelf", "-p", ".interp", binary], capture_output=True, text=True).stdout
    pt = next((w for ln in interp.splitlines() for w in ln.split() if w.startswith("/")), None)
    if pt and pt != loader:
        raise RuntimeError(f"PT_INTERP {pt} is not ldd's loader {loader}")
    return libs, loader


class RootTar:
    """A tar of a root filesystem with explicit owners and modes (ADD keeps both)."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.names = {}

    def _info(self, name, kind, mode, uid=0, gid=0):
        ti = tarfile.TarInfo(name.lstrip("/"))
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, int(time.time())
        ti.uname = "ringroom" if uid == UID else "root"
        ti.gname = "ringroom" if gid == GID else "root"
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0):
        name = "/" + name.strip("/")
        if name == "/" or name in self.names:
            return
        self.parents(name)
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        self.names[name] = "dir"

    def parents(self, name):
        parent = os.path.dirname(name)
        if parent != "/" and parent not in self.names:
            self.dir(parent)

    def symlink(self, name, target):
        if name in self.names:
            return
        self.parents(name)
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        self.names[name] = "symlink"

    def file(self, name, data, mode=0o644):
        self.parents(name)
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        self.names[name] = "file"

    def host_path(self, path):
        """Adds host file PATH at the same path, the directory symlinks on the way included
        (merged /usr: /lib -> usr/lib), the file itself dereferenced."""
        parts = path.strip("/").split("/")
        cur = ""
        for p in parts[:-1]:
            cur += "/" + p
            if os.path.islink(cur):
                target = os.readlink(cur)
                self.symlink(cur, target)
                cur = os.path.normpath(os.path.join(os.path.dirname(cur), target))
                if not cur.startswith("/"):
                    cur = "/" + cur
            else:
                self.dir(cur)
        dest = cur + "/" + parts[-1]
        with open(path, "rb") as f:
            self.file(dest, f.read(), os.stat(path).st_mode & 0o777)
        return dest

    def close(self):
        self.tar.close()
        return self.buf.getvalue()


def make_rootfs(binary, web):
    libs, loader = ldd_files(binary)
    t = RootTar()
    t.dir("/etc")
    t.file("/etc/passwd", b"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                          b"ringroom:x:10001:10001:ringroom:/var/lib/ringroom:/usr/sbin/nologin\n")
    t.file("/etc/group", b"root:x:0:\nringroom:x:10001:\n")
    t.dir("/tmp", 0o1777)
    t.dir("/var/lib/ringroom", 0o750, UID, GID)
    with open(binary, "rb") as f:
        t.file("/usr/bin/ringroom", f.read(), 0o755)
    placed = [t.host_path(p) for p in libs + [loader]]
    nweb = 0
    for d, _, files in os.walk(web):
        rel = os.path.relpath(d, web)
        t.dir(os.path.normpath(os.path.join("/usr/share/ringroom/web", rel)))
        for fn in sorted(files):
            with open(os.path.join(d, fn), "rb") as f:
                t.file(os.path.normpath(os.path.join("/usr/share/ringroom/web", rel, fn)), f.read())
            nweb += 1
    return t.close(), libs, loader, placed, nweb, t.names


CONTAINERFILE = """\
# generated by tests/deploy/scratch_image.py: the Dockerfile's runtime stage, on scratch
FROM scratch
ADD rootfs.tar /
ENV RINGROOM_LISTEN=0.0.0.0:8080 \\
    RINGROOM_WEB_DIR=/usr/share/ringroom/web \\
    RINGROOM_DATA_DIR=/var/lib/ringroom/data
USER 10001:10001
WORKDIR /var/lib/ringroom
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/ringroom"]
"""


# ---------------------------------------------------------------- 2./3. podman, private storage

class Podman:
    def __init__(self, tmp):
        self.tmp = tmp
        d = {k: os.path.join(tmp, k) for k in ("graphroot", "runroot", "libpod-tmp", "tmp", "volumes")}
        for p in d.values():
            os.makedirs(p, mode=0o700)
        with open(os.path.join(tmp, "storage.conf"), "w") as f:
            f.write(f'[storage]\ndriver = "vfs"\ngraphroot = "{d["graphroot"]}"\nrunroot = "{d["runroot"]}"\n')
        # only this file (no /etc or /usr/share containers.conf): file locks in the temp dir
        # instead of the shared /dev/shm segment, no events, no journald
        with open(os.path.join(tmp, "containers.conf"), "w") as f:
            f.write(f'[engine]\nevents_logger = "none"\nlock_type = "file"\ntmp_dir = "{d["libpod-tmp"]}"\n'
                    f'volume_path = "{d["volumes"]}"\n')
        self.env = dict(os.environ, CONTAINERS_STORAGE_CONF=os.path.join(tmp, "storage.conf"),
                        CONTAINERS_CONF=os.path.join(tmp, "containers.conf"), TMPDIR=d["tmp"])
        self.base = ["podman", "--root", d["graphroot"], "--runroot", d["runroot"], "--storage-driver", "vfs",
                     "--tmpdir", d["libpod-tmp"]]

    def cmd(self, args, glob=()):
        return [*self.base, *glob, *args]

    def run(self, args, glob=(), timeout=120, **kw):
        try:
            return subprocess.run(self.cmd(args, glob), capture_output=True, text=True, timeout=timeout,
                                  env=self.env, stdin=subprocess.DEVNULL, **kw)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, (e.stdout or b"").decode(errors="replace")
                                               if isinstance(e.stdout, bytes) else (e.stdout or ""),
                                               f"timed out after {timeout}s")

    def popen(self, args, glob=(), **kw):
        return subprocess.Popen(self.cmd(args, glob), env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def run_attempts(profile):
    """`podman run` variants, tried in this order until one runs `ringroom --version`.

    Rootful podman lowers its own RLIMIT_NPROC to 32768 (strace: setrlimit(RLIMIT_NPROC,
    32*1024)), so conmon and the runtime start with hard nproc 32768, and then, unless told
    otherwise, asks the runtime to set nproc to 1048576 in the container. Raising a hard limit
    needs CAP_SYS_RESOURCE, which root on some machines (this Firecracker VM) does not have:
    runc fails with "error setting rlimit type 6: operation not permitted", crun with
    "setrlimit `RLIMIT_NPROC`: Operation not permitted". From attempt 2 on, nproc is pinned
    to min(this process's hard limit, 32768)."""
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    common = ["--rm", "--pull", "never", "--ulimit", "nofile=20000:20000", "--security-opt",
              f"seccomp={profile}", "--network", "host"]
    pin = ["--ulimit", f"nproc={nproc}:{nproc}"]
    runc, cgfs = ["--runtime", "runc"], ["--cgroup-manager", "cgroupfs"]
    return [
        ("runc", [], runc + common),
        (f"runc, nproc {nproc}", [], runc + common + pin),
        (f"runc --cgroup-manager cgroupfs, nproc {nproc}", cgfs, runc + common + pin),
        (f"runc --cgroup-manager cgroupfs --cgroupns host, nproc {nproc}", cgfs,
         runc + common + pin + ["--cgroupns", "host"]),
        (f"runc --cgroups disabled, nproc {nproc}", cgfs, runc + common + pin + ["--cgroups", "disabled"]),
        (f"crun --cgroups disabled, nproc {nproc}", cgfs, ["--runtime", "crun"] + common + pin + ["--cgroups", "disabled"]),
        (f"crun, nproc {nproc}", cgfs, ["--runtime", "crun"] + common + pin),
    ]


def proc_facts(pid):
    """uid, nofile limits and seccomp mode of a host pid."""
    st = open(f"/proc/{pid}/status").read()
    uid = next(ln.split()[1] for ln in st.splitlines() if ln.startswith("Uid:"))
    sec = next((ln.split()[1] for ln in st.splitlines() if ln.startswith("Seccomp:")), "?")
    lim = next(ln for ln in open(f"/proc/{pid}/limits").read().splitlines() if ln.startswith("Max open files"))
    return uid, lim.split()[3:5], sec


def container_server(pm, glob, args, desc):
    """The server in a container that worked for --version: /health, /, process facts, stop."""
    port, name = free_port(), f"ringroom-scratch-{os.getpid()}"
    # like the Deployment: read-only root, an emptyDir-like volume (owned by 10001) on /var/lib/ringroom
    vol = os.path.join(pm.tmp, "data-volume")
    os.makedirs(vol, mode=0o750)
    os.chown(vol, UID, GID)
    p = pm.popen(["run", "--name", name, *args, "--read-only", "--volume", f"{vol}:/var/lib/ringroom:rw",
                  "-e", f"RINGROOM_LISTEN=127.0.0.1:{port}",
                  "-e", "RINGROOM_THREADS=2", "-e", "RINGROOM_DRAIN_TIMEOUT=2s", IMAGE], glob)
    try:
        st = wait_health(port, p, 30)
        check(f"podman run ({desc}) --read-only, volume on /var/lib/ringroom: ringroom serves GET /health on "
              f"127.0.0.1:{port}", st == 200,
              f"status {st}, podman exit {p.poll()}")
        if st == 200:
            s2, body = get(port, "/")
            check("podman run: / serves the image's index.html", s2 == 200 and b"<" in body, f"status {s2}")
            ins = pm.run(["inspect", "--format", "{{.State.Pid}}", name], glob, timeout=30)
            try:
                pid = int(ins.stdout.strip())
                uid, nofile, sec = proc_facts(pid)
                check("podman run: container process uid 10001, nofile 20000, seccomp filter on",
                      uid == "10001" and nofile == ["20000", "20000"] and sec == "2",
                      f"uid {uid}, nofile {nofile}, Seccomp: {sec}")
                own = [n for n in ("pid", "mnt", "ipc", "uts")
                       if os.readlink(f"/proc/{pid}/ns/{n}") != os.readlink(f"/proc/self/ns/{n}")]
                cg = [ln.split(":", 2)[2] for ln in open(f"/proc/{pid}/cgroup").read().splitlines()
                      if ln.split(":")[1] in ("memory", "pids")]
                check(f"podman run: own {'/'.join(own)} namespaces (network: host), cgroup {' '.join(sorted(set(cg)))}",
                      own == ["pid", "mnt", "ipc", "uts"], f"own namespaces {own}, cgroups {cg}")
            except (ValueError, OSError, StopIteration, IndexError) as e:
                check("podman run: container process facts", False, f"{e!r} {ins.stderr.strip()}")
        stop = pm.run(["stop", "--time", "15", name], glob, timeout=40)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        check("podman stop: SIGTERM drains, container exit 0", p.returncode == 0,
              f"exit {p.returncode}; stop: {tail(stop.stderr)}; output: {tail(out, 4)}")
        check("podman run: the op log was written to the volume on /var/lib/ringroom/data",
              os.path.isdir(os.path.join(vol, "data")), f"{os.listdir(vol)}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        pm.run(["rm", "--force", "--time", "0", name], glob, timeout=60)


# ---------------------------------------------------------------- 4. fallback: the image's files

def chroot_preexec(root, profile):
    from check_seccomp import build_filter
    filt = build_filter(json.load(open(profile)))

    def pre():
        os.chroot(root)
        os.chdir("/var/lib/ringroom")
        resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
        os.setgroups([])
        os.setgid(GID)
        os.setuid(UID)
        filt.load()
    return pre


def extract_image(pm, tmp):
    """The image's filesystem copied out of the private storage: `podman image mount` (root)
    and cp -a, or else `podman create` + `podman export`. Returns the directory or None."""
    rootfs = os.path.join(tmp, "image-rootfs")
    os.makedirs(rootfs)
    m = pm.run(["image", "mount", IMAGE], timeout=60)
    if m.returncode == 0 and os.path.isdir(m.stdout.strip()):
        how = "podman image mount + cp -a"
        r = subprocess.run(["cp", "-a", m.stdout.strip() + "/.", rootfs + "/"], capture_output=True, text=True,
                           timeout=60)
        pm.run(["image", "unmount", IMAGE], timeout=60)
        ok, err = r.returncode == 0, r.stderr
    else:
        info(f"podman image mount failed ({tail(m.stderr)}); using podman create + podman export")
        how = "podman create + podman export"
        c = pm.run(["create", "--name", "ringroom-scratch-export", IMAGE], timeout=60)
        e = pm.run(["export", "-o", os.path.join(tmp, "export.tar"), "ringroom-scratch-export"], timeout=60)
        pm.run(["rm", "--force", "ringroom-scratch-export"], timeout=60)
        ok, err = c.returncode == 0 and e.returncode == 0, c.stderr + e.stderr
        if ok:
            x = subprocess.run(["tar", "-C", rootfs, "--numeric-owner", "-xpf", os.path.join(tmp, "export.tar")],
                               capture_output=True, text=True, timeout=60)
            ok, err = x.returncode == 0, x.stderr
    return rootfs if check(f"the image's filesystem copied out of the storage ({how})", ok, tail(err)) else None


def fallback(rootfs, profile):
    pre = chroot_preexec(rootfs, profile)
    env = {"RINGROOM_LISTEN": "0.0.0.0:8080", "RINGROOM_WEB_DIR": "/usr/share/ringroom/web",
           "RINGROOM_DATA_DIR": "/var/lib/ringroom/data"}
    v = subprocess.run(["/usr/bin/ringroom", "--version"], preexec_fn=pre, env=env, capture_output=True, text=True,
                       timeout=10)
    check("fallback: chroot as uid 10001 under the seccomp profile, nofile 20000: ringroom --version",
          v.returncode == 0 and v.stdout.startswith("ringroom "), f"{v.stdout.strip()!r} exit {v.returncode} "
                                                                   f"{tail(v.stderr)}")
    port = free_port()
    env.update(RINGROOM_LISTEN=f"127.0.0.1:{port}", RINGROOM_THREADS="2", RINGROOM_DRAIN_TIMEOUT="2s")
    p = subprocess.Popen(["/usr/bin/ringroom"], preexec_fn=pre, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        s = wait_health(port, p, 10)
        check(f"fallback: ringroom from the image serves GET /health on 127.0.0.1:{port}", s == 200,
              f"status {s}, exit {p.poll()}")
        if s == 200:
            s2, body = get(port, "/")
            check("fallback: / serves the image's index.html", s2 == 200 and b"<" in body, f"status {s2}")
            uid, nofile, sec = proc_facts(p.pid)
            check("fallback: process uid 10001, nofile 20000, seccomp filter on",
                  uid == "10001" and nofile == ["20000", "20000"] and sec == "2",
                  f"uid {uid}, nofile {nofile}, Seccomp: {sec}")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
    check("fallback: SIGTERM drains, exit 0", p.returncode == 0,
          f"exit {p.returncode}" + ("" if p.returncode == 0 else f": {tail(out.decode(errors='replace'))}"))
    data = os.path.join(rootfs, "var/lib/ringroom/data")
    check("fallback: the op log was written under the image's /var/lib/ringroom/data",
          os.path.isdir(data) and os.stat(data).st_uid == UID, f"exists: {os.path.isdir(data)}")


# ---------------------------------------------------------------- cleanup

def mounts_under(path):
    out = []
    for ln in open("/proc/self/mountinfo"):
        mp = ln.split()[4].replace("\\040", " ")
        if mp == path or mp.startswith(path + "/"):
            out.append(mp)
    return out


def procs_using(path):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                if path.encode() in open(f"/proc/{d}/cmdline", "rb").read():
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def cleanup(pm, tmp):
    pm.run(["rm", "--all", "--force", "--time", "0"], ["--cgroup-manager", "cgroupfs"], timeout=60)
    r = pm.run(["rmi", "--all", "--force"], timeout=60)
    left = [p for p in procs_using(tmp)]
    for pid in left:                                   # conmon or the container of this run
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for mp in sorted(mounts_under(tmp), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    check("cleanup: image removed, no process, no mount, no temp dir left",
          r.returncode == 0 and not procs_using(tmp) and not mounts_under(tmp) and not os.path.exists(tmp),
          f"rmi: {tail(r.stdout + r.stderr, 2)}; killed {left}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "ringroom"))
    ap.add_argument("--profile", default=os.path.join(ROOT, "k8s", "seccomp", "ringroom.json"))
    ap.add_argument("--also-chroot", action="store_true",
                    help="run the chroot fallback even when podman run works (to test the fallback)")
    a = ap.parse_args()
    binary, profile = os.path.abspath(a.bin), os.path.abspath(a.profile)
    if os.geteuid() != 0:
        print("scratch-image: needs root (podman with a private root storage, chroot)")
        return 1
    os.makedirs(os.path.join(ROOT, "tests", "artifacts", "logs"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ringroom-scratch-")
    os.chmod(tmp, 0o755)                              # the container's uid 10001 walks the vfs layers
    pm = Podman(tmp)
    t0 = time.time()
    try:
        steps(pm, tmp, binary, profile, a.also_chroot)
    except Exception as e:  # noqa: BLE001
        check("scratch image checks ran to the end", False, repr(e))
    finally:
        cleanup(pm, tmp)
    print(f"scratch-image: {results.count(True)} passed, {results.count(False)} failed in {time.time() - t0:.1f}s",
          flush=True)
    return 1 if results.count(False) or not results else 0


def steps(pm, tmp, binary, profile, also_chroot=False):
    # 1. root filesystem + build context
    rootfs, libs, loader, placed, nweb, names = make_rootfs(binary, os.path.join(ROOT, "web"))
    ctx = os.path.join(tmp, "context")
    os.makedirs(ctx)
    open(os.path.join(ctx, "rootfs.tar"), "wb").write(rootfs)
    open(os.path.join(ctx, "Containerfile"), "w").write(CONTAINERFILE)
    info(f"ldd {os.path.relpath(binary, ROOT)}: {' '.join(libs)}; loader {loader}")
    info(f"image content: /usr/bin/ringroom, {' '.join(placed)}, /etc/passwd, /etc/group, "
         f"/var/lib/ringroom (10001, 0750), /tmp, {nweb} web files in /usr/share/ringroom/web")

    # 2. podman build, offline, private vfs storage
    ver = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    b = pm.run(["build", "--network", "none", "--format", "oci", "-f", os.path.join(ctx, "Containerfile"),
                "-t", IMAGE, ctx], timeout=180)
    with open(os.path.join(ROOT, "tests", "artifacts", "logs", "deploy-scratch-build.log"), "w") as f:
        f.write(b.stdout + b.stderr)
    if not check(f"{ver}: podman build --storage-driver vfs --network none FROM scratch (private root "
                 f"{tmp}/graphroot)", b.returncode == 0, f"exit {b.returncode}: {tail(b.stdout + b.stderr, 12)}"):
        return
    ins = json.loads(pm.run(["image", "inspect", IMAGE], timeout=60).stdout or "[{}]")[0]
    cfg = ins.get("Config", {})
    want = {"User": "10001:10001", "Entrypoint": ["/usr/bin/ringroom"], "StopSignal": "SIGTERM",
            "WorkingDir": "/var/lib/ringroom"}
    diff = {k: cfg.get(k) for k, v in want.items() if cfg.get(k) != v}
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    check(f"image config: USER 10001:10001, ENTRYPOINT, STOPSIGNAL, EXPOSE 8080, ENV "
          f"({ins.get('Size', 0) / 1e6:.1f} MB, {len(ins.get('RootFS', {}).get('Layers', []))} layer)",
          not diff and "8080/tcp" in (cfg.get("ExposedPorts") or {}) and
          env.get("RINGROOM_WEB_DIR") == "/usr/share/ringroom/web", f"{diff} {cfg.get('ExposedPorts')} {env}")
    rootfs_dir = extract_image(pm, tmp)
    if rootfs_dir:
        want_files = {n for n, k in names.items() if k == "file"}
        got = set()
        for d, _, fs in os.walk(rootfs_dir):
            for fn in fs:
                full = os.path.join(d, fn)
                if os.path.isfile(full) and not os.path.islink(full):
                    got.add("/" + os.path.relpath(full, rootfs_dir))
        check(f"image holds exactly {len(got)} files: /usr/bin/ringroom, the {len(libs)} ldd libraries, "
              f"the loader, /etc/passwd, /etc/group, {nweb} web files",
              got == want_files, f"extra {sorted(got - want_files)}, missing {sorted(want_files - got)}")
        st = os.stat(os.path.join(rootfs_dir, "var/lib/ringroom"))
        check("image's /var/lib/ringroom owned by 10001:10001, mode 0750; passwd has ringroom:10001",
              (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (UID, GID, 0o750) and
              ":10001:10001:" in open(os.path.join(rootfs_dir, "etc/passwd")).read(),
              f"{st.st_uid}:{st.st_gid} {oct(st.st_mode & 0o7777)}")

    # 3. podman run, runtime and cgroup options tried in turn
    if not shutil.which("runc"):
        info("runc is not installed (apt-get install runc; build.sh TEST_PACKAGES has it)")
    worked = None
    for i, (desc, glob, args) in enumerate(run_attempts(profile), 1):
        r = pm.run(["run", *args, IMAGE, "--version"], glob, timeout=90)
        line = " ".join(["podman", "--storage-driver", "vfs", *glob, "run", *args, "IMAGE", "--version"])
        if r.returncode == 0 and r.stdout.startswith("ringroom "):
            info(f"podman run attempt {i} ({desc}) works: `{line}` -> {r.stdout.strip()!r}")
            worked = (desc, glob, args)
            break
        info(f"podman run attempt {i} ({desc}) FAILED, exit {r.returncode}: `{line}`: "
             f"{tail(r.stderr + r.stdout, 3)}")
        pm.run(["rm", "--all", "--force", "--time", "0"], glob, timeout=60)
    if worked:
        check(f"podman run {worked[0]} --ulimit nofile=20000:20000 --security-opt seccomp=ringroom.json "
              f"--network host IMAGE --version", True)
        container_server(pm, worked[1], worked[2], worked[0])
    if worked and also_chroot and rootfs_dir:
        info("--also-chroot: the chroot fallback as well")
        fallback(rootfs_dir, profile)
    elif not worked:
        info("no podman run variant works on this machine (errors above): falling back to the image's "
             "own filesystem in a chroot")
        if rootfs_dir:
            fallback(rootfs_dir, profile)
        else:
            check("fallback: the image's filesystem is available", False, "see above")


if __name__ == "__main__":
    sys.exit(main())
