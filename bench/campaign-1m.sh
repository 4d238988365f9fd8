#!/usr/bin/env bash
# bench/campaign-1m.sh: the campaign-1m preset: 10,000 connections in rooms of 100, chat at
# 1,000,000 messages per hour (277.8/s, 27,778 deliveries/s), SLO p95<50ms, loss<0.01%.
# DURATION defaults to the preset's 120s here; REPEAT to 3. Knobs of bench/lib.sh apply.
DURATION="${DURATION:-120s}"
WARMUP="${WARMUP:-10s}"
SLO="${SLO:-p95<50ms,p99.9<250ms,loss<0.01%}"
source "$(dirname "$0")/lib.sh"
begin campaign-1m
step "campaign-1m" /ws --preset campaign-1m --slo "$SLO"
finish "campaign-1m: 10,000 connections, rooms of 100, 1M msgs/hour"
