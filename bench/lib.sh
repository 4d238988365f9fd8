# bench/lib.sh: what every campaign script shares (sourced, not run). See bench/README.md.
#
# A campaign is a list of steps; each step runs ringload REPEAT times, each time against a
# freshly started server (RESTART=run, the default; RESTART=step keeps one server per step),
# the server pinned to SERVER_CPU and ringload to CLIENT_CPU with taskset. Every run leaves
# OUT/<step>/run-N.{json,spectrum,txt}; finish() adds OUT/summary.dat, OUT/RESULTS.md (a
# section for the project's RESULTS.md, made by bench/results.py) and gnuplot PNGs.
#
# Knobs (environment): RINGLOAD, SERVER_BIN, SERVER_ARGS, SERVER_CPU, CLIENT_CPU, REPEAT,
# DURATION, WARMUP, RESTART, OUT, and TARGET=ws://127.0.0.1:PORT to load a server that is
# already running (not started, not pinned; TARGET_PID, if set, is sampled for CPU/RSS).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
RINGLOAD="${RINGLOAD:-$ROOT/build/ringload}"
SERVER_BIN="${SERVER_BIN:-$ROOT/build/ringroom}"
SERVER_ARGS="${SERVER_ARGS:---threads 1}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
REPEAT="${REPEAT:-3}"
DURATION="${DURATION:-30s}"
WARMUP="${WARMUP:-5s}"
RESTART="${RESTART:-run}"
TARGET="${TARGET:-}"
TARGET_PID="${TARGET_PID:-}"
PY=/usr/bin/python3

SERVER_PID=""
SERVER_PORT=""
SERVER_DATA=""

log() { printf '\033[1m[bench %s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# begin NAME: sets OUT and writes what the machine and binaries were.
begin() {
    local name=$1
    OUT="${OUT:-$ROOT/bench/results/$name-$(date -u +%Y%m%dT%H%M%SZ)}"
    mkdir -p "$OUT"
    [[ -x "$RINGLOAD" ]] || die "$RINGLOAD not built (./build.sh build)"
    [[ -n "$TARGET" || -x "$SERVER_BIN" ]] || die "$SERVER_BIN not built (./build.sh build)"
    {
        echo "campaign: $name"
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "host: $(uname -srm), $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
        echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "ringload: $RINGLOAD ($("$RINGLOAD" --version 2>/dev/null || true))"
        if [[ -n "$TARGET" ]]; then echo "server: external $TARGET (pid ${TARGET_PID:-unknown})"
        else echo "server: $SERVER_BIN $SERVER_ARGS, pinned to CPU $SERVER_CPU"; fi
        echo "client: pinned to CPU $CLIENT_CPU; repeat $REPEAT; duration $DURATION; warm-up $WARMUP; restart per $RESTART"
    } >"$OUT/meta.txt"
    log "results in $OUT"
}

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_server() {
    if [[ -n "$TARGET" ]]; then
        SERVER_PID="$TARGET_PID"
        return
    fi
    SERVER_PORT=$(free_port)
    SERVER_DATA=$(mktemp -d "${TMPDIR:-/tmp}/ringroom-bench-XXXXXX")     # a fresh op log per server
    # shellcheck disable=SC2086
    RINGROOM_DATA_DIR="$SERVER_DATA" taskset -c "$SERVER_CPU" "$SERVER_BIN" --listen "127.0.0.1:$SERVER_PORT" $SERVER_ARGS \
        >>"$OUT/server.log" 2>&1 &
    SERVER_PID=$!
    local i
    for i in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$SERVER_PORT/health" >"$OUT/health.json" 2>/dev/null; then return; fi
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited at start (see $OUT/server.log)"
        sleep 0.05
    done
    die "server did not answer /health (see $OUT/server.log)"
}

stop_server() {
    [[ -z "$TARGET" && -n "$SERVER_PID" ]] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    [[ -n "$SERVER_DATA" ]] && rm -rf "$SERVER_DATA"
    SERVER_DATA=""
}
trap stop_server EXIT

# base_url: ws://127.0.0.1:PORT of the server under test.
base_url() {
    if [[ -n "$TARGET" ]]; then echo "${TARGET%/}"; else echo "ws://127.0.0.1:$SERVER_PORT"; fi
}

# step LABEL PATH RINGLOAD-ARGS...: REPEAT runs of ringload against PATH (/echo or /ws).
step() {
    local label=$1 path=$2
    shift 2
    local dir="$OUT/$label" i rc
    mkdir -p "$dir"
    [[ "$RESTART" == step ]] && start_server
    local first=${RUN_FIRST:-1}
    for i in $(seq "$first" $((first + REPEAT - 1))); do
        [[ "$RESTART" == run ]] && start_server
        local pidarg=()
        [[ -n "$SERVER_PID" ]] && pidarg=(--server-pid "$SERVER_PID")
        log "$label run $i: ringload $* (url $(base_url)$path)"
        rc=0
        # the server's system calls over the whole ringload run (perf; SYSCALLS=0 to skip)
        local perfpid=""
        if [[ "${SYSCALLS:-1}" == 1 && -n "$SERVER_PID" ]] && command -v perf >/dev/null; then
            perf stat -x, -e raw_syscalls:sys_enter -p "$SERVER_PID" -o "$dir/run-$i.syscalls" 2>/dev/null &
            perfpid=$!
        fi
        taskset -c "$CLIENT_CPU" "$RINGLOAD" --quiet --url "$(base_url)$path" --duration "$DURATION" --warmup "$WARMUP" \
            "${pidarg[@]}" --json "$dir/run-$i.json" --spectrum "$dir/run-$i.spectrum" "$@" >"$dir/run-$i.txt" 2>&1 || rc=$?
        if [[ -n "$perfpid" ]]; then
            kill -INT "$perfpid" 2>/dev/null || true
            wait "$perfpid" 2>/dev/null || true
        fi
        echo "exit $rc" >>"$dir/run-$i.txt"
        grep -E '^\s+(50\.000|99\.000|99\.900)%|Loss:|Errors:' "$dir/run-$i.txt" | sed 's/^/    /' >&2 || true
        [[ $rc -le 1 ]] || log "$label run $i: ringload exited $rc (see $dir/run-$i.txt)"
        [[ "$RESTART" == run ]] && stop_server
    done
    [[ "$RESTART" == step ]] && stop_server
    return 0
}

# finish TITLE [XCOL XLABEL]: summary table, RESULTS.md section and plots.
finish() {
    local title=$1 xcol=${2:-2} xlabel=${3:-"offered rate (msgs/s)"}
    $PY "$BENCH_DIR/results.py" dat "$OUT" >"$OUT/summary.dat" || true
    $PY "$BENCH_DIR/results.py" md "$OUT" --title "$title ($(date -u +%Y-%m-%d))" >"$OUT/RESULTS.md" || true
    "$BENCH_DIR/plot.sh" "$OUT" "$title" "$xcol" "$xlabel" || log "plotting failed (see above): a plot is missing"
    log "done: $OUT/RESULTS.md"
    cat "$OUT/RESULTS.md" >&2 || true
}
