#!/usr/bin/env bash
# bench/echo.sh: raw WebSocket echo (/echo) latency against offered load.
#   RATES   total messages/s, one step each        (default: 10000 25000 50000 100000)
#   CONNS   connections                            (default: 1000)
#   SIZE    payload bytes                          (default: 64)
# plus the knobs of bench/lib.sh (REPEAT, DURATION, WARMUP, SERVER_ARGS, TARGET...).
source "$(dirname "$0")/lib.sh"
RATES="${RATES:-10000 25000 50000 100000}"
CONNS="${CONNS:-1000}"
SIZE="${SIZE:-64}"
begin echo
for rate in $RATES; do
    step "rate-$rate" /echo --scenario echo --conns "$CONNS" --rate "$rate" --size "$SIZE"
done
finish "echo: $CONNS connections, $SIZE-byte messages"
