#!/usr/bin/env python3
"""bench/ab.py OUT: the table of an A/B run of bench/ab.sh (medians over rounds, ratio B/A).

For every campaign and step: p50, p99 and p99.9 latency (µs), the server's CPU µs per
message received, its RSS at the end (KiB), messages lost, and the achieved send rate, each
the median of the rounds for A and for B, with B/A. Ratios within the rounds' own spread are
noise: the min-max of each side is printed too.
"""
import json
import statistics
import sys
from pathlib import Path

FIELDS = [
    ("p50 µs", lambda d: d["latency_us"]["p50"]),
    ("p99 µs", lambda d: d["latency_us"]["p99"]),
    ("p99.9 µs", lambda d: d["latency_us"]["p999"]),
    ("server CPU µs/msg rx", lambda d: d["server"].get("cpu_us_per_received")),
    ("server RSS end KiB", lambda d: d["server"].get("rss_kb_end")),
    ("lost", lambda d: d.get("lost")),
    ("sent/s", lambda d: d["rate"]["achieved_per_s"]),
]


def runs(out, campaign, side):
    """{step: [run json, ...]} over the rounds of one side."""
    steps = {}
    for rdir in sorted((out / campaign).glob(f"{side}-*")):
        for run in sorted(rdir.glob("*/run-*.json")):
            try:
                steps.setdefault(run.parent.name, []).append(json.loads(run.read_text()))
            except (OSError, ValueError):
                pass
    return steps


def fmt(x):
    if x is None:
        return "-"
    return f"{x:.3g}" if isinstance(x, float) and abs(x) < 100 else f"{x:,.0f}"


def main():
    out = Path(sys.argv[1])
    print(f"# A/B: {out.name}\n")
    meta = out / "meta.txt"
    if meta.exists():
        print("\n".join("    " + line for line in meta.read_text().splitlines()) + "\n")
    for cdir in sorted(p for p in out.iterdir() if p.is_dir()):
        a, b = runs(out, cdir.name, "A"), runs(out, cdir.name, "B")
        for step in sorted(set(a) | set(b), key=lambda s: (len(s), s)):
            ra, rb = a.get(step, []), b.get(step, [])
            print(f"## {cdir.name} {step} (rounds: A {len(ra)}, B {len(rb)})\n")
            print("| metric | A median (min-max) | B median (min-max) | B/A |")
            print("|---|---|---|---|")
            for name, get in FIELDS:
                va = [v for v in (get(d) for d in ra) if v is not None]
                vb = [v for v in (get(d) for d in rb) if v is not None]
                ma = statistics.median(va) if va else None
                mb = statistics.median(vb) if vb else None
                ratio = f"{mb / ma:.3f}" if ma and mb is not None else "-"
                sa = f"{fmt(ma)} ({fmt(min(va))}-{fmt(max(va))})" if va else "-"
                sb = f"{fmt(mb)} ({fmt(min(vb))}-{fmt(max(vb))})" if vb else "-"
                print(f"| {name} | {sa} | {sb} | {ratio} |")
            print()


if __name__ == "__main__":
    main()
