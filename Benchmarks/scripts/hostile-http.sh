#!/usr/bin/env bash
# Clients that pipeline HTTP requests and never read (issue: hostile-client review): what
# they cost the server in CPU and memory, how long it keeps them, and what it keeps after
# they leave. Live heap comes from Benchmarks/tools/live-heap.c (LD_PRELOAD).
# Usage: CLIENTS=200 SEND=10 WATCH=25 Benchmarks/scripts/hostile-http.sh [EDDY_BINARY]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${1:-$EDDY}
CLIENTS=${CLIENTS:-200}; SEND=${SEND:-10}; WATCH=${WATCH:-25}
OUT=$BENCH/out; mkdir -p "$OUT"
gcc -O2 -shared -fPIC -o "$BENCH/tools/liblive-heap.so" "$BENCH/tools/live-heap.c" -lpthread
export LIVE_HEAP_TRIGGER=$OUT/live-heap.trigger
trap stop_server EXIT
start_server "$OUT/hostile-http.log" env LD_PRELOAD="$BENCH/tools/liblive-heap.so" "$BIN" echo --port 0
live_heap() { touch "$LIVE_HEAP_TRIGGER"; sleep 2; grep -a "live-heap: total" "$OUT/hostile-http.log" | tail -1 | awk '{printf "%.1f MB", $3/1e6}'; }
python3 "$BENCH/loadgen/http-pipeline-never-read.py" "$SERVER_PID" "$SERVER_PORT" "$CLIENTS" "$SEND" "$WATCH" &
CLIENT=$!
sleep $((SEND + 6)); echo "live heap 6 s after the clients stopped sending: $(live_heap)"
wait $CLIENT
echo "live heap after the clients left: $(live_heap)"
