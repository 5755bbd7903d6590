#!/usr/bin/env bash
# Metrics on vs off, one `eddy` binary, in one run: WebSocket echo (32 B, 100 connections x 16
# in flight) and broadcast (1,000 subscribers, window 16, no deflate), each server with one
# loop, `eddy echo` (metrics on: per-loop tallies folded into the Prometheus registry every
# second) and `eddy echo --no-metrics` alternating (on, off, on, off …) for ROUNDS rounds, since
# the machine is shared. Server CPU per message or delivery is utime+stime from /proc over the
# run, divided by what was measured. Prints every run, then per case and side the median and
# the spread (min–max) of the rate and of the CPU per unit.
# With BASELINE_BINARY (an `eddy` built before metrics existed), a third side `base` runs it in
# the same rotation (on, off, base, on …).
# Usage: ROUNDS=4 DURATION=5 Benchmarks/scripts/ab-metrics.sh [EDDY_BINARY [BASELINE_BINARY]]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
BIN=${1:-$EDDY}; BASE=${2:-}; ROUNDS=${ROUNDS:-4}; DURATION=${DURATION:-5}
OUT=$BENCH/out; mkdir -p "$OUT"
RESULTS=$OUT/ab-metrics.txt; : > "$RESULTS"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
SIDES="on off"; [ -n "$BASE" ] && SIDES="on off base"
TICKS=$(getconf CLK_TCK)
run() { # case side server-args load-args count-field rate-field
  # A fresh log per run: start_server reads LISTENING from it, and a reused file may still
  # show the previous (stopped) server's port before the new process truncates it (and a
  # missing one makes start_server's awk fail, which ends the script under set -e).
  local log="$OUT/ab-metrics-$1-$2-$round.log"; : > "$log"
  local bin=$BIN; [ "$2" = base ] && bin=$BASE
  # shellcheck disable=SC2086
  start_server "$log" "$bin" echo --port 0 --loops 1 $3
  local before; before=$(ticks "$SERVER_PID")
  # shellcheck disable=SC2086
  local line; line=$("$BENCH/loadgen/ws-load" $4 --port "$SERVER_PORT" --duration "$DURATION")
  local after; after=$(ticks "$SERVER_PID")
  stop_server
  local count; count=$(field "$5" "$line")
  local rate; rate=$(field "$6" "$line")
  awk -v c="$1" -v s="$2" -v a="$before" -v b="$after" -v t="$TICKS" -v n="$count" -v r="$rate" \
    'BEGIN { printf "%s\t%s\t%s\t%.3f\n", c, s, r, (b - a) / t * 1e6 / (n > 0 ? n : 1) }' | tee -a "$RESULTS"
}
for round in $(seq 1 "$ROUNDS"); do
  for side in $SIDES; do
    flag=""; [ $side = off ] && flag="--no-metrics"
    run "echo-100x16" $side "$flag" "echo --connections 100 --in-flight 16 --payload 32" messages msgs_per_sec
    run "broadcast-1000" $side "--broadcast --no-deflate $flag" "fanout --subscribers 1000" deliveries deliveries_per_sec
  done
done
echo
printf '| case | metrics | runs | rate/s median (min–max) | server CPU µs per unit median (min–max) |\n|---|---|---|---|---|\n'
for c in echo-100x16 broadcast-1000; do
  for side in $SIDES; do
    rates=$(awk -F'\t' -v c=$c -v s=$side '$1==c && $2==s {print $3}' "$RESULTS" | sort -g)
    cpus=$(awk -F'\t' -v c=$c -v s=$side '$1==c && $2==s {print $4}' "$RESULTS" | sort -g)
    n=$(wc -l <<< "$rates")
    med() { awk '{v[NR]=$1} END { if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2] + v[NR/2+1]) / 2 }'; }
    printf '| %s | %s | %s | %s (%s–%s) | %s (%s–%s) |\n' $c $side "$n" \
      "$(med <<< "$rates")" "$(head -1 <<< "$rates")" "$(tail -1 <<< "$rates")" \
      "$(med <<< "$cpus")" "$(head -1 <<< "$cpus")" "$(tail -1 <<< "$cpus")"
  done
done
