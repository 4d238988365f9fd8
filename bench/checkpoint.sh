#!/usr/bin/env bash
# bench/checkpoint.sh: what the op log's online checkpoints cost the connections of a core.
# Chat with SIZE-byte messages (every message is logged: kept chat) at RATE msgs/s fills a
# --segment-bytes segment every few seconds, so each core checkpoints its rooms and removes
# the segments covered (docs/persistence.md, "Online checkpoints"). Two steps, delivery
# latency of each: the default 64 MiB segments (a checkpoint and an unlink of one or two
# 64 MiB segments about every 4 s) and 1 GiB segments (none during the run: the baseline).
#   SIZE   chat text bytes       (default: 4000)
#   RATE   messages/s in total   (default: 4000; x SIZE = about 16 MB/s into the log)
#   CONNS  connections, in rooms of 2, all sending (default: 40)
source "$(dirname "$0")/lib.sh"
SIZE="${SIZE:-4000}"
RATE="${RATE:-4000}"
CONNS="${CONNS:-40}"
BASE_ARGS="$SERVER_ARGS"
begin checkpoint
for seg in 64MiB 1GiB; do
    SERVER_ARGS="$BASE_ARGS --segment-bytes $seg"
    before=$(grep -c "old segments" "$OUT/server.log" 2>/dev/null || true)
    step "segments-$seg" /ws --scenario chat --conns "$CONNS" --room-size 2 --size "$SIZE" --rate "$RATE"
    after=$(grep -c "old segments" "$OUT/server.log" 2>/dev/null || true)
    echo $(( ${after:-0} - ${before:-0} )) >"$OUT/segments-$seg/removals.txt"
done
SERVER_ARGS="$BASE_ARGS"
# no latency-against-load plot (bench/plot.sh knows the campaign): both steps have the same load
finish "checkpoint: chat with $SIZE-byte messages at $RATE msgs/s, 64 MiB vs 1 GiB segments"
{
    echo
    echo "Checkpoints that removed segments during each step (all its runs; server log lines \`removed N old segments\`):"
    for seg in 64MiB 1GiB; do echo "- segments-$seg: $(cat "$OUT/segments-$seg/removals.txt")"; done
} >>"$OUT/RESULTS.md"
