#!/usr/bin/env bash
# Heap allocations per echoed TCP message, counted with an LD_PRELOAD malloc counter
# (tools/malloc-counter.c) because valgrind 3.19 cannot run Eddy's Swift binary.
# For each server: echo M1 and then M2 messages (10 connections, 1 in flight, 32 B) in two
# fresh processes; (allocs(M2) - allocs(M1)) / (M2 - M1) is the per-message cost.
#   usage: alloc-preload.sh [server ...]   (default: all three below)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
declare -A SERVER_CMD=(
  [eddy-tcp-echo]="$BENCH/.build/release/eddy-tcp-echo"
  [nio-echo-handler]="$BENCH/.build/release/nio-echo-handler"
  [nio-echo-async]="$BENCH/.build/release/nio-echo-async"
)
M1=${M1:-20000}; M2=${M2:-40000}
gcc -O2 -shared -fPIC -o "$BENCH/tools/libmalloc-counter.so" "$BENCH/tools/malloc-counter.c"
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/tcp-echo-load" "$BENCH/loadgen/tcp-echo-load.c" -lpthread
OUT=$BENCH/results/alloc-$(date -u +%Y%m%dT%H%M%SZ); mkdir -p "$OUT"
trap stop_server EXIT
count() { # server-command messages -> allocations
  local log=$OUT/$1-$2.log
  # shellcheck disable=SC2086
  start_server "$log" env LD_PRELOAD="$BENCH/tools/libmalloc-counter.so" ${SERVER_CMD[$1]} --port 0 >&2
  "$BENCH/loadgen/tcp-echo-load" --port "$SERVER_PORT" --connections 10 --in-flight 1 --payload 32 --messages "$2" --timeout 60 > "$log.load" 2>&1
  stop_server
  awk -F= '/malloc-counter: allocations=/{print $2}' "$log" | tail -1
}
printf '| server | allocs @ %s | allocs @ %s | allocs per message |\n|---|---:|---:|---:|\n' "$M1" "$M2"
for server in "${@:-eddy-tcp-echo nio-echo-handler nio-echo-async}"; do
  for s in $server; do
    a=$(count "$s" "$M1"); b=$(count "$s" "$M2")
    printf '| %s | %s | %s | %s |\n' "$s" "$a" "$b" "$(awk -v a="$a" -v b="$b" -v m1="$M1" -v m2="$M2" 'BEGIN { printf "%.2f", (b - a) / (m2 - m1) }')"
  done
done
