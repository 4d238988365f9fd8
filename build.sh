#!/usr/bin/env bash
# build.sh: the two commands ringroom promises, and the steps behind them.
#
#   ./build.sh run     install what is missing, build, start ringroom on 127.0.0.1:8080
#   ./build.sh test    install what is missing, build (optimised + ASan/UBSan), run every test
#
#   ./build.sh deps [--test]   apt-get install only missing packages (needs root)
#   ./build.sh build           optimised build: build/ringroom, build/ringload
#   ./build.sh bench           benchmark campaigns (bench/README.md)
#
# Everything a test needs (Redis, Prometheus, Chromium, npm packages...) is installed and
# started by this script and the tests themselves, so a clean clone on a fresh Debian
# bookworm machine passes `./build.sh test` as root.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

BUILD_PACKAGES=(build-essential pkg-config liburing-dev libhttp-parser-dev libssl-dev libjsmn-dev
                libhiredis-dev libmongoc-dev libbson-dev curl)
TEST_PACKAGES=(clang libclang-rt-14-dev libcmocka-dev libjansson-dev python3 python3-websockets
               redis-server prometheus wrk gnuplot-nox kubectl podman uidmap chromium
               python3-jsonschema python3-yaml python3-seccomp python3-pymongo runc)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

deps() {
    local want=("${BUILD_PACKAGES[@]}")
    [[ "${1:-}" == "--test" ]] && want+=("${TEST_PACKAGES[@]}")
    command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
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

build_asan() {
    log "building (AddressSanitizer + UndefinedBehaviorSanitizer)"
    make -s -j"$(jobs)" VARIANT=asan
}

run() {
    deps
    build
    log "ringroom on http://127.0.0.1:8080/  (Ctrl-C drains and stops)"
    exec ./build/ringroom --listen "${RINGROOM_LISTEN:-127.0.0.1:8080}" "$@"
}

test_all() {
    deps --test
    build
    build_asan
    make -s fuzz
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
    *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
