#!/usr/bin/env bash
# bench/engines.sh: which client engine lets one core drive more: io_uring or epoll.
# ringload is pinned to one core, the server to the other. Two measures per engine:
#   closed-N   --rate max, PIPELINE messages in flight per connection: messages/s the one
#              client core sustains and its CPU per message (client.cpu_us_per_message);
#   open-R     open loop at each of RATES msgs/s: CPU per message and schedule slip.
# Results: OUT/<engine>-<step>/..., and summary.dat / RESULTS.md like every campaign.
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
source "$(dirname "$0")/lib.sh"
CONNS="${CONNS:-1000}"
PIPELINE="${PIPELINE:-4}"
RATES="${RATES:-20000 50000 100000}"
ENGINES="${ENGINES:-io_uring epoll}"
begin engines
for i in $(seq 1 "$REPEAT"); do     # engines interleaved, so drift on a shared machine hits both
    for e in $ENGINES; do
        RUN_FIRST=$i REPEAT=1 step "$e-closed" /echo --engine "$e" --conns "$CONNS" --rate max --pipeline "$PIPELINE"
        for r in $RATES; do
            RUN_FIRST=$i REPEAT=1 step "$e-open-$r" /echo --engine "$e" --conns "$CONNS" --rate "$r"
        done
    done
done
finish "client engines: io_uring vs epoll, one client core"
