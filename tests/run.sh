#!/usr/bin/env bash
# tests/run.sh: every test suite of ringroom, in order; `./build.sh test` calls it after
# building. `tests/run.sh SUITE...` runs only the named suites. Each suite's time and result is
# printed at the end; the exit code is non-zero if any suite failed.
#
# Suites use the ASan/UBSan build where they exercise server code paths (unit, integration,
# conformance) and the optimised build where timing or load matters. Long variants (fuzzing
# for 10 minutes, soak, campaigns) are documented in tests/README.md, not run here.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

PY=/usr/bin/python3          # Debian's python, which sees python3-websockets
export RINGROOM_VECTORS="${RINGROOM_VECTORS:-$(readlink -f ../shared/vectors/ot 2>/dev/null || echo ../shared/vectors/ot)}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
mkdir -p tests/artifacts

# Suites that read the sibling ../shared/ folder (laid beside the clone, as in CI) stop at once
# with one line naming what is missing, instead of failing case by case.
needs() {   # needs PATH WHAT
    [[ -e $1 ]] || { echo "tests/run.sh: $SUITE needs $1 ($2)"; return 1; }
}

# `./build.sh run` on a machine without the test packages (they are hidden, not removed)
suite_fresh() {
    $PY tests/build/fresh_build.py
}

# src/LAYERS holds (make layers: includes, calls, cycles, sizes, header contracts), and the
# check's own test on synthetic trees
suite_layers() {
    local rc=0
    make -s layers || rc=1
    $PY -m unittest tests/build/test_layers.py || rc=1
    return $rc
}

suite_unit() {
    local t rc=0
    needs "$RINGROOM_VECTORS" "ot.js test vectors; set RINGROOM_VECTORS to use another copy" || return 1
    for t in build/asan/tests/test_*; do
        [[ -x "$t" ]] || continue
        echo "--- $t"
        "$t" || rc=1
    done
    return $rc
}

suite_integration() {
    # CongoServer (npm) for the MongoDB back end's tests: npm ci when the lockfile is newer
    (cd tests/mongo && { [[ node_modules/.package-lock.json -nt package-lock.json ]] ||
        npm ci --no-audit --no-fund --loglevel=error; }) || return 1
    RINGROOM_BIN=build/asan/ringroom $PY -m unittest discover -s tests/integration -p 'test_*.py' -v
}

suite_conformance() {
    RINGROOM_BIN=build/asan/ringroom $PY tests/conformance/run.py
}

suite_node() {
    # optimised build unless RINGROOM_BIN says otherwise; npm ci when the lockfile is newer than
    # the installed tree (or there is none)
    local bin
    bin=$(readlink -f "${RINGROOM_BIN:-build/ringroom}")
    (cd tests/node &&
        { [[ node_modules/.package-lock.json -nt package-lock.json ]] ||
            npm ci --no-audit --no-fund --loglevel=error; } &&
        RINGROOM_BIN="$bin" node --test)
}

# issue 13: three instances sharing rooms through a redis-server of the suite's own
# (tests/cluster/cluster.mjs); the ASan build unless RINGROOM_BIN says otherwise. It reuses
# tests/node's npm packages (ot, ws). Files run one at a time (each starts its own Redis and
# instances); `timeout` bounds the whole suite and, killing its process group, every process
# the suite started.
suite_cluster() {
    local bin
    bin=$(readlink -f "${RINGROOM_BIN:-build/asan/ringroom}")
    needs /usr/bin/redis-server "Debian's redis-server" || return 1
    (cd tests/node &&
        { [[ node_modules/.package-lock.json -nt package-lock.json ]] ||
            npm ci --no-audit --no-fund --loglevel=error; }) || return 1
    (cd tests/cluster &&
        RINGROOM_BIN="$bin" timeout -s KILL "${CLUSTER_TIMEOUT:-300}" node --test --test-concurrency=1)
}

# the demo page in Debian's Chromium (playwright-core drives it; no browser download)
suite_browser() {
    (cd tests/browser && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; } &&
        RINGROOM_BIN="$PWD/../../build/ringroom" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node --test)
}

suite_fuzz() {
    local f rc=0
    mkdir -p tests/artifacts/fuzz
    for f in build/fuzz/fuzz_*; do
        [[ -x "$f" ]] || continue
        local name corpus
        name=$(basename "$f")
        corpus=tests/artifacts/fuzz/$name
        mkdir -p "$corpus"
        echo "--- $name for ${FUZZ_SECONDS}s"
        "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=0 -artifact_prefix=tests/artifacts/fuzz/ \
            "$corpus" $( [[ -d tests/fuzz/corpus/$name ]] && echo tests/fuzz/corpus/$name ) \
            >"tests/artifacts/fuzz/$name.log" 2>&1 || { rc=1; tail -40 "tests/artifacts/fuzz/$name.log"; }
    done
    return $rc
}

suite_deploy() {
    # k8s manifests, alerts, dashboards, Dockerfile, seccomp profile; live /metrics + Prometheus
    # (optimised build: the live step is a load). tests/deploy/run.sh lists its steps.
    needs ../shared/tools "the Kubernetes schema bundle and the dashboard checker" || return 1
    RINGROOM_BIN=build/ringroom tests/deploy/run.sh
}

ALL=(fresh layers unit integration conformance node cluster browser fuzz deploy)
SUITES=("$@")
[[ ${#SUITES[@]} -eq 0 ]] && SUITES=("${ALL[@]}")

declare -A RESULT TIME
failed=0
for s in "${SUITES[@]}"; do
    declare -F "suite_$s" >/dev/null || { echo "unknown suite: $s (have: ${ALL[*]})"; exit 2; }
    printf '\n\033[1m=== %s\033[0m\n' "$s"
    start=$(date +%s)
    SUITE=$s
    if "suite_$s"; then RESULT[$s]=pass; else RESULT[$s]=FAIL; failed=1; fi
    TIME[$s]=$(( $(date +%s) - start ))
done

printf '\n\033[1m=== summary\033[0m\n'
for s in "${SUITES[@]}"; do printf '  %-14s %-5s %4ss\n' "$s" "${RESULT[$s]}" "${TIME[$s]}"; done
exit $failed
