#!/usr/bin/env bash
# build.sh: the two commands ringroom promises, and the steps behind them.
#
#   ./build.sh run     install what the server needs, build it, start it on 127.0.0.1:8080
#   ./build.sh test    install what the tests need, build (optimised + ASan/UBSan), run every test
#
#   ./build.sh deps [--test] [--print]   apt-get install only missing packages (needs root);
#                                        --print lists the packages instead of installing
#   ./build.sh build           optimised build of the programs: build/ringroom, build/ringload
#   ./build.sh bench           benchmark campaigns (bench/README.md)
#
# `run` needs only BUILD_PACKAGES: no cmocka, jansson, clang or node (tests/build/fresh_build.py
# checks that with the test packages hidden). Everything a test needs (Prometheus, Chromium,
# npm packages...) is installed and started by this script and the tests themselves, so a
# clean clone on a fresh Debian bookworm machine passes `./build.sh test` as root.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# What the programs need to build and run (the Dockerfile's build stage installs the same).
BUILD_PACKAGES=(build-essential pkg-config liburing-dev libhttp-parser-dev libssl-dev libjsmn-dev
                libmongoc-dev libbson-dev libhiredis-dev)
# What only the tests and the benchmarks need; node and npm are added when missing.
# redis-server: tests start their own on a free loopback port; none uses the Debian service
# (which the package may start: harmless, never contacted).
TEST_PACKAGES=(clang libclang-rt-14-dev libcmocka-dev libjansson-dev python3 python3-websockets
               prometheus wrk gnuplot-nox kubectl podman uidmap chromium curl
               python3-jsonschema python3-yaml python3-seccomp python3-pymongo runc
               redis-server)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

deps() {
    local want=("${BUILD_PACKAGES[@]}") test=0 print=0 arg
    for arg in "$@"; do
        case "$arg" in
            --test) test=1 ;;
            --print) print=1 ;;
            *) die "deps: unknown option $arg (have: --test --print)" ;;
        esac
    done
    if (( test )); then
        want+=("${TEST_PACKAGES[@]}")
        command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
    fi
    if (( print )); then printf '%s\n' "${want[@]}"; return; fi
    local missing
    missing=$(missing_packages "${want[@]}" | tr '\n' ' ')
    if [[ -n "${missing// }" ]]; then
        if [[ $(id -u) -ne 0 ]]; then
            die "missing Debian packages: $missing
run as root (./build.sh installs them with apt-get) or: sudo apt-get install -y $missing"
        fi
        log "installing: $missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
}

jobs() { nproc 2>/dev/null || echo 2; }

build() {
    log "building (optimised)"
    make -s -j"$(jobs)"
}

build_tests() {
    log "building the tests (optimised, then AddressSanitizer + UndefinedBehaviorSanitizer)"
    make -s -j"$(jobs)" units
    make -s -j"$(jobs)" VARIANT=asan programs units
    make -s -j"$(jobs)" fuzz
}

run() {
    deps
    build
    local listen="${RINGROOM_LISTEN:-127.0.0.1:8080}"
    log "ringroom on http://$listen/  (Ctrl-C drains and stops)"
    exec ./build/ringroom --listen "$listen" "$@"
}

test_all() {
    deps --test
    build
    build_tests
    exec tests/run.sh "$@"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    deps) deps "$@" ;;
    build) build ;;
    run) run "$@" ;;
    test) test_all "$@" ;;
    bench) deps --test; build; if [[ $# -gt 0 ]]; then exec bench/run.sh "$@"; else exec bench/all.sh; fi ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
