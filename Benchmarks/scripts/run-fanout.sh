#!/usr/bin/env bash
# Fan-out: one publisher, N subscribers, 64 B messages, through Eddy's room broadcast
# (`eddy echo --broadcast`) and a Node `ws` loop-over-clients broadcast server, under the
# same `eddy fanout` load. Deliveries/s (publisher keeps a window of messages in flight),
# then fast subscribers' delivery latency at a fixed rate with and without one stalled
# subscriber.
#   DURATION (default 5)  SUBSCRIBERS (default "1000 10000")
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
SUBSCRIBERS=${SUBSCRIBERS:-"1000 10000"}
OUT=${OUT:-$BENCH/results/fanout-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT

declare -A CMD=(
  [eddy]="$EDDY echo --port 0 --broadcast --no-deflate"
  [node-ws]="node $BENCH/node/ws-broadcast-server.js --port 0"
)

printf '| subscribers | server | deliveries/s (window 16) | Eddy ÷ server | p99 µs at fixed rate | p99 µs, one subscriber stalled | change |\n|---|---|---|---|---|---|---|\n'
for n in $SUBSCRIBERS; do
  rate=$(( 200000 / n ))   # 200 k deliveries/s offered in the latency runs
  declare -A DELIVERIES=()
  for server in eddy node-ws; do
    # shellcheck disable=SC2086
    start_server "$OUT/$server-$n.log" ${CMD[$server]}
    url="ws://127.0.0.1:$SERVER_PORT/"
    a=$("$EDDY" fanout "$url" --subscribers "$n" --duration "$DURATION" | tee -a "$OUT/results.txt")
    b=$("$EDDY" fanout "$url" --subscribers "$n" --duration "$DURATION" --rate "$rate" | tee -a "$OUT/results.txt")
    c=$("$EDDY" fanout "$url" --subscribers "$n" --duration "$DURATION" --rate "$rate" --stalled 1 | tee -a "$OUT/results.txt")
    stop_server
    DELIVERIES[$server]=$(field deliveries_per_sec "$a")
    p99=$(field p99_us "$b"); p99s=$(field p99_us "$c")
    ratio=$(awk -v a="${DELIVERIES[eddy]}" -v b="${DELIVERIES[$server]}" 'BEGIN { printf "%.2f", a / b }')
    change=$(awk -v a="$p99" -v b="$p99s" 'BEGIN { printf "%+.0f%%", (b - a) * 100 / a }')
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$server" "${DELIVERIES[$server]}" "$ratio" "$p99" "$p99s" "$change"
  done
  unset DELIVERIES
done
