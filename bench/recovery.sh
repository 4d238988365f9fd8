#!/usr/bin/env bash
# bench/recovery.sh: start-up recovery time of an op log of OPS operations. The log is made by
# the real server (SERVER_ARGS plus --fsync off, pinned like every campaign) under ringload's
# ot scenario at FILL_RATE edits/s per editor (DOCS documents x EDITORS editors; ot has no
# closed-loop mode) in FILL_CHUNK runs until the documents' revisions add up to OPS. The server is then stopped
# (SIGTERM) and started again on the same --data-dir, twice: the first start recovers every
# segment (and compacts them when they exceed --segment-bytes), the second recovers the
# compacted log. Each start is timed from exec to the first `200` of /health (curl every
# 10 ms), next to the server's own `op log:` lines. Writes OUT/RESULTS.md.
source "$(dirname "$0")/lib.sh"
OPS="${OPS:-1000000}"
DOCS="${DOCS:-100}"
EDITORS="${EDITORS:-10}"
FILL_CHUNK="${FILL_CHUNK:-20s}"        # in seconds, with the s
FILL_RATE="${FILL_RATE:-15}"
MAX_CHUNKS="${MAX_CHUNKS:-30}"
begin recovery
DATA=$(mktemp -d "${TMPDIR:-/tmp}/ringroom-recovery-XXXXXX")
PID=""
PORT=""
cleanup() {
    [[ -n "$PID" ]] && kill -KILL "$PID" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

# start_on_data LOG [ARGS...]: starts the server on $DATA (PID, PORT); START_MS = ms from exec
# to /health 200.
start_on_data() {
    local logf=$1
    shift
    PORT=$(free_port)
    local t0 t1 i
    t0=$(date +%s%N)
    # shellcheck disable=SC2086
    taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$DATA" $SERVER_ARGS "$@" >"$logf" 2>&1 &
    PID=$!
    for i in $(seq 1 30000); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
            t1=$(date +%s%N)
            START_MS=$(( (t1 - t0) / 1000000 ))
            return
        fi
        kill -0 "$PID" 2>/dev/null || die "server exited at start (see $logf)"
        sleep 0.01
    done
    die "server did not answer /health (see $logf)"
}

stop_on_data() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}

total_ops() {
    local k sum=0 rev
    for k in $(seq 0 $((DOCS - 1))); do
        rev=$(curl -fsS "http://127.0.0.1:$PORT/rooms/r$k" 2>/dev/null |
            $PY -c 'import json,sys; print(json.load(sys.stdin)["rev"])' 2>/dev/null || echo 0)
        sum=$((sum + rev))
    done
    echo "$sum"
}

start_on_data "$OUT/server-fill.log" --fsync off
log "filling $DATA to $OPS ops (server up in ${START_MS} ms)"
t_fill0=$(date +%s)
ops=0
chunk=0
while (( ops < OPS && chunk < MAX_CHUNKS )); do
    chunk=$((chunk + 1))
    # the last run only as long as the remaining ops need (at the offered rate)
    secs=$(( (OPS - ops + DOCS * EDITORS * FILL_RATE - 1) / (DOCS * EDITORS * FILL_RATE) ))
    dur="$FILL_CHUNK"
    (( secs < ${FILL_CHUNK%s} )) && dur="${secs}s"
    taskset -c "$CLIENT_CPU" "$RINGLOAD" --quiet --scenario ot --url "ws://127.0.0.1:$PORT/ws" \
        --conns $((DOCS * EDITORS)) --room-size "$EDITORS" --room-prefix r --rate "$FILL_RATE/conn" --seed "$chunk" \
        --duration "$dur" --warmup 0s --json "$OUT/fill-$chunk.json" >"$OUT/fill-$chunk.txt" 2>&1 || rc=$?
    [[ ${rc:-0} -le 1 ]] || die "fill run $chunk: ringload exited $rc (see $OUT/fill-$chunk.txt)"
    rc=0
    ops=$(total_ops)
    log "fill run $chunk: $ops ops in the log"
done
fill_s=$(( $(date +%s) - t_fill0 ))
stop_on_data
(( ops >= OPS )) || log "only $ops ops after $MAX_CHUNKS runs; timing recovery anyway"
bytes=$(du -sb "$DATA" | cut -f1)
nseg=$(find "$DATA" -name 'seg-*.log' -size +0 | wc -l)

start_on_data "$OUT/server-start1.log"
first_ms=$START_MS
stop_on_data
bytes2=$(du -sb "$DATA" | cut -f1)
start_on_data "$OUT/server-start2.log"
second_ms=$START_MS
stop_on_data
oplines() { grep -o 'op log: .*' "$1" | grep -E 'recovered|compacted|ready in' | sed 's/|/\\|/g' | paste -sd ';' | sed 's/;/; /g'; }
{
    echo "## recovery: start-up with an op log of $ops ops ($(date -u +%Y-%m-%d))"
    echo
    echo "The log was written by the server itself (\`$SERVER_ARGS --fsync off\`) under ringload's ot scenario, $DOCS documents x $EDITORS editors at $FILL_RATE edits/s each, in ${fill_s} s (snapshots every --snapshot-every ops, default 1000). Time from exec to the first \`200\` of /health (polled every 10 ms), server pinned to CPU $SERVER_CPU."
    echo
    echo "| start | data dir before | exec → /health 200 | server's log |"
    echo "|---|---|---|---|"
    echo "| 1: all segments ($nseg) | $((bytes / 1048576)) MiB | $first_ms ms | $(oplines "$OUT/server-start1.log") |"
    echo "| 2: again (the compacted log, if start 1 compacted) | $((bytes2 / 1048576)) MiB | $second_ms ms | $(oplines "$OUT/server-start2.log") |"
} >"$OUT/RESULTS.md"
log "done: $OUT/RESULTS.md"
cat "$OUT/RESULTS.md" >&2
