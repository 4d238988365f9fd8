#!/usr/bin/env bash
# bench/chat.sh: room fan-out (/ws chat): every message goes to every member of its room.
#   RATES      messages sent per second in total, one step each (default: 100 1000 3000)
#   CONNS      connections                         (default: 10000)
#   ROOM_SIZE  members per room                    (default: 100)
#   SENDERS    members per room that send (0 all)  (default: 0)
# Deliveries per second = rate x room size. Knobs of bench/lib.sh apply.
source "$(dirname "$0")/lib.sh"
RATES="${RATES:-100 1000 3000}"
CONNS="${CONNS:-10000}"
ROOM_SIZE="${ROOM_SIZE:-100}"
SENDERS="${SENDERS:-0}"
begin chat
for rate in $RATES; do
    step "rate-$rate" /ws --scenario chat --conns "$CONNS" --room-size "$ROOM_SIZE" --senders "$SENDERS" --rate "$rate"
done
finish "chat: $CONNS connections in rooms of $ROOM_SIZE"
