#!/usr/bin/env bash
# Fan-out: one publisher, N subscribers, 64 B messages, through Eddy's room broadcast
# (`eddy echo --broadcast`) and a Node `ws` loop-over-clients broadcast server, under the
# same load from `loadgen/ws-load fanout` (C, epoll, ~0.6 µs of CPU per delivery, so the
# server gets the cores; `eddy fanout` measures the same things at ~4× the client CPU).
# Deliveries/s (publisher keeps a window of messages in flight), then fast subscribers' delivery latency at a fixed rate with and without one stalled
# subscriber.
#   DURATION (default 5)  SUBSCRIBERS (default "1000 10000")
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
SUBSCRIBERS=${SUBSCRIBERS:-"1000 10000"}
OUT=${OUT:-$BENCH/results/fanout-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread
LOAD="$BENCH/loadgen/ws-load fanout --host 127.0.0.1 --path /"

declare -A CMD=(
  [eddy]="$EDDY echo --port 0 --broadcast --no-deflate"
  [node-ws]="node $BENCH/node/ws-broadcast-server.js --port 0"
)

printf '| subscribers | server | deliveries/s (window 16) | Eddy ÷ server | p99 µs at fixed rate (median of 5) | p99 µs, one subscriber stalled (median of 5) | change |\n|---|---|---|---|---|---|---|\n'
for n in $SUBSCRIBERS; do
  rate=$(( 200000 / n ))   # 200 k deliveries/s offered in the latency runs
  declare -A DELIVERIES=()
  for server in eddy node-ws; do
    # shellcheck disable=SC2086
    start_server "$OUT/$server-$n.log" ${CMD[$server]}
    # shellcheck disable=SC2086
    a=$($LOAD --port "$SERVER_PORT" --subscribers "$n" --duration "$DURATION" | tee -a "$OUT/results.txt")
    # Latency without and with a stalled subscriber: five pairs, the order alternating, and
    # the medians of p99 (a single pair moves by ±30 % on this machine from noise alone).
    plain=(); stalled=()
    for pair in 1 2 3 4 5; do
      for k in $(( pair % 2 )) $(( (pair + 1) % 2 )); do
        # shellcheck disable=SC2086
        r=$($LOAD --port "$SERVER_PORT" --subscribers "$n" --duration "$DURATION" --rate "$rate" --stalled "$k" | tee -a "$OUT/results.txt")
        if [ "$k" = 0 ]; then plain+=("$(field p99_us "$r")"); else stalled+=("$(field p99_us "$r")"); fi
      done
    done
    stop_server
    DELIVERIES[$server]=$(field deliveries_per_sec "$a")
    p99=$(printf '%s\n' "${plain[@]}" | sort -g | sed -n 3p); p99s=$(printf '%s\n' "${stalled[@]}" | sort -g | sed -n 3p)
    ratio=$(awk -v a="${DELIVERIES[eddy]}" -v b="${DELIVERIES[$server]}" 'BEGIN { printf "%.2f", a / b }')
    change=$(awk -v a="$p99" -v b="$p99s" 'BEGIN { printf "%+.0f%%", (b - a) * 100 / a }')
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$server" "${DELIVERIES[$server]}" "$ratio" "$p99" "$p99s" "$change"
  done
  unset DELIVERIES
done
