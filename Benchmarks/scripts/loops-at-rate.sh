#!/usr/bin/env bash
# One loop against two at the same offered load: server CPU per echoed message when the
# client sends a fixed number of messages per second (`ws-load echo --rate`), so that the
# comparison does not depend on how fast each configuration is, nor on how the client and
# the server share this machine's cores when the server is saturated. Alternates the
# configurations for ROUNDS rounds at each rate. Server CPU is utime+stime from /proc over
# the measured window (it starts WARMUP after every connection is upgraded), with its
# `epoll_wait` calls where `perf` can count them. (Not split into user and system time: the
# kernel splits them by sampling at its ticks, and on a virtual machine that split swings
# between rounds, down to no user time at all for a busy server.)
#   ROUNDS (default 3)  DURATION (default 5)  WARMUP (default 1)
#   RATES (default "400000 800000 1200000")
#   SERVERS (default "eddy-1 eddy-2 nio-1 nio-2": Eddy's and SwiftNIO's echo servers on one
#   and two threads; NIO's falls behind the higher rates on one)
#   PEERS: more, "name|command" separated by ';', each command printing "LISTENING <port>"
#   once bound and stopping on SIGTERM (e.g. a uWebSockets server on one and on two
#   threads, built by yourself outside this repository)
#   SERVER_CPUS, CLIENT_CPUS: taskset CPU lists for the server and the client (lib.sh); e.g.
#   SERVER_CPUS=0 CLIENT_CPUS=1 compares two loops with one on the same single core, the
#   server's own cost of a second loop without three busy threads sharing two cores
# Echo: 100 connections, 32 B, at most 16 in flight each. ws-load sends in 1 kHz bursts
# (R / 100,000 messages per connection each), so the CPU per message depends on the rate:
# compare servers at the same rate only. Its missed counts messages that fell due while
# every connection had 16 outstanding (a stall of the server or the client); a run that
# missed more than 1 % is marked "behind": its figure is not at the same load. A run with
# connection errors, or whose server did not start or died, is marked failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}; WARMUP=${WARMUP:-1}; RATES=${RATES:-"400000 800000 1200000"}
SERVERS=${SERVERS-"eddy-1 eddy-2 nio-1 nio-2"}
OUT=${OUT:-$BENCH/results/loops-at-rate-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
: > "$OUT/table.md"
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread

declare -A COMMAND=(
  [eddy-1]="$EDDY echo --port 0 --loops 1"
  [eddy-2]="$EDDY echo --port 0 --loops 2"
  [nio-1]="$BENCH/.build/release/nio-ws-echo --port 0 --threads 1"
  [nio-2]="$BENCH/.build/release/nio-ws-echo --port 0 --threads 2"
)
IFS=';' read -r -a extra <<< "${PEERS:-}"
for peer in "${extra[@]}"; do
  [ -n "$peer" ] || continue
  IFS='|' read -r name command <<< "$peer"
  COMMAND[$name]=$command
  SERVERS="$SERVERS $name"
done

TICKS=$(getconf CLK_TCK)
PERF=$(command -v perf || true)
if [ -n "$PERF" ] && ! "$PERF" stat -e 'syscalls:sys_enter_epoll_wait' -- true > /dev/null 2>&1; then PERF=""; fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || true; }
LOAD_PID=""; PERF_PID=""
cleanup() {
  for pid in $LOAD_PID $PERF_PID; do kill "$pid" 2>/dev/null || true; done
  stop_server
}
trap cleanup EXIT

# measure RATE NAME COMMAND: one run; prints a row
measure() {
  local rate=$1 name=$2 command=$3
  # shellcheck disable=SC2086
  if ! start_server "$OUT/$name.log" $command; then
    stop_server
    echo "| $rate | $name | did not start | | | |" | tee -a "$OUT/table.md"
    return 0
  fi
  # Emptied here: the child's own redirection may come after the first look for "upgraded".
  : > "$OUT/load.err"
  "${CLIENT_PIN[@]}" "$BENCH/loadgen/ws-load" echo --port "$SERVER_PORT" --connections 100 --in-flight 16 --payload 32 --rate "$rate" \
    --warmup "$WARMUP" --duration "$DURATION" > "$OUT/load.out" 2>> "$OUT/load.err" &
  LOAD_PID=$!
  local before after wakes="" status=0
  for _ in $(seq 1 3000); do grep -qs upgraded "$OUT/load.err" && break; kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.01; done
  sleep "$WARMUP"
  # The server's CPU over DURATION from here: the measured window, within the polling above.
  before=$(cpu_ticks "$SERVER_PID")
  if [ -n "$PERF" ]; then
    "$PERF" stat -x, -e 'syscalls:sys_enter_epoll_wait' -p "$SERVER_PID" -o "$OUT/perf.out" -- sleep "$DURATION" &
    PERF_PID=$!
    wait "$PERF_PID" || true
    PERF_PID=""
    wakes=$(awk -F, '/epoll_wait/ {print $1}' "$OUT/perf.out")
  else
    sleep "$DURATION"
  fi
  after=$(cpu_ticks "$SERVER_PID")
  wait "$LOAD_PID" || status=$?
  LOAD_PID=""
  stop_server
  local line count missed errors
  line=$(cat "$OUT/load.out"); echo "$name $rate $line" >> "$OUT/results.txt"
  count=$(field messages "$line"); missed=$(field missed "$line"); errors=$(field errors "$line")
  awk -v r="$rate" -v n="$name" -v b="$before" -v a="$after" -v k="$count" -v m="$missed" -v w="$wakes" \
      -v t="$TICKS" -v e="$errors" -v s="$status" 'BEGIN {
    if (k + 0 == 0 || b == "" || a == "") { printf "| %s | %s | failed (ws-load exit %s) | | | |\n", r, n, s; exit }
    if (s + 0 != 0 || e + 0 != 0) { printf "| %s | %s | failed: %s connection errors (ws-load exit %s) | | | |\n", r, n, e, s; exit }
    printf "| %s | %s | %d | %.3f | %s | %s |\n", r, n, k, (a - b) / t * 1e6 / k,
      (w == "" ? "-" : sprintf("%.1f", w * 1000 / k)), (m + 0 > k / 100 ? m " (behind)" : m + 0) }' | tee -a "$OUT/table.md"
}

printf '| rate/s | server | messages | server CPU µs per message | epoll_wait per 1,000 | missed |\n|---:|---|---:|---:|---:|---:|\n'
for _ in $(seq 1 "$ROUNDS"); do
  for rate in $RATES; do
    for name in $SERVERS; do measure "$rate" "$name" "${COMMAND[$name]}"; done
  done
done

echo
echo "Server CPU per message, per round and median: two loops ÷ one (X-2 ÷ X-1), and Eddy ÷ each other server on as many threads:"
awk -f "$BENCH/scripts/ratios.awk" -v mode=loops "$OUT/table.md"
