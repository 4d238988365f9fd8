#!/usr/bin/python3
"""results.py: ringload JSON reports -> RESULTS.md sections and gnuplot data.

    bench/results.py md  DIR_OR_FILES... [--title T]   a Markdown section on stdout
    bench/results.py dat DIR_OR_FILES...               whitespace table for gnuplot on stdout
                                                       (bench/plot.sh reads its columns)

A directory stands for every *.json under it (recursively). Reports are grouped by "label"
(the file's parent directory name, which the bench scripts set to the step, e.g.
`rate-20000`), repeated runs of one label are summarised as the median of each figure plus
the worst (max) p99.9 and max, so one lucky run cannot hide a bad one. The report schema is
documented in docs/ringload.md (schema "ringload-report", version 1).
"""
import json
import os
import statistics
import sys


def load(paths):
    reports = []
    for p in paths:
        files = []
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n.endswith(".json")]
        else:
            files.append(p)
        for f in sorted(files):
            try:
                with open(f) as fh:
                    r = json.load(fh)
            except (OSError, ValueError) as e:
                print(f"results.py: skipping {f}: {e}", file=sys.stderr)
                continue
            if r.get("schema") != "ringload-report":
                continue
            r["_file"] = f
            r["_label"] = os.path.basename(os.path.dirname(os.path.abspath(f)))
            r["_syscalls"] = syscalls(f[:-len(".json")] + ".syscalls")
            reports.append(r)
    return reports


def syscalls(path):
    """The server's system calls counted by `perf stat -x,` (bench/lib.sh), or None."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and "raw_syscalls:sys_enter" in parts[2] and parts[0].isdigit():
                    return int(parts[0])
    except OSError:
        pass
    return None


def per_rx(r):
    """Server system calls per received message over the whole run (connect phase included)."""
    rx = (r.get("totals") or {}).get("received")
    return r["_syscalls"] / rx if r.get("_syscalls") is not None and rx else None


def lat(r, key="latency_us"):
    h = r.get(key) or r.get("closed_loop_rtt_us") or {}
    return h if h.get("count") else {}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def worst(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def group(reports):
    groups = {}
    for r in reports:
        groups.setdefault(r["_label"], []).append(r)

    def sort_key(item):
        rs = item[1]
        rate = med([(r.get("rate") or {}).get("target_per_s") for r in rs]) or 0
        return (rs[0].get("scenario", ""), rs[0].get("conns", 0), rate, item[0])

    return sorted(groups.items(), key=sort_key)


def summary(label, rs):
    s = {"label": label, "runs": len(rs), "scenario": rs[0].get("scenario"), "conns": rs[0].get("conns"),
         "room_size": rs[0].get("room_size"), "mode": rs[0].get("mode")}
    s["target"] = med([(r.get("rate") or {}).get("target_per_s") for r in rs])
    s["achieved"] = med([(r.get("rate") or {}).get("achieved_per_s") for r in rs])
    s["rx"] = med([r.get("rx_per_s") for r in rs])
    for k in ("p50", "p90", "p99"):
        s[k] = med([lat(r).get(k) for r in rs])
    s["p999"] = worst([lat(r).get("p999") for r in rs])
    s["max"] = worst([lat(r).get("max") for r in rs])
    acks = [lat(r, "ack_latency_us") for r in rs if r.get("ack_latency_us")]
    for k in ("p50", "p90", "p99"):
        s["ack_" + k] = med([a.get(k) for a in acks])
    s["ack_p999"] = worst([a.get("p999") for a in acks])
    s["ack_max"] = worst([a.get("max") for a in acks])
    s["loss"] = worst([r.get("loss_ratio") for r in rs])
    s["errors"] = worst([(r.get("errors") or {}).get("total") for r in rs])
    s["late"] = med([(r.get("schedule") or {}).get("late_sends") for r in rs])
    srv = [r.get("server") for r in rs if r.get("server")]
    s["srv_cpu"] = med([x.get("cpu_util") for x in srv])
    s["srv_us_rx"] = med([x.get("cpu_us_per_received") for x in srv])
    s["srv_us_tx"] = med([x.get("cpu_us_per_sent") for x in srv])
    s["rss_conn"] = med([x.get("rss_bytes_per_conn") for x in srv])
    s["rss_before_kb"] = med([x.get("rss_kb_before") for x in srv])
    s["rss_ready_kb"] = med([x.get("rss_kb_ready") for x in srv])
    s["rss_mib"] = None if s["rss_ready_kb"] is None else s["rss_ready_kb"] / 1024
    s["srv_sys_rx"] = med([per_rx(r) for r in rs])
    s["cli_us"] = med([(r.get("client") or {}).get("cpu_us_per_message") for r in rs])
    s["slo"] = "pass" if all(r.get("slo_pass") in (True, None) for r in rs) else "FAIL"
    s["converged"] = None
    if rs[0].get("ot"):
        s["converged"] = all((r.get("ot") or {}).get("converged") for r in rs)
    return s


def fmt_us(v, sep=""):
    """Microseconds as µs, ms or s (sep goes between the number and the unit)."""
    if v is None:
        return "-"
    if v < 1000:
        return f"{v:.0f}{sep}µs"
    if v < 1e6:
        return f"{v / 1000:.2f}{sep}ms"
    return f"{v / 1e6:.3f}{sep}s"


def fmt(v, spec=".0f"):
    return "-" if v is None else format(v, spec)


def md(reports, title):
    out = []
    if title:
        out.append(f"## {title}\n")
    first = reports[0]
    engines = ", ".join(sorted({r.get("engine") or "?" for r in reports}))
    out.append(f"ringload {first.get('ringload_version')} ({engines}), url `{first.get('url')}`; "
               f"figures are medians over repeated runs, p99.9 and max the worst run. Latency is measured from "
               f"each message's scheduled send time (open loop).\n")
    out.append("| step | runs | scenario | conns | target/s | achieved/s | rx/s | p50 | p90 | p99 | p99.9 | max "
               "| loss | errors | server CPU | server µs/rx | server syscalls/rx | server RSS | RSS growth B/conn "
               "| client µs/msg |")
    out.append("|" + "---|" * 20)
    for label, rs in group(reports):
        s = summary(label, rs)
        closed = " (closed loop: RTT)" if s["mode"] == "closed_loop" else ""
        scen = s["scenario"] + (f" /{s['room_size']}" if s["room_size"] else "") + closed
        loss = "-" if s["loss"] is None else f"{s['loss'] * 100:.4f}%"
        cpu = "-" if s["srv_cpu"] is None else f"{s['srv_cpu'] * 100:.0f}%"
        out.append(f"| {label} | {s['runs']} | {scen} | {s['conns']} | {fmt(s['target'])} | {fmt(s['achieved'])} "
                   f"| {fmt(s['rx'])} | {fmt_us(s['p50'])} | {fmt_us(s['p90'])} | {fmt_us(s['p99'])} "
                   f"| {fmt_us(s['p999'])} | {fmt_us(s['max'])} | {loss} | {fmt(s['errors'])} | {cpu} "
                   f"| {fmt(s['srv_us_rx'], '.2f')} | {fmt(s['srv_sys_rx'], '.2f')} "
                   f"| {'-' if s['rss_mib'] is None else format(s['rss_mib'], '.1f') + ' MiB'} | {fmt(s['rss_conn'])} "
                   f"| {fmt(s['cli_us'], '.2f')} |")
        if s["converged"] is not None or s["ack_p50"] is not None:
            out.append(f"|  | | ot: ack p50 {fmt_us(s['ack_p50'])}, p99 {fmt_us(s['ack_p99'])}; "
                       f"converged: {s['converged']} | | | | | | | | | | | | | | | | | |")
    out.append("")
    out.append("*server RSS*: the server's resident memory once every connection was open; *RSS growth "
               "B/conn*: that minus its RSS before the first connection, per connection.\n")
    return "\n".join(out)


def dat(reports):
    # columns 1-14 as bench/plot.sh has always read them; 15 on appended (RSS growth in bytes,
    # RSS before the first connection and once all were open in KiB)
    cols = ["label", "target", "achieved", "rx", "p50", "p90", "p99", "p999", "max", "loss", "srv_cpu",
            "srv_us_rx", "cli_us", "srv_sys_rx", "conns", "rss_conn", "ack_p50", "ack_p90", "ack_p99",
            "ack_p999", "ack_max", "rss_before_kb", "rss_ready_kb"]
    lines = ["# " + " ".join(cols) + "   (latency in microseconds)"]
    for label, rs in group(reports):
        s = summary(label, rs)
        lines.append(" ".join(label if c == "label" else ("nan" if s[c] is None else f"{s[c]:.6g}") for c in cols))
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) < 3 or argv[1] not in ("md", "dat"):
        print(__doc__, file=sys.stderr)
        return 2
    title = None
    args = argv[2:]
    if "--title" in args:
        i = args.index("--title")
        title = args[i + 1]
        args = args[:i] + args[i + 2:]
    reports = load(args)
    if not reports:
        print("results.py: no ringload reports found", file=sys.stderr)
        return 1
    sys.stdout.write(md(reports, title) if argv[1] == "md" else dat(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
