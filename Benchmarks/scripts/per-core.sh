#!/usr/bin/env bash
# Per-core side by side: server CPU per echoed message and per broadcast delivery, one server
# thread each, the same load (`loadgen/ws-load`) against each server in turn, alternating
# for ROUNDS rounds. Server CPU is utime+stime from /proc, counted in the steady state only
# (broadcast: from the moment ws-load reports its subscribers upgraded), split into user and
# system time, with the server's minor page faults.
#   ROUNDS (default 3)  DURATION (default 5)  SUBSCRIBERS (default 1000)
#   SERVERS (default "eddy eddy-immediate nio-ws node-ws"; empty: only PEERS);
#   eddy-immediate is Eddy's broadcast with `--delivery immediate` (no echo row); `eddy`
#   broadcasts with the default, per-iteration delivery
#   PEERS: more servers, "name|echo command|broadcast command" separated by ';' (either
#   command may be '-'). Each command must print "LISTENING <port>" once bound and stop on
#   SIGTERM; e.g. a uWebSockets server you built yourself outside this repository.
#   BASE (default eddy): the server the closing table divides by each other one, per round
#   SERVER_CPUS, CLIENT_CPUS: taskset CPU lists for the server and the client (lib.sh)
# Echo: 100 connections x 16 in flight, 32 B. Broadcast: one publisher (window 16), 32 B,
# to SUBSCRIBERS subscribers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROUNDS=${ROUNDS:-3}; DURATION=${DURATION:-5}; SUBSCRIBERS=${SUBSCRIBERS:-1000}; BASE=${BASE:-eddy}
SERVERS=${SERVERS-"eddy eddy-immediate nio-ws node-ws"}
OUT=${OUT:-$BENCH/results/per-core-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
: > "$OUT/table.md"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/ws-load" "$BENCH/loadgen/ws-load.c" -lpthread

declare -A ECHO=(
  [eddy]="$EDDY echo --port 0 --loops 1"
  [eddy-immediate]="-"
  [nio-ws]="$BENCH/.build/release/nio-ws-echo --port 0 --threads 1"
  [node-ws]="node $BENCH/node/ws-echo-server.js --port 0"
)
declare -A BROADCAST=(
  [eddy]="$EDDY echo --port 0 --loops 1 --broadcast --no-deflate"
  [eddy-immediate]="$EDDY echo --port 0 --loops 1 --broadcast --no-deflate --delivery immediate"
  [nio-ws]="-"
  [node-ws]="node $BENCH/node/ws-broadcast-server.js --port 0"
)
IFS=';' read -r -a extra <<< "${PEERS:-}"
for peer in "${extra[@]}"; do
  [ -n "$peer" ] || continue
  IFS='|' read -r name echo broadcast <<< "$peer"
  ECHO[$name]=$echo; BROADCAST[$name]=$broadcast
  SERVERS="$SERVERS $name"
done

stat_fields() { awk '{print $14, $15, $10}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

# measure CASE NAME COMMAND: one run; prints a row
measure() {
  local case=$1 name=$2 command=$3 load field
  if [ "$case" = echo ]; then
    load="echo --connections 100 --in-flight 16 --payload 32"; field=messages
  else
    load="fanout --subscribers $SUBSCRIBERS --payload 32"; field=deliveries
  fi
  # shellcheck disable=SC2086
  if ! start_server "$OUT/$name-$case.log" $command; then
    stop_server
    # A row all the same: the closing ratios pair each server's rounds in order.
    echo "| $case | $name | did not start | | | | |" | tee -a "$OUT/table.md"
    return 0
  fi
  # shellcheck disable=SC2086
  "${CLIENT_PIN[@]}" "$BENCH/loadgen/ws-load" $load --port "$SERVER_PORT" --duration "$DURATION" > "$OUT/load.out" 2> "$OUT/load.err" &
  local load_pid=$!
  if [ "$case" = broadcast ]; then
    for _ in $(seq 1 600); do grep -q upgraded "$OUT/load.err" && break; kill -0 "$load_pid" 2>/dev/null || break; sleep 0.05; done
  fi
  local before after
  before=$(stat_fields "$SERVER_PID")
  wait "$load_pid" || true
  after=$(stat_fields "$SERVER_PID")
  stop_server
  local line count
  line=$(cat "$OUT/load.out"); echo "$name $case $line" >> "$OUT/results.txt"
  count=$(field "$field" "$line")
  awk -v c="$case" -v n="$name" -v b="$before" -v a="$after" -v k="$count" -v t="$TICKS" 'BEGIN {
    split(b, x, " "); split(a, y, " ")
    if (k + 0 == 0) { printf "| %s | %s | failed | | | | |\n", c, n; exit }
    u = (y[1] - x[1]) / t * 1e6 / k; s = (y[2] - x[2]) / t * 1e6 / k
    printf "| %s | %s | %d | %.3f | %.3f | %.3f | %d |\n", c, n, k, u + s, u, s, y[3] - x[3] }' | tee -a "$OUT/table.md"
}

printf '| case | server | units | server CPU µs per unit | user | system | minor faults |\n|---|---|---:|---:|---:|---:|---:|\n'
for _ in $(seq 1 "$ROUNDS"); do
  for case in echo broadcast; do
    for name in $SERVERS; do
      if [ "$case" = echo ]; then command=${ECHO[$name]:--}; else command=${BROADCAST[$name]:--}; fi
      [ "$command" = "-" ] && continue
      measure "$case" "$name" "$command"
    done
  done
done

echo
echo "Server CPU per unit, $BASE's ÷ each other server's, per round and median (below 1: $BASE uses less):"
awk -f "$BENCH/scripts/ratios.awk" -v mode=base -v base="$BASE" "$OUT/table.md"
