#!/usr/bin/env bash
# bench/all.sh: the full campaign set behind RESULTS.md, in about 19 minutes on a 2-core
# machine (server pinned to CPU 0, ringload to CPU 1), then RESULTS.md regenerated from the
# reports by bench/report.py (no figure is typed by hand). `./build.sh bench` runs this.
#
#   echo         1,000 connections, 10K / 50K / 100K msgs/s                  (3 runs a step)
#   idle         1,000 / 2,500 / 5,000 / 10,000 / 19,000 connections on one core,
#                39,000 on two (1 run a step)
#   campaign-1m  10,000 connections in rooms of 100, 1M msgs/hour, 120 s       (1 run)
#   chat         10,000 connections in rooms of 100, 100 / 300 / 1,000 / 1,250 / 1,500 /
#                2,000 / 2,500 / 3,000 msgs/s: the knee lies between 1,000 and 3,000 (2 runs a step)
#   ot           100 documents x 10 editors; 1 document x 100 editors          (1 run a step)
#   history      GET /history with wrk, limit 10 / 100 / 1000, at 1, 10 and 50 connections
#   fsync        ot (100 docs x 10 editors; 1 doc x 100 editors, 20 edits/s each) per --fsync mode
#   recovery     a 1,000,000-op log written by the server, then its start-up recovery timed
#   checkpoint   chat with 4 KB messages: 64 MiB segments checkpointed and removed, vs 1 GiB
#   cluster      scale-out through Redis: one hot document (30 editors at 5 and 20 edits/s) and
#                campaign-1m, each on 1 instance, 1 instance with --redis, 3 with --redis (1 run
#                each; about 3 minutes)
#
# ALL_OUT (default bench/results/all-UTCDATE) holds one directory per campaign. Set
# CAMPAIGNS to run a subset (the report covers whatever is there). Each section's command in
# RESULTS.md is read from this file's `run` lines by report.py: keep one `run` per line.
set -euo pipefail
cd "$(dirname "$0")"
ALL_OUT="${ALL_OUT:-$PWD/results/all-$(date -u +%Y%m%dT%H%M%SZ)}"
CAMPAIGNS="${CAMPAIGNS:-echo idle idle-2core campaign-1m chat ot ot-hot history fsync recovery checkpoint cluster}"
mkdir -p "$ALL_OUT"
start=$(date +%s)

run() {   # run NAME SCRIPT [VAR=VALUE...]
    local name=$1 script=$2
    shift 2
    [[ " $CAMPAIGNS " == *" $name "* ]] || return 0
    printf '\033[1m[all] %s\033[0m\n' "$name" >&2
    env OUT="$ALL_OUT/$name" "$@" "./$script" >"$ALL_OUT/$name.log" 2>&1 ||
        printf '[all] %s failed (see %s)\n' "$name" "$ALL_OUT/$name.log" >&2
    # a plot bench/plot.sh could not draw is left out of RESULTS.md: say so here, not only in the log
    grep '^plot.sh: ' "$ALL_OUT/$name.log" | sed "s/^/[all] $name: /" >&2 || true
}

run echo echo.sh RATES="10000 50000 100000" REPEAT=3 DURATION=10s WARMUP=2s
run idle idle.sh CONNS_LIST="1000 2500 5000 10000 19000" REPEAT=1
run idle-2core idle.sh CONNS_LIST="39000" REPEAT=1 SERVER_ARGS="--threads 2"
run campaign-1m campaign-1m.sh REPEAT=1
run chat chat.sh RATES="100 300 1000 1250 1500 2000 2500 3000" REPEAT=2 DURATION=10s WARMUP=2s
run ot ot.sh DOCS=100 EDITORS=10 RATES="1 5" REPEAT=1 DURATION=10s WARMUP=2s
run ot-hot ot.sh DOCS=1 EDITORS=100 RATES="5 20" REPEAT=1 DURATION=10s WARMUP=2s
run history history.sh LIMITS="10 100 1000" CONNECTIONS="1 10 50" DURATION=5s
run fsync fsync.sh MODES="always batch off" DOCS=100 EDITORS=10 HOT_EDITORS=100 RATE=20 REPEAT=1 DURATION=10s WARMUP=2s
run recovery recovery.sh OPS=1000000
run checkpoint checkpoint.sh REPEAT=3 DURATION=20s WARMUP=2s
run cluster cluster.sh REPEAT=1 DURATION=10s WARMUP=2s

printf '[all] campaigns done in %ss; writing RESULTS.md\n' "$(( $(date +%s) - start ))" >&2
/usr/bin/python3 ./report.py "$ALL_OUT" --elapsed "$(( $(date +%s) - start ))" >../RESULTS.md
printf '[all] RESULTS.md written from %s\n' "$ALL_OUT" >&2
