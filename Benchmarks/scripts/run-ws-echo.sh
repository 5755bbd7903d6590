#!/usr/bin/env bash
# WebSocket echo throughput: Eddy vs SwiftNIO's NIOWebSocket vs Node `ws`, each under the
# same load, one server at a time, in one invocation. The load comes from `loadgen/ws-load`
# (C, epoll, ~0.45 µs of CPU per message, so the server under test gets the cores); the
# compressed case uses `eddy bench --deflate`, as ws-load has no permessage-deflate.
#   DURATION (default 5)  CONNECTIONS (default 100)
#   THREADS (default "2 1"): event-loop threads for Eddy (--loops) and NIOWebSocket
#   (--threads), one table section per count. Node `ws` is single-threaded either way.
#   On a 2-core machine the load generator shares the cores: with 2 server threads the
#   machine is saturated and throughput mixes server and generator cost; with 1 thread
#   the server has a core to itself, which compares per-core efficiency.
#   `eddy` is `eddy echo` as shipped (a WebSocketResponder: no task per connection);
#   `eddy-task` is the same server echoing from a task per connection (`for try await`).
#   The ratio column divides `eddy`'s rate by each server's.
#   LOADGEN=eddy-bench: drive every case with `eddy bench` instead (Eddy's own Swift client,
#   the generator `eddy bench` users have; it costs as much CPU as the servers it measures)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-100}
OUT=${OUT:-$BENCH/results/ws-echo-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread

THREADS=${THREADS:-2 1}
# name|server|bench arguments
CASES=(
  "32B x1|eddy eddy-task nio-ws node-ws|--payload 32 --in-flight 1"
  "32B x16|eddy eddy-task nio-ws node-ws|--payload 32 --in-flight 16"
  "1KiB JSON deflate x16|eddy eddy-task node-ws-deflate|--payload 1024 --text --deflate --in-flight 16"
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
TICKS=$(getconf CLK_TCK)

for threads in $THREADS; do
declare -A CMD=(
  [eddy]="$EDDY echo --port 0 --loops $threads"
  [eddy-task]="$EDDY echo --port 0 --loops $threads --task-per-connection"
  [nio-ws]="$BENCH/.build/release/nio-ws-echo --port 0 --threads $threads"
  [node-ws]="node $BENCH/node/ws-echo-server.js --port 0"
  [node-ws-deflate]="node $BENCH/node/ws-echo-server.js --port 0 --deflate"
)
echo
echo "Server threads: $threads"
echo
printf '| case | server | msgs/s | p50 µs | p99 µs | p99.9 µs | Eddy ÷ server | server CPU µs/msg |\n|---|---|---|---|---|---|---|---|\n'
for case in "${CASES[@]}"; do
  IFS='|' read -r label servers args <<< "$case"
  declare -A RATE=()
  for server in $servers; do
    # shellcheck disable=SC2086
    start_server "$OUT/$server.log" ${CMD[$server]}
    pid=$SERVER_PID
    [ "${server#node}" != "$server" ] && pid=$(pgrep -P "$SERVER_PID" node || echo "$SERVER_PID") # node may fork a child
    before=$(cpu_ticks "$pid")
    # shellcheck disable=SC2086
    if [[ $args == *--deflate* || ${LOADGEN:-} == eddy-bench ]]; then
      line=$("$EDDY" bench "ws://127.0.0.1:$SERVER_PORT/" --connections "$CONNECTIONS" --duration "$DURATION" --warmup 0 $args | tee -a "$OUT/results.txt")
    else
      line=$("$BENCH/loadgen/ws-load" echo --host 127.0.0.1 --port "$SERVER_PORT" --path / --connections "$CONNECTIONS" \
        --duration "$DURATION" $args | tee -a "$OUT/results.txt")
    fi
    after=$(cpu_ticks "$pid")
    stop_server
    messages=$(field messages "$line")
    RATE[$server]=$(field msgs_per_sec "$line")
    printf '| %s | %s | %s | %s | %s | %s |' "$label" "$server" "${RATE[$server]}" "$(field p50_us "$line")" "$(field p99_us "$line")" "$(field p999_us "$line")"
    if [ "$server" = eddy ]; then printf ' 1.00 |'; else awk -v a="${RATE[eddy]}" -v b="${RATE[$server]}" 'BEGIN { printf " %.2f |", a / b }'; fi
    awk -v t=$((after - before)) -v hz="$TICKS" -v m="$messages" 'BEGIN { printf " %.2f |\n", t / hz * 1e6 / m }'
  done
  unset RATE
done
unset CMD
done
