#!/usr/bin/env bash
# bench/ot.sh: collaborative editing: DOCS documents, EDITORS editors each, RATES edits per
# second per editor (one step each). Every run ends with the convergence check (every
# editor's document = GET /rooms/<room>); a mismatch fails the run (exit 1, kept in the data).
source "$(dirname "$0")/lib.sh"
DOCS="${DOCS:-100}"
EDITORS="${EDITORS:-10}"
RATES="${RATES:-1 5 20}"
begin ot
for rate in $RATES; do
    step "per-editor-$rate" /ws --scenario ot --conns $((DOCS * EDITORS)) --room-size "$EDITORS" --rate "$rate/conn"
done
finish "ot: $DOCS documents x $EDITORS editors" 2 "edits/s (total)"
