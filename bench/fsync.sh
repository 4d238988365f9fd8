#!/usr/bin/env bash
# bench/fsync.sh: what the op log's durability mode costs the OT path. For each --fsync mode
# in MODES (always, batch, off; the server started with SERVER_ARGS plus --fsync MODE) two
# ringload ot steps: DOCS documents x EDITORS editors at RATE edits/s per editor, and one hot
# document with HOT_EDITORS editors at the same rate. Reports, per step, what became of the
# edits (made, acked, not acked at end, ops sent and acked), acked edits/s and ack p50/p99
# (bench/results.py: `achieved/s` and the `ot: ack` line), convergence checked as in ot.sh;
# bench/plot.sh draws ack latency with one line per mode.
source "$(dirname "$0")/lib.sh"
MODES="${MODES:-always batch off}"
DOCS="${DOCS:-100}"
EDITORS="${EDITORS:-10}"
HOT_EDITORS="${HOT_EDITORS:-100}"
RATE="${RATE:-20}"
BASE_ARGS="$SERVER_ARGS"
begin fsync
for mode in $MODES; do
    SERVER_ARGS="$BASE_ARGS --fsync $mode"
    step "docs$DOCS-x$EDITORS-$mode" /ws --scenario ot --conns $((DOCS * EDITORS)) --room-size "$EDITORS" \
        --rate "$RATE/conn" --room-prefix f
    step "hot1-x$HOT_EDITORS-$mode" /ws --scenario ot --conns "$HOT_EDITORS" --room-size "$HOT_EDITORS" \
        --rate "$RATE/conn" --room-prefix h
done
SERVER_ARGS="$BASE_ARGS"
finish "fsync: ot at $RATE edits/s per editor" 2 "edits/s (total)"
# what became of every edit (ringload's ot.edits, ot.edits_acked, ot.ops, ot.acks), over the
# whole run (warm-up included, as ringload counts them); acked edits/s over warm-up + duration
$PY - "$OUT" >>"$OUT/RESULTS.md" <<'PYEOF' || true
import glob, json, os, sys
rows = []
files = sorted(glob.glob(os.path.join(sys.argv[1], "*", "run-*.json")))
many = len({os.path.dirname(f) for f in files}) < len(files)
for f in files:
    d = json.load(open(f))
    ot, ack = d.get("ot") or {}, d.get("ack_latency_us") or {}
    secs = (d.get("duration_s") or 0) + (d.get("warmup_s") or 0)
    edits, acked = ot.get("edits"), ot.get("edits_acked")     # edits_acked: null from older ringloads
    def q(k):
        v = ack.get(k)
        return "-" if v is None else "%.2f ms" % (v / 1000)
    def n(v):
        return "-" if v is None else str(v)
    step = os.path.basename(os.path.dirname(f))
    if many:
        step += " " + os.path.basename(f)[:-len(".json")]
    rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
        step, n(edits), n(acked), n(edits - acked if edits is not None and acked is not None else None),
        n((d.get("errors") or {}).get("total")), n(ot.get("ops")), n(ot.get("acks")),
        "%.0f" % (acked / secs) if acked is not None and secs else "-", q("p50"), q("p99")))
print("\nAn editor keeps at most one op in flight and composes the edits it makes meanwhile into one "
      "buffered op (ot.js's client rules), so *ops sent* can be fewer than *edits made*; *edits acked* "
      "counts the edits inside acknowledged ops, and *not acked at end* (= edits made - edits acked) the "
      "edits still in flight or buffered when the run and its drain ended, or lost with a connection "
      "that closed or broke (those show in *errors*).")
print("\n| step | edits made | edits acked | not acked at end | errors | ops sent | ops acked | acked edits/s | ack p50 | ack p99 |")
print("|---|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
PYEOF
