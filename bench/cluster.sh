#!/usr/bin/env bash
# bench/cluster.sh: scale-out through Redis (issue 13): several ringroom instances sharing
# rooms through one redis-server, against the same load on one instance.
#
#   hot   one document, HOT_EDITORS editors at each of HOT_RATES edits/s per editor (ringload
#         ot, convergence checked on every instance): acked ops/s and ack latency
#   chat  the campaign-1m preset (10,000 connections in rooms of 100, 1M msgs/hour) for
#         DURATION after CHAT_WARMUP (10s: the joins' presence messages, a million of them,
#         must be over before measuring): delivery latency, the cross-instance part, loss
#
# Each part runs once per configuration in CONFIGS: `1` one instance without --redis, `1r`
# one instance with --redis, `Nr` N instances with --redis (default: 1 1r 3r). ringload
# spreads every room's members over the instances (--url list: member m of room k on
# instance (k + m) mod N), so with N instances most deliveries cross instances.
#
# Every run gets its own fresh processes: a redis-server from REDIS_BIN (Debian's) on a free
# loopback port with `--save '' --appendonly yes --appendfsync always --dir <its own temp
# dir>`, then the instances (SERVER_BIN --listen 127.0.0.1:<own port> SERVER_ARGS --data-dir
# <own temp dir> [--redis redis://127.0.0.1:<redis port>]). The machine has 2 cores: Redis
# and every instance are pinned to SERVER_CPU (0), ringload to CLIENT_CPU (1). Every server
# runs under `timeout` (LIFETIME seconds, then SIGKILL 5 s later) so none can outlive a
# stuck campaign; all are stopped (SIGTERM, then SIGKILL) at the end of each run and when
# the script exits. Loopback only. ringload samples every instance and Redis together
# (--server-pid A,B,...: CPU summed and per process, measured window).
#
# Knobs (with bench/lib.sh's REPEAT, DURATION, WARMUP, SERVER_BIN, SERVER_ARGS, SERVER_CPU,
# CLIENT_CPU, RINGLOAD, OUT): PARTS (hot chat), CONFIGS, HOT_EDITORS (30), HOT_RATES (5 20),
# CHAT_WARMUP (10s), SLO (campaign-1m's), REDIS_BIN (/usr/bin/redis-server), LIFETIME
# (seconds, from DURATION and the warm-ups).
# Defaults here: DURATION 10s, WARMUP 2s, REPEAT 3. Results: OUT/<step>/run-N.* as every
# campaign, plus run-N.instances (ports, pids, exit statuses), run-N.redis-info (Redis's INFO
# after the run), server-<step>-<run>-<i>.log and redis-<step>-<run>.log; OUT/RESULTS.md has
# the scale-out tables from bench/cluster.py.
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
source "$(dirname "$0")/lib.sh"
REDIS_BIN="${REDIS_BIN:-/usr/bin/redis-server}"
REDIS_CLI="${REDIS_CLI:-/usr/bin/redis-cli}"
PARTS="${PARTS:-hot chat}"
CONFIGS="${CONFIGS:-1 1r 3r}"
HOT_EDITORS="${HOT_EDITORS:-30}"
HOT_RATES="${HOT_RATES:-5 20}"
SLO="${SLO:-p95<50ms,p99.9<250ms,loss<0.01%}"
CHAT_WARMUP="${CHAT_WARMUP:-10s}"

secs() {   # a ringload duration (500ms, 10s, 2m) in whole seconds, rounded up
    local v=$1
    case "$v" in
        *ms) echo $(( (${v%ms} + 999) / 1000 )) ;;
        *s) echo "${v%s}" ;;
        *m) echo $(( ${v%m} * 60 )) ;;
        *h) echo $(( ${v%h} * 3600 )) ;;
        *) echo "$v" ;;
    esac
}
# a server lives at most: warm-up + duration + connect (10,000) + drain + checks + margin
LIFETIME="${LIFETIME:-$(( $(secs "$WARMUP") + $(secs "$CHAT_WARMUP") + $(secs "$DURATION") + 120 ))}"

[[ -z "$TARGET" ]] || die "cluster.sh starts its own servers: TARGET is not supported"
needs_redis=0
for c in $CONFIGS; do [[ "$c" == *r ]] && needs_redis=1; done
if [[ $needs_redis == 1 ]]; then
    [[ -x "$REDIS_BIN" ]] || die "$REDIS_BIN not found (Debian's redis-server package)"
    "$SERVER_BIN" --help 2>/dev/null | grep -q -- '--redis' ||
        die "$SERVER_BIN has no --redis option (scale-out not built yet): run with CONFIGS=1"
fi

# ---- processes ----

CL_PIDS=()        # the servers' own pids (instances, then Redis), this run
CL_TPIDS=()       # their `timeout` wrappers
CL_NAMES=()
CL_DIRS=()        # temp dirs to remove
REDIS_PORT=""
REDIS_PID=""
INST_PORTS=()
INST_PIDS=()
USED_PORTS=" "

# cl_port: PORT = a free loopback port not handed out before in this run
cl_port() {
    local p i
    for i in $(seq 1 20); do
        p=$(free_port)
        if [[ "$USED_PORTS" != *" $p "* ]]; then
            USED_PORTS+="$p "
            PORT=$p
            return
        fi
    done
    die "no free port"
}

# bounded NAME LOG CMD...: starts CMD pinned to SERVER_CPU under `timeout` (LIFETIME s, then
# SIGKILL); BOUNDED_PID is CMD's own pid (timeout forks it; taskset execs it).
bounded() {
    local name=$1 log=$2
    shift 2
    timeout -k 5 "$LIFETIME" taskset -c "$SERVER_CPU" "$@" >>"$log" 2>&1 &
    local t=$! c="" i
    for i in $(seq 1 300); do
        c=$(cat "/proc/$t/task/$t/children" 2>/dev/null || true)
        [[ -n "$c" ]] && break
        sleep 0.01
    done
    [[ -n "$c" ]] || die "$name did not start (see $log)"
    BOUNDED_PID=${c%% *}
    CL_PIDS+=("$BOUNDED_PID")
    CL_TPIDS+=("$t")
    CL_NAMES+=("$name")
}

start_redis() {   # start_redis LOG
    local log=$1 dir i
    cl_port
    REDIS_PORT=$PORT
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ringroom-redis-XXXXXX")
    CL_DIRS+=("$dir")
    bounded redis "$log" "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
        --save '' --appendonly yes --appendfsync always --dir "$dir" --daemonize no
    REDIS_PID=$BOUNDED_PID
    for i in $(seq 1 200); do
        [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && return
        kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited at start (see $log)"
        sleep 0.05
    done
    die "redis-server did not answer PING (see $log)"
}

start_instance() {   # start_instance I LOG WITH_REDIS
    local i=$1 log=$2 redis=$3 port dir k
    cl_port
    port=$PORT
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ringroom-bench-XXXXXX")
    CL_DIRS+=("$dir")
    local args=(--listen "127.0.0.1:$port")
    # shellcheck disable=SC2206
    args+=($SERVER_ARGS)
    args+=(--data-dir "$dir")
    [[ "$redis" == 1 ]] && args+=(--redis "redis://127.0.0.1:$REDIS_PORT")
    echo "instance $i: $SERVER_BIN ${args[*]}" >>"$log"
    bounded "instance-$i" "$log" "$SERVER_BIN" "${args[@]}"
    INST_PORTS+=("$port")
    INST_PIDS+=("$BOUNDED_PID")
    # ready = /health answers 200 and, with --redis, says the link is up: /health is 200 while
    # "redis":"down" for the first ~50 ms, and a join then is refused (cluster-unavailable)
    local health
    for k in $(seq 1 200); do
        if health=$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null); then
            [[ "$redis" == 0 || "$health" == *'"redis":"up"'* ]] && { echo "$health" >"$OUT/health.json"; return; }
        fi
        kill -0 "$BOUNDED_PID" 2>/dev/null || die "instance $i exited at start (see $log)"
        sleep 0.05
    done
    die "instance $i did not answer /health$([[ $redis == 1 ]] && echo ' with "redis":"up"') (see $log)"
}

# stop_all [REPORT]: SIGTERM every server of the run in the reverse order of their start
# (the instances, then Redis), SIGKILL after 10 s; REPORT gets one line per process with how
# it ended.
stop_all() {
    local report=${1:-/dev/null} k i rc
    for ((k = ${#CL_PIDS[@]} - 1; k >= 0; k--)); do
        # still there? (a crash shows up here and in the exit status below)
        if ! kill -0 "${CL_PIDS[$k]}" 2>/dev/null; then
            echo "${CL_NAMES[$k]} pid ${CL_PIDS[$k]}: GONE before the end of the run" >>"$report"
        fi
        kill -TERM "${CL_PIDS[$k]}" 2>/dev/null || true
        for i in $(seq 1 100); do kill -0 "${CL_PIDS[$k]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${CL_PIDS[$k]}" 2>/dev/null || true
        rc=0
        wait "${CL_TPIDS[$k]}" 2>/dev/null || rc=$?
        # timeout: the server's status; 124 = LIFETIME hit; 128+N = killed by signal N
        echo "${CL_NAMES[$k]} pid ${CL_PIDS[$k]}: exit status $rc" >>"$report"
    done
    for k in "${!CL_DIRS[@]}"; do rm -rf "${CL_DIRS[$k]}"; done
    CL_PIDS=(); CL_TPIDS=(); CL_NAMES=(); CL_DIRS=(); INST_PORTS=(); INST_PIDS=()
    REDIS_PID=""; REDIS_PORT=""; USED_PORTS=" "
}
trap 'stop_all' EXIT

# ---- steps ----

# cl_step LABEL CONFIG RINGLOAD-ARGS...: REPEAT runs, each with fresh servers.
cl_step() {
    local label=$1 config=$2
    shift 2
    local n=${config%r} redis=0 dir="$OUT/$label" run rc k
    [[ "$config" == *r ]] && redis=1
    mkdir -p "$dir"
    for run in $(seq 1 "$REPEAT"); do
        local tag="$label-$run"
        [[ $redis == 1 ]] && start_redis "$OUT/redis-$tag.log"
        for k in $(seq 0 $((n - 1))); do start_instance "$k" "$OUT/server-$tag-$k.log" "$redis"; done
        local urls="" pids
        for k in "${!INST_PORTS[@]}"; do urls+="${urls:+,}ws://127.0.0.1:${INST_PORTS[$k]}/ws"; done
        pids=$(IFS=,; echo "${INST_PIDS[*]}${REDIS_PID:+,$REDIS_PID}")
        {
            echo "config: $config ($n instance$([[ $n == 1 ]] || echo s), $([[ $redis == 1 ]] && echo "--redis redis://127.0.0.1:$REDIS_PORT (pid $REDIS_PID)" || echo "no redis"))"
            for k in "${!INST_PORTS[@]}"; do echo "instance $k: 127.0.0.1:${INST_PORTS[$k]} pid ${INST_PIDS[$k]}"; done
            echo "pinned: servers and redis to CPU $SERVER_CPU, ringload to CPU $CLIENT_CPU"
        } >"$dir/run-$run.instances"
        log "$label run $run ($config): ringload $* (urls $urls; servers+redis on CPU $SERVER_CPU, ringload on CPU $CLIENT_CPU)"
        rc=0
        taskset -c "$CLIENT_CPU" "$RINGLOAD" --quiet --url "$urls" --duration "$DURATION" --warmup "$WARMUP" \
            --server-pid "$pids" --json "$dir/run-$run.json" --spectrum "$dir/run-$run.spectrum" "$@" \
            >"$dir/run-$run.txt" 2>&1 || rc=$?
        echo "exit $rc" >>"$dir/run-$run.txt"
        if [[ $redis == 1 ]]; then
            "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" info all >"$dir/run-$run.redis-info" 2>&1 || true
        fi
        grep -E '^\s+(50\.000|99\.000|99\.900)%|Loss:|Errors:|MISMATCH|^ringload: ot:' "$dir/run-$run.txt" | sed 's/^/    /' >&2 || true
        [[ $rc -le 1 ]] || log "$label run $run: ringload exited $rc (see $dir/run-$run.txt)"
        stop_all "$dir/run-$run.instances"
        if grep -q -e GONE -e 'exit status [1-9]' "$dir/run-$run.instances"; then
            log "$label run $run: a server ended badly:"
            grep -e GONE -e 'exit status [1-9]' "$dir/run-$run.instances" | sed 's/^/    /' >&2
        fi
    done
}

begin cluster
{
    echo "cluster: parts $PARTS; configs $CONFIGS; hot: 1 document x $HOT_EDITORS editors at $HOT_RATES edits/s each, warm-up $WARMUP; chat: campaign-1m for $DURATION after $CHAT_WARMUP"
    echo "cluster: redis $REDIS_BIN ($("$REDIS_BIN" --version 2>/dev/null | cut -d' ' -f3)) --save '' --appendonly yes --appendfsync always; servers $SERVER_BIN $SERVER_ARGS --data-dir <own> [--redis ...]"
    echo "cluster: redis and every instance pinned to CPU $SERVER_CPU, ringload to CPU $CLIENT_CPU (taskset); each server bounded to ${LIFETIME}s (timeout)"
} >>"$OUT/meta.txt"
log "pinning: redis-server and every ringroom instance to CPU $SERVER_CPU, ringload to CPU $CLIENT_CPU (taskset)"

for part in $PARTS; do
    case "$part" in
        hot)
            for rate in $HOT_RATES; do
                for config in $CONFIGS; do
                    cl_step "hot-r$rate-$config" "$config" --scenario ot --conns "$HOT_EDITORS" \
                        --room-size "$HOT_EDITORS" --rate "$rate/conn" --room-prefix hot
                done
            done ;;
        chat)
            for config in $CONFIGS; do
                cl_step "chat-$config" "$config" --preset campaign-1m --slo "$SLO" --warmup "$CHAT_WARMUP"
            done ;;
        *) die "unknown part '$part' (hot, chat)" ;;
    esac
done

$PY "$BENCH_DIR/results.py" dat "$OUT" >"$OUT/summary.dat" || true
$PY "$BENCH_DIR/cluster.py" "$OUT" --title "Scale-out through Redis ($(date -u +%Y-%m-%d))" >"$OUT/RESULTS.md" || true
PLOT_KIND=none "$BENCH_DIR/plot.sh" "$OUT" "cluster: scale-out through Redis" || log "plotting failed (see above)"
log "done: $OUT/RESULTS.md"
cat "$OUT/RESULTS.md" >&2 || true
