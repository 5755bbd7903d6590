#!/usr/bin/env bash
# Two builds of `eddy` side by side in one run (for a change's before/after): WebSocket echo
# (32 B, 100 connections x 16 in flight) and broadcast (1,000 subscribers, window 16), each
# server with one loop, alternating A and B for ROUNDS rounds. Server CPU per message or
# delivery is utime+stime from /proc over the run, divided by what was measured.
# Usage: ROUNDS=3 DURATION=5 Benchmarks/scripts/ab-eddy.sh OLD_EDDY NEW_EDDY
set -euo pipefail
source "$(dirname "$0")/lib.sh"
A=$1; B=$2; ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}
OUT=$BENCH/out; mkdir -p "$OUT"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)
run() { # label binary server-args load-args count-field rate-field
  start_server "$OUT/ab.log" "$2" echo --port 0 --loops 1 $3
  local before; before=$(ticks "$SERVER_PID")
  # shellcheck disable=SC2086
  local line; line=$("$BENCH/loadgen/ws-load" $4 --port "$SERVER_PORT" --duration "$DURATION")
  local after; after=$(ticks "$SERVER_PID")
  stop_server
  local count; count=$(field "$5" "$line")
  local rate; rate=$(field "$6" "$line")
  awk -v l="$1" -v a="$before" -v b="$after" -v t="$TICKS" -v n="$count" -v r="$rate" \
    'BEGIN { printf "%-28s %12s/s  server CPU %.3f µs per unit\n", l, r, (b - a) / t * 1e6 / (n > 0 ? n : 1) }'
}
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ $side = B ] && bin=$B
    run "echo 100x16 $side" "$bin" "" "echo --connections 100 --in-flight 16 --payload 32" messages msgs_per_sec
    run "broadcast 1000 $side" "$bin" "--broadcast --no-deflate" "fanout --subscribers 1000" deliveries deliveries_per_sec
  done
done
