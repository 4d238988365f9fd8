#!/usr/bin/env bash
# bench/history.sh: GET /history/<room> throughput with wrk (closed loop: a throughput figure,
# not a latency one). The room is first given HISTORY_OPS-ish operations by ringload's ot
# scenario (10 editors), then wrk runs for DURATION on one thread, pinned to CLIENT_CPU, for
# each LIMIT (the ?limit= of the request) and each count in CONNECTIONS (a list: at -c1 the
# p99 is close to one request's own latency; at -c50 it is mostly queueing behind the others).
DURATION="${DURATION:-10s}"
source "$(dirname "$0")/lib.sh"
LIMITS="${LIMITS:-10 100 1000}"
CONNECTIONS="${CONNECTIONS:-50}"
SEED_SECONDS="${SEED_SECONDS:-5}"
command -v wrk >/dev/null || die "wrk not installed (Debian package wrk)"
begin history
RESTART=never
start_server
http=$(base_url | sed 's|^ws://|http://|')
log "seeding room h0 with ot edits for ${SEED_SECONDS}s"
taskset -c "$CLIENT_CPU" "$RINGLOAD" --quiet --scenario ot --url "$(base_url)/ws" --conns 10 --room-size 10 \
    --room-prefix h --rate 20/conn --duration "${SEED_SECONDS}s" --warmup 0s --json "$OUT/seed.json" >"$OUT/seed.txt" 2>&1 ||
    die "seeding failed (see $OUT/seed.txt)"
rev=$(curl -fsS "$http/rooms/h0" | $PY -c 'import json,sys; print(json.load(sys.stdin)["rev"])')
log "room h0 at revision $rev"
{
    echo "## history: GET /history/h0 with wrk ($(date -u +%Y-%m-%d))"
    echo
    echo "Room h0 at revision $rev; wrk -t1 -cC -d$DURATION, closed loop (throughput; latency includes queueing behind the other C-1 connections)."
    echo
    echo "| limit | connections | requests/s | transfer/s | avg latency | p99 latency | server CPU µs/request |"
    echo "|---|---|---|---|---|---|---|"
} >"$OUT/RESULTS.md"
for limit in $LIMITS; do
  for conns in $CONNECTIONS; do
    d="$OUT/limit-$limit-c$conns"
    mkdir -p "$d"
    cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"$DURATION" --latency "$http/history/h0?limit=$limit" \
        >"$d/wrk.txt" 2>&1 || log "wrk failed (see $d/wrk.txt)"
    cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    rps=$(awk '/Requests\/sec/ {print $2}' "$d/wrk.txt")
    tps=$(awk '/Transfer\/sec/ {print $2}' "$d/wrk.txt")
    avg=$(awk '$1 == "Latency" {print $2; exit}' "$d/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$d/wrk.txt")
    total=$(awk '/requests in/ {print $1}' "$d/wrk.txt")
    us=$($PY -c 'import os, sys; t = os.sysconf("SC_CLK_TCK"); n = max(1, int(sys.argv[3] or 0))
print("%.1f" % ((int(sys.argv[2]) - int(sys.argv[1])) / t * 1e6 / n))' "$cpu0" "$cpu1" "${total:-0}")
    echo "| $limit | $conns | $rps | $tps | $avg | $p99 | $us |" >>"$OUT/RESULTS.md"
    log "limit $limit, $conns connections: $rps requests/s, p99 $p99"
  done
done
stop_server
cat "$OUT/RESULTS.md" >&2
