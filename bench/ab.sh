#!/usr/bin/env bash
# bench/ab.sh: two server binaries compared on the same campaigns, interleaved, so that the
# machine's drift (other load, thermal, page cache) lands on both alike.
#   A          the baseline ringroom binary (required)
#   B          the candidate                          (default: build/ringroom)
#   ROUNDS     rounds; round r runs A then B, or B then A when r is even   (default: 5)
#   CAMPAIGNS  bench scripts run in each round        (default: "echo chat")
# Each campaign's own knobs apply (RATES, CONNS, DURATION, WARMUP, SERVER_ARGS...); every
# run is one ringload run against a fresh server (REPEAT=1). Results: OUT/<campaign>/<A|B>-<r>/,
# and OUT/ab.md, the median over rounds per step for A and B with the ratio B/A
# (bench/ab.py). RATES is read by every campaign, so campaigns that want different rates run
# apart. The issue-12 A/B (docs/results/ab-issue12.md), about 5 and 9 minutes:
#   A=/tmp/ringroom-base ROUNDS=5 DURATION=10s WARMUP=2s CAMPAIGNS=echo RATES="25000 100000" bench/ab.sh
#   A=/tmp/ringroom-base ROUNDS=5 DURATION=10s WARMUP=2s CAMPAIGNS=chat RATES="1000 2500" bench/ab.sh
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
A="${A:?A=path of the baseline ringroom binary}"
B="${B:-$ROOT/build/ringroom}"
ROUNDS="${ROUNDS:-5}"
CAMPAIGNS="${CAMPAIGNS:-echo chat}"
OUT="${OUT:-$ROOT/bench/results/ab-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
for bin in "$A" "$B"; do [[ -x "$bin" ]] || { echo "bench/ab.sh: $bin is not an executable" >&2; exit 1; }; done
{
    echo "A: $A ($(sha256sum "$A" | cut -c1-12))"
    echo "B: $B ($(sha256sum "$B" | cut -c1-12))"
    echo "rounds: $ROUNDS; campaigns: $CAMPAIGNS; date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$OUT/meta.txt"
for r in $(seq 1 "$ROUNDS"); do
    order="A B"
    (( r % 2 == 0 )) && order="B A"
    for c in $CAMPAIGNS; do
        for side in $order; do
            bin=$A
            [[ $side == B ]] && bin=$B
            echo "[ab] round $r/$ROUNDS: $c on $side" >&2
            SERVER_BIN="$bin" REPEAT=1 OUT="$OUT/$c/$side-$r" "$BENCH_DIR/$c.sh" >"$OUT/$c-$side-$r.log" 2>&1 ||
                echo "[ab] $c on $side round $r failed: see $OUT/$c-$side-$r.log" >&2
        done
    done
done
/usr/bin/python3 "$BENCH_DIR/ab.py" "$OUT" | tee "$OUT/ab.md"
