#!/usr/bin/env python3
"""Checks the Dockerfile without a container runtime or a base image (neither Docker Hub nor
a working podman is available on the project's machines):

 lint   parse it as BuildKit would (parser directives, comments, line continuations, exec-form
        JSON), every instruction valid, ARG-before-FROM resolved, stage names unique, every
        COPY --from names an earlier stage, every COPY from the context has sources that exist
        and survive .dockerignore, the files copied from a stage are produced by that stage,
        bases are debian:bookworm*, the build stage installs build.sh's BUILD_PACKAGES, and the
        final stage has a numeric non-root USER, EXPOSE 8080 (= RINGROOM_LISTEN = the
        HEALTHCHECK port), STOPSIGNAL SIGTERM, a HEALTHCHECK with valid options, an ENTRYPOINT,
        RINGROOM_WEB_DIR where the web files are copied;
 run    (--run) execute the build stage's compile RUN on this Debian bookworm host, in a copy
        of the build context filtered by .dockerignore, with its /out redirected to a temp dir:
        the binary builds, runs --version, and the derived runtime package list is non-empty,
        installable here (apt-cache), and covers every shared library the binary needs.

  check_dockerfile.py [--run] [Dockerfile]
"""
import fnmatch, json, os, re, shlex, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
                "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
problems = []


def bad(msg):
    problems.append(msg)


def parse(path):
    """[(lineno, INSTRUCTION, rest)] following the Dockerfile reference's rules."""
    lines = open(path).read().split("\n")
    out, i, directives_done = [], 0, False
    while i < len(lines):
        raw = lines[i]
        s = raw.strip()
        if not directives_done and re.match(r"#\s*(syntax|escape|check)\s*=", s):
            i += 1
            continue
        directives_done = True
        if not s or s.startswith("#"):
            i += 1
            continue
        start, buf = i + 1, raw.rstrip()
        while buf.endswith("\\"):
            buf = buf[:-1]
            i += 1
            while i < len(lines) and (lines[i].strip().startswith("#") or not lines[i].strip()):
                i += 1                      # comments and empty lines inside a continuation
            if i >= len(lines):
                bad(f"line {start}: continuation runs past the end of the file")
                break
            buf += " " + lines[i].strip()
        i += 1
        m = re.match(r"\s*([A-Za-z]+)\s*(.*)", buf)
        out.append((start, m.group(1).upper(), m.group(2).strip()))
        if m.group(1).upper() not in INSTRUCTIONS:
            bad(f"line {start}: unknown instruction {m.group(1)}")
    return out


def dockerignore_patterns():
    p = os.path.join(ROOT, ".dockerignore")
    pats = []
    if os.path.exists(p):
        for ln in open(p):
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                neg = ln.startswith("!")
                pats.append((neg, os.path.normpath(ln.lstrip("!").lstrip("/"))))
    return pats


def ignored(rel, pats):
    rel = os.path.normpath(rel)
    parts = rel.split(os.sep)
    prefixes = [os.sep.join(parts[:k]) for k in range(1, len(parts) + 1)]
    result = False
    for neg, pat in pats:
        cands = [pat] + ([pat[3:]] if pat.startswith("**/") else [])
        hit = any(fnmatch.fnmatchcase(pre, c) or fnmatch.fnmatchcase(os.path.basename(pre), c) and c == pat[3:]
                  for pre in prefixes for c in cands)
        if hit:
            result = not neg
    return result


def context_files():
    pats, files = dockerignore_patterns(), []
    for d, dirs, fs in os.walk(ROOT):
        reld = os.path.relpath(d, ROOT)
        dirs[:] = [x for x in dirs if not ignored(os.path.normpath(os.path.join(reld, x)), pats)]
        for f in fs:
            rel = os.path.normpath(os.path.join(reld, f))
            if not ignored(rel, pats):
                files.append(rel)
    return files


def exec_form(where, text):
    try:
        v = json.loads(text)
    except ValueError as e:
        bad(f"{where}: exec form is not valid JSON ({e}): {text}")
        return None
    if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
        bad(f"{where}: exec form must be a non-empty JSON array of strings")
        return None
    return v


def flags(rest):
    fl, words = {}, shlex.split(rest, posix=True) if rest else []
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        fl[k] = v
    return fl, words


def lint(dockerfile):
    ins = parse(dockerfile)
    global_args, stages = {}, []
    for ln, op, rest in ins:
        if not stages and op == "ARG":
            k, _, v = rest.partition("=")
            global_args[k.strip()] = v.strip()
            continue
        if not stages and op != "FROM":
            bad(f"line {ln}: {op} before the first FROM")
        if op == "FROM":
            fl, words = flags(rest)
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3):
                bad(f"line {ln}: FROM {rest}: expected IMAGE [AS NAME]")
            if name and any(s["name"] == name for s in stages):
                bad(f"line {ln}: stage name {name} used twice")
            if "$" in image:
                bad(f"line {ln}: FROM {words[0]}: unresolved variable (ARG before FROM needs a default)")
            if not re.fullmatch(r"(docker\.io/(library/)?)?debian:bookworm(-slim)?", image):
                bad(f"line {ln}: base image {image} is not debian:bookworm")
            stages.append({"name": name, "image": image, "ins": [], "args": dict(global_args)})
        else:
            stages[-1]["ins"].append((ln, op, rest))
    if len(stages) < 2:
        bad("not a multi-stage build")

    ctx = context_files()
    ctx_set = set(ctx)
    for idx, st in enumerate(stages):
        for ln, op, rest in st["ins"]:
            where = f"line {ln}: {op}"
            if op in ("CMD", "ENTRYPOINT", "SHELL") and rest.startswith("["):
                exec_form(where, rest)
            if op in ("COPY", "ADD"):
                fl, words = flags(rest)
                if rest.endswith("]"):
                    words = exec_form(where, rest[rest.index("["):]) or []
                if len(words) < 2:
                    bad(f"{where}: needs a source and a destination")
                    continue
                srcs = words[:-1]
                if "from" in fl:
                    ref = fl["from"]
                    earlier = [s["name"] for s in stages[:idx]]
                    if not (ref in earlier or (ref.isdigit() and int(ref) < idx)):
                        bad(f"{where}: --from={ref} is not an earlier stage ({earlier})")
                    else:
                        src_stage = stages[earlier.index(ref)] if ref in earlier else stages[int(ref)]
                        text = " ".join(r for _, o, r in src_stage["ins"] if o in ("RUN", "COPY", "WORKDIR"))
                        for s in srcs:
                            if s not in text:
                                bad(f"{where}: {s} is not produced by stage {ref} (not mentioned by its RUN/COPY)")
                else:
                    for s in srcs:
                        s = os.path.normpath(s)
                        if s == ".":
                            if not ctx:
                                bad(f"{where}: the build context is empty after .dockerignore")
                            continue
                        if not any(f == s or f.startswith(s + os.sep) or fnmatch.fnmatch(f, s) for f in ctx_set):
                            bad(f"{where}: source {s} does not exist in the context (after .dockerignore)")
    for need in ("Makefile", "src/main.c", "src/config.c"):
        if need not in ctx_set:
            bad(f".dockerignore excludes {need}, which the build needs")
    for leak in ("build/ringroom", ".git/HEAD"):
        if leak in ctx_set:
            bad(f"the build context includes {leak}: add it to .dockerignore")

    # build stage packages vs build.sh
    m = re.search(r"BUILD_PACKAGES=\(([^)]*)\)", open(os.path.join(ROOT, "build.sh")).read())
    want = set(m.group(1).split()) if m else set()
    build = stages[0]
    installed = set()
    for _, op, rest in build["ins"]:
        if op == "RUN" and "apt-get install" in rest:
            installed |= set(re.findall(r"(?<![\w$-])([a-z0-9][a-z0-9.+-]+)", rest.split("apt-get install", 1)[1]))
    if want - installed:
        bad(f"build stage does not install build.sh BUILD_PACKAGES {sorted(want - installed)}")

    final = stages[-1]
    ops = {}
    for ln, op, rest in final["ins"]:
        ops.setdefault(op, []).append(rest)
    user = (ops.get("USER") or [""])[-1].split(":")[0]
    if not user.isdigit() or int(user) == 0:
        bad(f"final stage USER {user!r} is not a numeric non-root uid (runAsNonRoot cannot verify a name)")
    expose = [p.split("/")[0] for e in ops.get("EXPOSE", []) for p in e.split()]
    if "8080" not in expose:
        bad(f"final stage does not EXPOSE 8080 ({expose})")
    if (ops.get("STOPSIGNAL") or [""])[-1] != "SIGTERM":
        bad("final stage STOPSIGNAL is not SIGTERM")
    if not ops.get("ENTRYPOINT"):
        bad("final stage has no ENTRYPOINT")
    env = {}
    for e in ops.get("ENV", []):
        for w in shlex.split(e):
            k, _, v = w.partition("=")
            env[k] = v
    if not env.get("RINGROOM_LISTEN", "").endswith(":8080") or env["RINGROOM_LISTEN"].startswith("127."):
        bad(f"RINGROOM_LISTEN {env.get('RINGROOM_LISTEN')!r} should be 0.0.0.0:8080 in a container")
    web = env.get("RINGROOM_WEB_DIR")
    if not web or not any(r.split()[-1].rstrip("/") == web for r in ops.get("COPY", [])):
        bad(f"RINGROOM_WEB_DIR {web!r} is not where a COPY puts the web files")
    hc = ops.get("HEALTHCHECK", [])
    if not hc:
        bad("final stage has no HEALTHCHECK")
    else:
        fl, _ = flags(hc[-1].split(" CMD ", 1)[0] if " CMD " in hc[-1] else "")
        for k, v in fl.items():
            if k not in ("interval", "timeout", "start-period", "start-interval", "retries"):
                bad(f"HEALTHCHECK: unknown option --{k}")
            elif k == "retries" and not v.isdigit() or k != "retries" and not re.fullmatch(r"(\d+(ms|s|m|h))+", v):
                bad(f"HEALTHCHECK: bad value --{k}={v}")
        cmd = hc[-1].split(" CMD ", 1)[1].strip() if " CMD " in hc[-1] else ""
        if cmd.startswith("["):
            argv = exec_form("HEALTHCHECK CMD", cmd)
            if argv and "/8080" not in " ".join(argv) and ":8080" not in " ".join(argv):
                bad("HEALTHCHECK does not probe port 8080")
            if argv and "/health" not in " ".join(argv):
                bad("HEALTHCHECK does not GET /health")
        elif not cmd:
            bad("HEALTHCHECK without CMD")
    return stages, ctx


def run_build_stage(stages, ctx):
    """Runs the build stage's compile RUN on this host, like the image build would."""
    runs = [r for _, op, r in stages[0]["ins"] if op == "RUN" and "make" in r]
    if not runs:
        bad("build stage has no RUN with make")
        return
    tmp = tempfile.mkdtemp(prefix="ringroom-dockerfile-")
    try:
        src, out = os.path.join(tmp, "src"), os.path.join(tmp, "out")
        for f in ctx:
            os.makedirs(os.path.join(src, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
        script = runs[0].replace("/out", out)
        env = dict(os.environ, VERSION="dockerfile-test")
        r = subprocess.run(["/bin/sh", "-ec", script], cwd=src, env=env, capture_output=True, text=True, timeout=600)
        if r.returncode:
            bad(f"build stage RUN failed ({r.returncode}): {(r.stdout + r.stderr)[-2000:]}")
            return
        v = subprocess.run([os.path.join(out, "ringroom"), "--version"], capture_output=True, text=True, timeout=10)
        print(f"run: built binary says {v.stdout.strip()!r}")
        if "dockerfile-test" not in v.stdout:
            bad(f"VERSION build-arg did not reach the binary: {v.stdout!r}")
        pkgs = open(os.path.join(out, "runtime-packages")).read().split()
        print(f"run: runtime packages {pkgs}")
        if not pkgs:
            bad("runtime package list is empty")
        for p in pkgs:
            if subprocess.run(["apt-cache", "show", p], capture_output=True, timeout=30).returncode:
                bad(f"runtime package {p} is not known to apt")
        needed = re.findall(r"NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", os.path.join(out, "ringroom")],
                                           capture_output=True, text=True).stdout)
        owners = set(pkgs) | {"libc6"}
        for so in needed:
            q = subprocess.run(["dpkg", "-S", f"*/{so}"], capture_output=True, text=True)
            provs = {ln.split(":")[0] for ln in q.stdout.splitlines()}
            if not provs & owners:
                bad(f"{so} (NEEDED) is provided by {sorted(provs)}, none of them in the runtime packages")
        print(f"run: {len(needed)} NEEDED libraries covered by {sorted(owners)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    dockerfile = args[0] if args else os.path.join(ROOT, "Dockerfile")
    stages, ctx = lint(dockerfile)
    print(f"lint: {len(stages)} stages ({', '.join(str(s['name']) for s in stages)}), "
          f"{sum(len(s['ins']) for s in stages)} instructions, {len(ctx)} context files")
    if "--run" in sys.argv and not problems:
        run_build_stage(stages, ctx)
    for p in problems:
        print(p)
    print(f"check_dockerfile: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
