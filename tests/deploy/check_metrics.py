#!/usr/bin/env python3
"""Checks one /metrics scrape (Prometheus text 0.0.4) beyond what `promtool check metrics`
lints: the metric names operations depend on (dashboards, alerts, HPA) exist with the right
type, labelled families have their always-present series, and every histogram is well formed:
buckets cumulative (non-decreasing in le), a +Inf bucket equal to _count, a _sum.

  check_metrics.py FILE     (or - for stdin)
"""
import math, re, sys
from collections import defaultdict

# name -> type, from the /metrics contract in docs/operations.md ("Metrics")
REQUIRED = {
    "ringroom_build_info": "gauge", "ringroom_connections": "gauge", "ringroom_websocket_connections": "gauge",
    "ringroom_connections_accepted_total": "counter", "ringroom_connections_rejected_total": "counter",
    "ringroom_rooms": "gauge", "ringroom_http_requests_total": "counter",
    "ringroom_messages_received_total": "counter", "ringroom_messages_sent_total": "counter",
    "ringroom_received_bytes_total": "counter", "ringroom_sent_bytes_total": "counter",
    "ringroom_errors_total": "counter", "ringroom_websocket_closes_total": "counter",
    "ringroom_ot_ops_total": "counter", "ringroom_op_latency_seconds": "histogram",
    "ringroom_broadcast_seconds": "histogram", "ringroom_broadcast_deliveries_total": "counter",
    "ringroom_backlog_drops_total": "counter", "ringroom_store_write_seconds": "histogram",
    "ringroom_store_fsync_seconds": "histogram", "ringroom_store_errors_total": "counter",
    "ringroom_loop_busy_seconds_total": "counter", "ringroom_loop_iterations_total": "counter",
    "ringroom_recv_buffer_exhausted_total": "counter", "ringroom_handovers_total": "counter",
    "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
    "process_open_fds": "gauge", "process_start_time_seconds": "gauge", "ringroom_draining": "gauge",
    "ringroom_uptime_seconds": "gauge",
}
LABELS_PRESENT = {
    "ringroom_messages_received_total": ("type", {"chat", "op", "join"}),
    "ringroom_messages_sent_total": ("type", {"chat", "op"}),
    "ringroom_errors_total": ("code", {"bad-json", "bad-op", "rev-too-old", "not-joined", "rate-limited",
                                       "too-large"}),
    "ringroom_connections": ("core", {"0"}),
    "ringroom_loop_busy_seconds_total": ("core", {"0"}),
    "ringroom_loop_iterations_total": ("core", {"0"}),
    "ringroom_build_info": ("version", None),
}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def main():
    text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1]).read()
    types, samples, problems = {}, [], []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(None, 3)
            types[name] = typ.strip()
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                problems.append(f"unparsable line: {line!r}")
                continue
            labels = dict(LABEL.findall(m.group(3) or ""))
            try:
                value = float(m.group(4))
            except ValueError:
                problems.append(f"bad value: {line!r}")
                continue
            samples.append((m.group(1), labels, value))

    for name, typ in REQUIRED.items():
        if name not in types:
            problems.append(f"missing metric {name} ({typ})")
        elif types[name] != typ:
            problems.append(f"{name} is a {types[name]}, expected {typ}")
    for name, (label, want) in LABELS_PRESENT.items():
        have = {lb.get(label) for n, lb, _ in samples if n == name}
        if name in types and (None in have or not have or (want and not want <= have)):
            problems.append(f"{name}: label {label} values {sorted(map(str, have))}, expected at least {sorted(want or [])}")

    for name, typ in types.items():
        if typ != "histogram":
            continue
        series = defaultdict(list)
        sums, counts = {}, {}
        for n, lb, v in samples:
            key = tuple(sorted((k, x) for k, x in lb.items() if k != "le"))
            if n == name + "_bucket":
                if "le" not in lb:
                    problems.append(f"{name}_bucket without le")
                    continue
                series[key].append((math.inf if lb["le"] == "+Inf" else float(lb["le"]), v))
            elif n == name + "_sum":
                sums[key] = v
            elif n == name + "_count":
                counts[key] = v
        if not series:
            problems.append(f"histogram {name} has no buckets")
        for key, buckets in series.items():
            where = f"{name}{dict(key) or ''}"
            les = [le for le, _ in buckets]
            if les != sorted(les):
                problems.append(f"{where}: buckets not in increasing le order")
            buckets.sort()
            if buckets[-1][0] != math.inf:
                problems.append(f"{where}: no +Inf bucket")
            for (le1, v1), (le2, v2) in zip(buckets, buckets[1:]):
                if v2 < v1:
                    problems.append(f"{where}: not cumulative: le={le1} has {v1} > le={le2} has {v2}")
            if key not in counts:
                problems.append(f"{where}: no _count")
            elif buckets[-1][0] == math.inf and counts[key] != buckets[-1][1]:
                problems.append(f"{where}: _count {counts[key]} != +Inf bucket {buckets[-1][1]}")
            if key not in sums:
                problems.append(f"{where}: no _sum")
            elif sums[key] < 0:
                problems.append(f"{where}: negative _sum")
    for p in problems:
        print(p)
    nh = sum(1 for t in types.values() if t == "histogram")
    print(f"check_metrics: {len(types)} families, {len(samples)} samples, {nh} histograms, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
