#!/usr/bin/python3
"""report.py: RESULTS.md from one bench/all.sh results directory.

    bench/report.py bench/results/all-UTCDATE [--elapsed SECONDS] [--plots DIR] > RESULTS.md

--plots DIR copies the plots there instead of docs/results/ (to try report.py out without
touching the project's plots).

Every figure comes from the campaign directories (ringload JSON reports, wrk output,
meta.txt): the per-campaign sections are the ones bench/results.py wrote when each campaign
finished, each section's command is bench/all.sh's line for it, the plots bench/plot.sh drew
are copied to docs/results/ (an empty or missing PNG is never embedded, and an older copy of a
plot this run did not draw is removed), and the seed targets table is computed here from the
same reports. Nothing is typed by hand.
"""
import glob
import json
import os
import re
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402  (bench/cluster.py: the Scale-out tables)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOTS = os.path.join(ROOT, "docs", "results")

# campaign directory, section title; the command comes from bench/all.sh's `run` line
ORDER = [
    ("echo", "Echo (`/echo`): throughput, latency, server CPU and syscalls per message"),
    ("idle", "Idle connections: server memory per connection (one core)"),
    ("idle-2core", "Idle connections past RLIMIT_NOFILE (two cores, direct descriptors)"),
    ("campaign-1m", "campaign-1m: 10,000 connections, rooms of 100, 1M msgs/hour"),
    ("chat", "Chat fan-out in rooms of 100: finding the knee"),
    ("ot", "OT: 100 documents x 10 editors (ot.js client rules, convergence checked)"),
    ("ot-hot", "OT: one hot document, 100 editors"),
    ("history", "History: GET /history with wrk"),
    ("fsync", "Durability modes: OT acks with --fsync always, batch, off"),
    ("recovery", "Recovery: start-up time with a 1,000,000-op log"),
    ("checkpoint", "Online checkpoints: what removing 64 MiB segments costs a core's connections"),
    ("cluster", "Scale-out: instances sharing rooms through Redis, beside one instance"),
]

# campaigns whose section is computed here from the reports rather than read from the
# campaign's own RESULTS.md: directory -> function(dir) returning Markdown (no heading) or None
GENERATORS = {"cluster": cluster.md}


def reports(d):
    out = []
    for f in sorted(glob.glob(os.path.join(d, "*", "run-*.json"))):
        try:
            with open(f) as fh:
                r = json.load(fh)
        except (OSError, ValueError):
            continue
        r["_step"] = os.path.basename(os.path.dirname(f))
        out.append(r)
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ms(us):
    return "n/a" if us is None else (f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs")


def step_reports(rs, step):
    return [r for r in rs if r["_step"] == step]


def lat(r, key, q):
    v = r.get(key) or {}
    return v.get(q)


def targets(base):
    """Each seed target beside what the reports show (None when the campaign did not run)."""
    rows = []
    hot = step_reports(reports(os.path.join(base, "ot-hot")), "per-editor-5")
    if hot:
        rows.append(("p95 < 50 ms with 100 clients",
                     "one document, 100 editors at 5 edits/s each: op→ack p95 %s, op→remote p95 %s"
                     % (ms(median([lat(r, "ack_latency_us", "p95") for r in hot])),
                        ms(median([lat(r, "latency_us", "p95") for r in hot]))),
                     all((lat(r, "ack_latency_us", "p95") or 1e18) < 50000 for r in hot)))
    echo = step_reports(reports(os.path.join(base, "echo")), "rate-10000")
    if echo:
        loss = max(r["loss_ratio"] for r in echo)
        rows.append(("10K msgs/s with < 0.01% loss",
                     "echo at 10,000 msgs/s, %d runs: worst loss %.4f%%, p99 %s"
                     % (len(echo), loss * 100, ms(median([lat(r, "latency_us", "p99") for r in echo]))),
                     loss < 0.0001))
    # limit-1000-cN (N connections; bench/history.sh CONNECTIONS), or limit-1000 (older runs: 50)
    hists = []
    for c in (1, 10, 50):
        p = os.path.join(base, "history", f"limit-1000-c{c}", "wrk.txt")
        if c == 50 and not os.path.exists(p):
            p = os.path.join(base, "history", "limit-1000", "wrk.txt")
        if os.path.exists(p):
            text = open(p).read()
            p99 = re.search(r"^\s*99%\s+(\S+)", text, re.M)
            rps = re.search(r"Requests/sec:\s+(\S+)", text)
            hists.append((c, p99.group(1) if p99 else None, rps.group(1) if rps else "n/a"))
    if hists:
        c, p99, rps = hists[-1]            # judged at the highest concurrency measured
        ok = p99 is not None and to_ms(p99) < 100
        rows.append(("1,000-op history < 100 ms",
                     "GET /history?limit=1000 with wrk: " +
                     ", ".join("p99 %s at %d connection%s" % (h[1] or "n/a", h[0], "" if h[0] == 1 else "s")
                               for h in hists) +
                     "; %s requests/s at %d" % (rps, c), ok))
    idle = step_reports(reports(os.path.join(base, "idle")), "conns-10000")
    if idle:
        r = idle[0]
        srv, n = r["server"], r["connections"]["established"]
        text = ("%d of %d held; server RSS %.1f MiB (%.0f B per connection all in), %.1f MiB before the "
                "first connection: growth %.0f B per connection"
                % (n, r["connections"]["attempted"], srv["rss_kb_ready"] / 1024, srv["rss_kb_ready"] * 1024 / n,
                   srv["rss_kb_before"] / 1024, srv["rss_bytes_per_conn"]))
        more = step_reports(reports(os.path.join(base, "idle")), "conns-19000")
        if more:
            m = more[0]
            dn = m["connections"]["established"] - n
            if dn > 0:
                text += ("; from %d to %d connections RSS changed by %+.0f B per added connection"
                         % (n, m["connections"]["established"],
                                                     (m["server"]["rss_kb_ready"] - srv["rss_kb_ready"]) * 1024 / dn))
        rows.append(("10K connections, RSS growth <= 1 KiB per connection", text,
                     n >= 10000 and srv["rss_bytes_per_conn"] <= 1024))
    big = step_reports(reports(os.path.join(base, "idle-2core")), "conns-39000")
    if big:
        r = big[0]
        rows.append(("more connections than RLIMIT_NOFILE (20,000) in one process",
                     "%d of %d held by one server process (2 cores)"
                     % (r["connections"]["established"], r["connections"]["attempted"]),
                     r["connections"]["established"] > 20000))
    chat = reports(os.path.join(base, "chat"))
    if chat:
        steps = sorted({r["_step"] for r in chat}, key=lambda x: int(x.split("-")[-1]))
        knee = None
        for st in steps:
            p99 = median([lat(r, "latency_us", "p99") for r in step_reports(chat, st)])
            if p99 is not None and p99 > 10000:
                knee = (st, p99)
                break
        best = max(chat, key=lambda r: r["rx_per_s"])
        def load(st):
            rs = step_reports(chat, st)
            srv = median([(r.get("server") or {}).get("cpu_util") for r in rs]) or 0
            cli = median([(r.get("client") or {}).get("cpu_util") for r in rs]) or 0
            return "server at %.0f%% of its core, ringload at %.0f%%" % (100 * srv, 100 * cli)
        rows.append(("chat knee (p99 > 10 ms), rooms of 100",
                     "first step over 10 ms: %s (p99 %s; %s); the step before: %s"
                     % (knee[0], ms(knee[1]), load(knee[0]), load(steps[steps.index(knee[0]) - 1]))
                     if knee and steps.index(knee[0]) > 0 else
                     "first step over 10 ms: %s (p99 %s; %s)" % (knee[0], ms(knee[1]), load(knee[0])) if knee
                     else "p99 stayed under 10 ms up to %s" % steps[-1], None))
        rows.append(("one ringload core receives >= 200,000 msgs/s (chat)",
                     "%s: %.0f msgs/s received, ringload at %.0f%% of its core, %.2f µs per message"
                     % (best["_step"], best["rx_per_s"], 100 * (best.get("client") or {}).get("cpu_util", 0),
                        (best.get("client") or {}).get("cpu_us_per_message", 0) or 0),
                     best["rx_per_s"] >= 200000))
    c1m = reports(os.path.join(base, "campaign-1m"))
    if c1m:
        r = c1m[0]
        rows.append(("1M msgs/hour (campaign-1m)",
                     "%d connections for %ss: p95 %s, p99 %s, loss %.4f%%; SLO %s"
                     % (r["connections"]["established"], r["duration_s"], ms(lat(r, "latency_us", "p95")),
                        ms(lat(r, "latency_us", "p99")), r["loss_ratio"] * 100,
                        ", ".join(f"{k} {v}" for k, v in (r.get("slo") or {}).items())),
                     bool(r.get("slo_pass")) and r["loss_ratio"] == 0))
    return rows


def to_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)$", s)
    if not m:
        return float("inf")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def commands():
    """NAME -> the command bench/all.sh runs for it (its `run NAME SCRIPT VAR=VALUE...` line)."""
    cmds = {}
    try:
        text = open(os.path.join(ROOT, "bench", "all.sh")).read()
    except OSError:
        return cmds
    for m in re.finditer(r"^run\s+(\S+)\s+(\S+\.sh)\b(.*)$", text, re.M):
        cmds[m.group(1)] = (m.group(3).strip() + " bench/" + m.group(2)).strip()
    return cmds


# the PNGs bench/plot.sh can leave in a campaign directory, and what each shows
PLOT_KINDS = [("spectrum", "latency by percentile"), ("latency", "latency against load"),
              ("rss", "server RSS per connection against connections")]
PLOT_WHAT = {("fsync", "latency"): "op→ack latency by percentile, one line per --fsync mode"}


def section(base, name, title, cmd, plots=PLOTS):
    d = os.path.join(base, name)
    md = os.path.join(d, "RESULTS.md")
    if name in GENERATORS:
        gen = GENERATORS[name](d) if os.path.isdir(d) else None
        if gen is None:
            return None
        text = gen.strip().split("\n")
    elif not os.path.exists(md):
        return None
    else:
        text = open(md).read().strip().split("\n")
    # drop the campaign's own heading: ours says what and how
    if text and text[0].startswith("## "):
        text = text[1:]
    out = [f"## {title}", ""]
    if cmd:
        out += [f"Command: `{cmd}` (from `bench/all.sh`)", ""]
    out += text
    os.makedirs(plots, exist_ok=True)
    for plot, what in PLOT_KINDS:
        src = os.path.join(d, f"{plot}.png")
        dst = os.path.join(plots, f"{name}-{plot}.png")
        if os.path.exists(dst):
            os.remove(dst)            # a plot this run did not draw must not linger from an older one
        if not os.path.exists(src):
            continue
        if os.path.getsize(src) == 0:
            print(f"report.py: {src} is empty: not embedded (rerun bench/plot.sh {d})", file=sys.stderr)
            continue
        shutil.copyfile(src, dst)
        what = PLOT_WHAT.get((name, plot), what)
        out += ["", f"![{name}: {what}]({os.path.relpath(dst, ROOT)})"]
    return "\n".join(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    base = os.path.abspath(argv[1])
    elapsed = argv[argv.index("--elapsed") + 1] if "--elapsed" in argv else None
    plots = os.path.abspath(argv[argv.index("--plots") + 1]) if "--plots" in argv else PLOTS
    metas = sorted(glob.glob(os.path.join(base, "*", "meta.txt")))
    meta = open(metas[0]).read() if metas else ""
    host = re.search(r"^host: (.*)$", meta, re.M)
    cpu = re.search(r"^cpu: (.*)$", meta, re.M)
    date = re.search(r"^date: (.*)$", meta, re.M)
    print("# ringroom results\n")
    print("Generated by `bench/report.py` from `%s` (written by `./build.sh bench`, which runs "
          "`bench/all.sh`%s). Every figure below comes from those reports; rerun the command to "
          "regenerate this file. The raw reports stay on the machine that ran them (`bench/results/` is not in git); the plots are copied to `docs/results/`.\n" % (os.path.relpath(base, ROOT),
                                       f" in {elapsed} s" if elapsed else ""))
    print(f"- Machine: {host.group(1) if host else 'n/a'}, {cpu.group(1) if cpu else 'n/a'}; "
          f"first campaign started {date.group(1) if date else 'n/a'}.")
    print("- Server `build/ringroom` pinned to CPU 0, `build/ringload` to CPU 1 (`taskset`); a fresh "
          "server and op log for every run; defaults unless a command says otherwise "
          "(`--threads 1`, op log with `--fsync batch`).")
    print("- Latency is measured from each message's *scheduled* send time (open loop, no "
          "coordinated omission); repeated runs are summarised by their median, p99.9 and max by "
          "the worst run. Server CPU and RSS are sampled from /proc during the measured window; "
          "syscalls per message come from `perf stat -e raw_syscalls:sys_enter` over the whole "
          "run (a slight overestimate).")
    print("- This is a 2-core virtual machine shared with other work: read tails with care; "
          "`meta.txt` in each campaign directory records the load average at its start.\n")
    rows = targets(base)
    if rows:
        print("## Seed targets\n")
        print("| target | measured | met |")
        print("|---|---|---|")
        for t, m, ok in rows:
            print(f"| {t} | {m} | {'-' if ok is None else 'yes' if ok else 'no'} |")
        print()
    cmds = commands()
    for name, title in ORDER:
        s = section(base, name, title, cmds.get(name), plots)
        if s:
            print(s + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
