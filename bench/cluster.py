#!/usr/bin/python3
"""cluster.py: the scale-out tables of a bench/cluster.sh results directory (Markdown).

    bench/cluster.py DIR [--title T]

Steps are DIR/hot-r<RATE>-<CONFIG>/ (one hot document, ringload ot) and DIR/chat-<CONFIG>/
(the campaign-1m preset); CONFIG is `1` (one instance, no Redis), `1r` (one instance with
--redis) or `<N>r` (N instances sharing rooms through Redis). Each step's runs are ringload
JSON reports (docs/ringload.md); a figure is the median over runs, p99.9 and max the worst run,
loss the worst run, `converged` and the servers' ends must hold in every run. Single-instance
rows sit beside the N-instance ones, with the ratio of each p99 to the one-instance,
no-Redis p99 of the same load. bench/report.py uses this for RESULTS.md's Scale-out section.
"""
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import fmt, fmt_us  # noqa: E402  (bench/results.py: the shared formatting)


def load(d):
    steps = {}
    for f in sorted(glob.glob(os.path.join(d, "*", "run-*.json"))):
        try:
            with open(f) as fh:
                r = json.load(fh)
        except (OSError, ValueError) as e:
            print(f"cluster.py: skipping {f}: {e}", file=sys.stderr)
            continue
        r["_ends"] = ends(f[:-len(".json")] + ".instances")
        step = os.path.basename(os.path.dirname(f))
        run = re.search(r"run-(\d+)\.json$", f).group(1)
        r["_warnings"] = warnings(glob.glob(os.path.join(d, f"server-{step}-{run}-*.log")))
        steps.setdefault(step, []).append(r)
    return steps


def ends(path):
    """'clean', or what went wrong with a server of the run (bench/cluster.sh's run-N.instances)."""
    try:
        text = open(path).read()
    except OSError:
        return "?"
    bad = [line for line in text.splitlines() if "GONE" in line or re.search(r"exit status [1-9]", line)]
    return "; ".join(bad) if bad else "clean"


def warnings(logs):
    """The servers' warn/error log lines of one run: {message without time and numbers: count}."""
    out = {}
    for path in logs:
        try:
            lines = open(path, errors="replace").read().splitlines()
        except OSError:
            continue
        for line in lines:
            m = re.match(r"^\S+Z (warn|error)\s+\S+\s+(.*)$", line)
            if m:
                key = m.group(1) + ": " + re.sub(r"\d+", "N", m.group(2))
                out[key] = out.get(key, 0) + 1
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def worst(xs):
    xs = [x for x in xs if x is not None]
    return max(xs) if xs else None


def h(r, key, q):
    v = r.get(key) or {}
    return v.get(q) if v.get("count") else None


def us(v):
    return fmt_us(v, " ")


def config_name(c):
    n = c.rstrip("r")
    return f"{n} instance{'' if n == '1' else 's'}" + (" + Redis" if c.endswith("r") else "")


def config_key(c):
    return (int(c.rstrip("r") or 0), c.endswith("r"))


def cpu(rs):
    """(servers + Redis CPU in cores, Redis alone) medians over runs, from ringload's sampling."""
    tot, red = [], []
    for r in rs:
        s = r.get("server") or {}
        d = r.get("duration_s") or 0
        if not s or not d:
            continue
        tot.append(s.get("cpu_util"))
        by = s.get("cpu_s_by_pid") or []
        n = len(r.get("instances") or [])
        if len(by) > n:                       # the last pid is Redis (bench/cluster.sh)
            red.append(by[-1] / d)
    return med(tot), med(red)


def pct(v):
    return "-" if v is None else f"{v * 100:.0f}%"


def ratio(v, base):
    return "-" if v is None or not base else f"×{v / base:.2f}"


def clean(rs):
    """How the servers ended, and the warn/error lines they logged (all runs)."""
    bad = [r["_ends"] for r in rs if r["_ends"] != "clean"]
    text = "clean exit" if not bad else "**" + " / ".join(bad) + "**"
    warn = {}
    for r in rs:
        for k, n in r["_warnings"].items():
            warn[k] = warn.get(k, 0) + n
    if warn:
        top = sorted(warn.items(), key=lambda kv: -kv[1])
        text += "; **%d warnings**: " % sum(warn.values()) + "; ".join(
            "%d× `%s`" % (n, k.replace("|", "/")[:110]) for k, n in top[:2])
    return text


def hot_table(steps):
    rows = []
    keys = {}
    for step in steps:
        m = re.match(r"hot-r([\d.]+)-(\w+)$", step)
        if m:
            keys.setdefault(float(m.group(1)), []).append((m.group(2), step))
    if not keys:
        return []
    out = ["### One hot document: editors spread over the instances", "",
           "ringload `ot`: one document, every editor sending open-loop edits at the rate shown; at most one op "
           "in flight per editor (ot.js client rules: edits made meanwhile are composed), so *acked ops/s* is the "
           "acknowledgements of ops scheduled in the measured window per second, and ack latency runs from the "
           "scheduled time of an op's first edit. *remote p99*: edit → applied by another editor; *cross p99*: the "
           "same for editors on another instance than the author. *×1*: p99 over the one-instance, no-Redis p99 at "
           "that rate. *CPU 0*: every instance and Redis together (all pinned to CPU 0), in % of that core during the measured window; *Redis*: its share.",
           "",
           "| edits/s per editor (total) | configuration | runs | editors | acked ops/s | ack p50 | ack p99 | ×1 "
           "| ack p99.9 | remote p99 | cross p99 | CPU 0 | Redis | slip p99 | converged | errors | servers (exit, log warnings) |",
           "|" + "---|" * 17]
    for rate in sorted(keys):
        configs = sorted(keys[rate], key=lambda x: config_key(x[0]))
        base = None
        for c, step in configs:
            if c == "1":
                base = med([h(r, "ack_latency_us", "p99") for r in steps[step]])
        for c, step in configs:
            rs = steps[step]
            acked = med([(h(r, "ack_latency_us", "count") or 0) / r["duration_s"] for r in rs if r.get("duration_s")])
            p99 = med([h(r, "ack_latency_us", "p99") for r in rs])
            total, red = cpu(rs)
            target = med([(r.get("rate") or {}).get("target_per_s") for r in rs])
            conv = all((r.get("ot") or {}).get("converged") for r in rs)
            conv_text = "yes"
            if not conv:
                n = max(len(r.get("instances") or []) for r in rs)
                mism = [sum((((r.get("instances") or [])[i:i + 1] or [{}])[0].get("ot") or {}).get("mismatches", 0)
                            for r in rs) for i in range(n)]
                conv_text = "**NO**" + (" (mismatches by instance: " + "/".join(map(str, mism)) + ")" if n > 1 else "")
            errs = worst([(r.get("errors") or {}).get("total") for r in rs])
            out.append(f"| {rate:g} ({fmt(target)}) | {config_name(c)} | {len(rs)} | {rs[0].get('conns')} | {fmt(acked)} "
                       f"| {us(med([h(r, 'ack_latency_us', 'p50') for r in rs]))} | {us(p99)} | {ratio(p99, base)} "
                       f"| {us(worst([h(r, 'ack_latency_us', 'p999') for r in rs]))} "
                       f"| {us(med([h(r, 'latency_us', 'p99') for r in rs]))} "
                       f"| {us(med([h(r, 'latency_cross_instance_us', 'p99') for r in rs]))} "
                       f"| {pct(total)} | {pct(red)} "
                       f"| {us(med([((r.get('schedule') or {}).get('slip_us') or {}).get('p99') for r in rs]))} "
                       f"| {conv_text} | {fmt(errs)} | {clean(rs)} |")
    return out + [""]


def chat_table(steps):
    configs = sorted([s[len("chat-"):] for s in steps if s.startswith("chat-")], key=config_key)
    if not configs:
        return []
    base = med([h(r, "latency_us", "p99") for r in steps.get("chat-1", [])])
    out = ["### Chat at campaign-1m load: connections spread over the instances", "",
           "ringload `--preset campaign-1m` (10,000 connections in rooms of 100, 1,000,000 messages/hour: 277.8 "
           "msgs/s, 27,778 deliveries/s) for the duration of the run; every room's members are spread over the "
           "instances, so with 3 instances two deliveries in three cross instances. *cross p50/p99*: those "
           "deliveries alone. *×1*: p99 over the one-instance, no-Redis p99.",
           "",
           "| configuration | runs | connections | msgs/s | deliveries/s | p50 | p99 | ×1 | p99.9 | max | cross p50 | cross p99 "
           "| loss | SLO | CPU 0 | Redis | slip p99 | servers (exit, log warnings) |",
           "|" + "---|" * 18]
    for c in configs:
        rs = steps["chat-" + c]
        p99 = med([h(r, "latency_us", "p99") for r in rs])
        total, red = cpu(rs)
        loss = worst([r.get("loss_ratio") for r in rs])
        inst = rs[0].get("instances") or []
        conns = med([(r.get("connections") or {}).get("established") for r in rs])
        per = "/".join(str(i.get("established")) for i in inst) if len(inst) > 1 else ""
        slo = "pass" if all(r.get("slo_pass") for r in rs) else "**fail**"
        out.append(f"| {config_name(c)} | {len(rs)} | {fmt(conns)}{' (' + per + ')' if per else ''} "
                   f"| {fmt(med([r.get('tx_per_s') for r in rs]), '.1f')} | {fmt(med([r.get('rx_per_s') for r in rs]))} "
                   f"| {us(med([h(r, 'latency_us', 'p50') for r in rs]))} | {us(p99)} | {ratio(p99, base)} "
                   f"| {us(worst([h(r, 'latency_us', 'p999') for r in rs]))} "
                   f"| {us(worst([h(r, 'latency_us', 'max') for r in rs]))} "
                   f"| {us(med([h(r, 'latency_cross_instance_us', 'p50') for r in rs]))} "
                   f"| {us(med([h(r, 'latency_cross_instance_us', 'p99') for r in rs]))} "
                   f"| {'-' if loss is None else f'{loss * 100:.4f}%'} | {slo} | {pct(total)} | {pct(red)} "
                   f"| {us(med([((r.get('schedule') or {}).get('slip_us') or {}).get('p99') for r in rs]))} "
                   f"| {clean(rs)} |")
    return out + [""]


def md(d, title=None):
    steps = load(d)
    if not steps:
        return None
    out = []
    if title:
        out += [f"## {title}", ""]
    meta = ""
    try:
        meta = open(os.path.join(d, "meta.txt")).read()
    except OSError:
        pass
    pin = re.search(r"^cluster: redis and every instance pinned.*$", meta, re.M)
    any_r = next(iter(steps.values()))[0]
    out.append(f"ringload {any_r.get('ringload_version')}; {pin.group(0)[len('cluster: '):] if pin else ''}. "
               "Every run starts a fresh redis-server (`--save '' --appendonly yes --appendfsync always`) and fresh "
               "instances (`--threads 1`, each its own port and `--data-dir`). Medians over the runs; p99.9, max and "
               "loss from the worst run. This machine has 2 cores: the instances and Redis share one, so N instances "
               "here measure what sharing rooms costs, not what more cores would add.")
    out.append("")
    out += hot_table(steps)
    out += chat_table(steps)
    return "\n".join(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    title = argv[argv.index("--title") + 1] if "--title" in argv else None
    text = md(argv[1], title)
    if text is None:
        print("cluster.py: no reports in " + argv[1], file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
