#!/usr/bin/env bash
# bench/idle.sh: server memory per idle connection (RSS after every connection is open,
# minus RSS before, divided by connections: rss_bytes_per_conn in the report).
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
