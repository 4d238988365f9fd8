#!/usr/bin/env bash
# bench/idle.sh: server memory against idle connections: the server's RSS before the first
# connection and once every connection is open (ringload's rss_kb_before, rss_kb_ready), all in
# per connection (RSS / connections) and growth per connection (rss_bytes_per_conn).
#   CONNS_LIST  one step each (default: 10000 20000 40000; past 19,000 ringload uses more
#               worker processes and past 25,000 more source addresses by itself; the server
#               needs --threads 2 or more to hold 40,000: SERVER_ARGS)
#   SCENARIO    idle (hold) or chat (each connection also joins a room of ROOM_SIZE)
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-1s}"
source "$(dirname "$0")/lib.sh"
CONNS_LIST="${CONNS_LIST:-10000 20000 40000}"
SCENARIO="${SCENARIO:-idle}"
ROOM_SIZE="${ROOM_SIZE:-100}"
begin "idle-$SCENARIO"
for n in $CONNS_LIST; do
    if [[ "$SCENARIO" == chat ]]; then
        step "conns-$n" /ws --scenario chat --conns "$n" --room-size "$ROOM_SIZE" --rate 1 --connect-timeout 120s
    else
        step "conns-$n" /echo --scenario idle --conns "$n" --connect-timeout 120s
    fi
done
finish "idle ($SCENARIO): server memory per connection"
cat >>"$OUT/RESULTS.md" <<'EOF'
Reading these figures: each core reserves its connection table when the server starts (one
slot per connection it may hold: RLIMIT_NOFILE or `--max-conns`, whichever is lower) but
touches a slot only when a connection first uses it, so *RSS growth* counts the slots in use
(and whatever else a connection costs in user memory; the kernel's socket buffers are not in
RSS). *RSS before the first connection* is the rings, the provided buffers and the code.
RSS / connections (all in) is what the server holds per connection at that count.
EOF
