#!/usr/bin/env python3
"""fresh_build.py: `./build.sh run` works on a machine that has none of the test packages.

Nothing is uninstalled. In a private mount namespace (unshare -m, as root):
  - every file that a test-only Debian package (build.sh's TEST_PACKAGES, nodejs, npm and
    clang's own packages) puts in a bin, include or library directory is hidden under an
    overlay whiteout: no cmocka.h, no jansson.h, no libcmocka.so, no clang, node or npm;
  - dpkg's database is replaced by a copy that no longer lists those packages;
  - apt-get is hidden too, so a `run` that wanted anything more would fail here instead of
    installing it.
The script checks that the hiding took (so it cannot pass by accident), then, in a fresh clone
of REV, runs `./build.sh run --version` and `./build.sh run` on a free loopback port and
waits for GET /health; it also checks that only the programs were built and that ringload
does not link libmongoc. Against a Makefile whose default target builds the cmocka tests,
the build stops at `cmocka.h: No such file or directory` and this test fails.

  tests/build/fresh_build.py [--rev REV]      (default HEAD; as root; seconds: the build is small)
"""
import argparse, os, shlex, shutil, socket, stat, subprocess, sys, tempfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# Where a build looks for programs, headers and libraries: files of test-only packages there
# are hidden. (Bookworm has merged /usr: /bin and /lib resolve into /usr.)
HIDDEN_DIRS = ["/usr/bin", "/usr/sbin", "/usr/include", "/usr/lib/x86_64-linux-gnu",
               "/usr/lib/x86_64-linux-gnu/pkgconfig", "/usr/share/pkgconfig", "/usr/lib/llvm-14"]
EXTRA_TEST_ONLY = ["nodejs", "npm", "clang-14", "libclang-common-14-dev", "libclang-cpp14"]
MUST_BE_HIDDEN = ["/usr/include/cmocka.h", "/usr/include/jansson.h"]
MUST_NOT_RUN = ["clang", "node", "npm", "apt-get"]


def fail(msg):
    print(f"fresh_build: FAIL: {msg}")
    sys.exit(1)


def packages(*args):
    out = subprocess.run([os.path.join(ROOT, "build.sh"), "deps", "--print", *args], check=True,
                         capture_output=True, text=True).stdout
    return out.split()


def installed(names):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *names],
                         capture_output=True, text=True).stdout
    return sorted({line.split()[0] for line in out.splitlines() if line.endswith("install ok installed")})


def owned_files(pkgs):
    out = subprocess.run(["dpkg", "-L", *pkgs], capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if p.startswith("/")]


def whiteouts(pkgs, keep):
    """{directory: [names]} to hide: entries of test-only packages in HIDDEN_DIRS, except
    those a package of `keep` also owns (a directory shared with the build, say)."""
    by_dir = {}
    for path in owned_files(pkgs):
        d = os.path.realpath(os.path.dirname(path))
        if d in HIDDEN_DIRS and os.path.lexists(os.path.join(d, os.path.basename(path))):
            by_dir.setdefault(d, set()).add(os.path.basename(path))
    kept = {os.path.realpath(p) for p in owned_files(keep)}
    return {d: sorted(n for n in names if os.path.join(d, n) not in kept) for d, names in by_dir.items()}


def filtered_dpkg_status(hidden, dest):
    """dpkg's status file without the stanzas of the hidden packages."""
    with open("/var/lib/dpkg/status") as f:
        stanzas = f.read().split("\n\n")
    gone = {f"Package: {p}" for p in hidden}
    keep = [s for s in stanzas if s.split("\n", 1)[0] not in gone]
    with open(dest, "w") as f:
        f.write("\n\n".join(keep))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="HEAD")
    args = ap.parse_args()
    if os.geteuid() != 0:
        fail("needs root (a private mount namespace)")
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", args.rev], check=True, capture_output=True,
                         text=True).stdout.strip()

    build_pkgs = packages()
    test_only = sorted(set(packages("--test")) - set(build_pkgs) | set(EXTRA_TEST_ONLY))
    for p in ("libcmocka-dev", "libjansson-dev", "clang", "nodejs", "npm"):
        if p in build_pkgs:
            fail(f"./build.sh run would install the test package {p}")
    hidden = installed(test_only)
    print(f"fresh_build: hiding {len(hidden)} test-only packages: {' '.join(hidden)}")

    work = tempfile.mkdtemp(prefix="rr-fresh-")
    try:
        wh = whiteouts(hidden, installed(build_pkgs))
        # apt-get is no test package, but a `run` that still wanted to install must fail here
        wh.setdefault("/usr/bin", []).append("apt-get")
        mounts = []
        for i, (d, names) in enumerate(sorted(wh.items())):
            layer = os.path.join(work, f"whiteout-{i}")
            os.makedirs(layer)
            for n in names:
                os.mknod(os.path.join(layer, n), 0o600 | stat.S_IFCHR, os.makedev(0, 0))   # overlay whiteout
            mounts.append(f"mount -t overlay overlay -o lowerdir={layer}:{d} {d}")
        status = os.path.join(work, "dpkg-status")
        filtered_dpkg_status(hidden, status)
        mounts.append(f"mount --bind {status} /var/lib/dpkg/status")

        port = free_port()
        clone = os.path.join(work, "clone")
        q = shlex.quote
        checks = [f"test ! -e {p} || {{ echo 'fresh_build: {p} still visible'; exit 1; }}" for p in MUST_BE_HIDDEN]
        checks += [f"! command -v {c} >/dev/null || {{ echo 'fresh_build: {c} still runs'; exit 1; }}" for c in MUST_NOT_RUN]
        checks += [f"! dpkg-query -W -f='${{Status}}' {p} 2>/dev/null | grep -q 'install ok installed' || "
                   f"{{ echo 'fresh_build: dpkg still lists {p}'; exit 1; }}" for p in hidden]
        script = "\n".join([
            "set -euo pipefail",
            *mounts,
            *checks,
            f"git clone -q {q(ROOT)} {q(clone)}",
            f"cd {q(clone)} && git checkout -q {rev}",
            # 1. the README's first command, as a smoke start: build, print the version, exit
            "./build.sh run --version > version.out 2> build.err || { tail -20 build.err; exit 1; }",
            "grep -q '^ringroom ' version.out || { echo 'fresh_build: no version line'; cat version.out; exit 1; }",
            # 2. only the programs were built; ringload has no libmongoc
            "test -x build/ringroom && test -x build/ringload",
            "test ! -e build/tests || { echo 'fresh_build: the default build built the tests'; exit 1; }",
            "! ldd build/ringload | grep -q mongoc || { echo 'fresh_build: ringload links libmongoc'; exit 1; }",
            # 3. the README's first command, serving: /health answers 200
            f"RINGROOM_LISTEN=127.0.0.1:{port} ./build.sh run --data-dir {q(work)}/data --threads 1 > server.log 2>&1 &",
            "pid=$!",
            "ok=0",
            "for i in $(seq 1 100); do",
            f"  if {{ exec 3<>/dev/tcp/127.0.0.1/{port}; }} 2>/dev/null; then",
            "    printf 'GET /health HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3",
            "    head -1 <&3 | grep -q ' 200 ' && ok=1; exec 3<&-",
            "    [[ $ok == 1 ]] && break",
            "  fi",
            "  kill -0 $pid 2>/dev/null || break",
            "  sleep 0.1",
            "done",
            "kill -TERM $pid 2>/dev/null; wait $pid; rc=$?",
            "[[ $ok == 1 ]] || { echo 'fresh_build: /health never answered 200'; tail -20 server.log; exit 1; }",
            "[[ $rc == 0 ]] || { echo \"fresh_build: the server exited $rc after SIGTERM\"; tail -20 server.log; exit 1; }",
            "echo \"fresh_build: $(cat version.out) built and served /health with the test packages hidden\"",
        ])
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", script], timeout=600)
        if r.returncode != 0:
            fail(f"./build.sh run in a fresh clone of {rev[:12]} with the test packages hidden (exit {r.returncode})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("fresh_build: 1 passed, 0 failed")


if __name__ == "__main__":
    main()
