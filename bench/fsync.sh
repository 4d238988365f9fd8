#!/usr/bin/env bash
# bench/fsync.sh: what the op log's durability mode costs the OT path. For each --fsync mode
# in MODES (always, batch, off; the server started with SERVER_ARGS plus --fsync MODE) two
# ringload ot steps: DOCS documents x EDITORS editors at RATE edits/s per editor, and one hot
# document with HOT_EDITORS editors at the same rate. Reports acked ops/s and ack p50/p99 per
# step (bench/results.py: `achieved/s` and the `ot: ack` line), convergence checked as in ot.sh.
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
finish "fsync: ot at $RATE edits/s/editor with --fsync always, batch, off" 2 "edits/s (total)"
# acked ops/s: the ot editors' acks over the whole run (warm-up included, as ringload counts them)
$PY - "$OUT" >>"$OUT/RESULTS.md" <<'PYEOF' || true
import glob, json, os, sys
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "run-*.json"))):
    d = json.load(open(f))
    ot, ack = d.get("ot") or {}, d.get("ack_latency_us") or {}
    secs = (d.get("duration_s") or 0) + (d.get("warmup_s") or 0)
    def q(k):
        v = ack.get(k)
        return "-" if v is None else "%.2f ms" % (v / 1000)
    rows.append("| %s | %s | %s | %.0f | %s | %s |" % (
        os.path.basename(os.path.dirname(f)), ot.get("edits", "-"), ot.get("acks", "-"),
        (ot.get("acks") or 0) / secs if secs else 0, q("p50"), q("p99")))
print("\n| step | edits sent | acked | acked ops/s | ack p50 | ack p99 |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
PYEOF
