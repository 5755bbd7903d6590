#!/usr/bin/env bash
# The DAG stream on one node against three nodes sharing runs through a real redis-server
# (issue: scale-out on Redis), in one run: the same `ticker` run (behind a gate) and the same
# number of dashboards, watched either all from the one node or spread round robin over
# nodes a (the owner, which runs the ticker), b and c (which follow the run's Redis Stream).
# Reports deliveries/s, delivery latency p50/p99 (engine clock at logging -> dashboard), the
# servers' CPU per delivery (all nodes together, setup included), and for three nodes the
# Redis commands per logged event (`INFO commandstats` before and after, over the run's
# logged events: XLEN of its stream).
#   DASHBOARDS (default 1000)  RATE events/s (default 200)  RUN_SECONDS (default 5)  ROUNDS (default 2)
#   EDDY (default .build/release/eddy)
# Loopback only; every process it starts is stopped by its PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N=${DASHBOARDS:-1000}; RATE=${RATE:-200}; SECONDS_RUN=${RUN_SECONDS:-5}; ROUNDS=${ROUNDS:-2}
OUT=${OUT:-$BENCH/results/dag-stream-nodes-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/dag-dashboards" "$BENCH/loadgen/dag-dashboards.c" -lpthread -lssl -lcrypto
TICKS=$(getconf CLK_TCK)
PIDS=()
REDIS_PID=""
stop_all() {
  for pid in "${PIDS[@]}" $REDIS_PID; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}" $REDIS_PID; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=(); REDIS_PID=""
}
trap stop_all EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf '{"nodes":[{"id":"start","gate":{"presentation":{"title":"start the load"}}},{"id":"tick","depends_on":["start"],"handler":"ticker","params":{"rate":%d,"seconds":%d}}]}\n' \
  "$RATE" "$SECONDS_RUN" > "$OUT/ticker.json"
# Nodes b and c serve a run that ends at once, so the only live run is a's.
printf '{"nodes":[{"id":"done","handler":"sleep","params":{"ms":1}}]}\n' > "$OUT/quick.json"

# start_node NAME DAG [redis args...] -> appends the PID to PIDS, sets NODE_PORT
# (not called in $(...): the PID must reach this shell's PIDS)
start_node() {
  local name=$1 dag=$2; shift 2
  local log=$OUT/node-$name.log
  : > "$log"
  rm -f "$OUT/$name.sqlite"*
  env EDDY_OPERATOR_TOKEN=bench "$EDDY" serve --dag "$dag" --port 0 --db "$OUT/$name.sqlite" "$@" > "$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    NODE_PORT=$(awk '/^LISTENING/{print $2; exit}' "$log")
    [ -n "$NODE_PORT" ] && return 0
    sleep 0.1
  done
  echo "node $name did not start" >&2; cat "$log" >&2; return 1
}

measure() { # label -> one table row; uses PIDS and the ports given
  local label=$1; shift
  local before=0 after=0 pid redis_before=0 redis_after=0
  for pid in "${PIDS[@]}"; do before=$(( before + $(ticks "$pid") )); done
  [ -z "$REDIS_PID" ] || redis_before=$(ticks "$REDIS_PID")
  local result
  result=$(EDDY_OPERATOR_TOKEN=bench "$BENCH/loadgen/dag-dashboards" --host 127.0.0.1 --dashboards "$N" \
    --timeout $(( SECONDS_RUN * 6 + 60 )) "$@" | tee -a "$OUT/results.txt")
  for pid in "${PIDS[@]}"; do after=$(( after + $(ticks "$pid") )); done
  [ -z "$REDIS_PID" ] || redis_after=$(ticks "$REDIS_PID")
  local deliveries; deliveries=$(field ticker_events "$result")
  local per; per=$(awk -v t=$(( after - before )) -v hz="$TICKS" -v d="$deliveries" 'BEGIN { printf "%.2f", (d > 0 ? t / hz * 1e6 / d : 0) }')
  local redis_per; redis_per=$(awk -v t=$(( redis_after - redis_before )) -v hz="$TICKS" -v d="$deliveries" 'BEGIN { printf "%.2f", (d > 0 ? t / hz * 1e6 / d : 0) }')
  RUN=$(field run "$result")
  ROW="| $label | $N | $RATE | $(field deliveries_per_sec "$result") | $(field p50_ms "$result") | $(field p99_ms "$result") | $(field finished "$result")/$N | $(field gaps "$result") | $(field catch_ups "$result") | $per | $redis_per"
}

printf '| setup | dashboards | events/s | deliveries/s | p50 ms | p99 ms | finished | gaps | catch-ups | Eddy nodes CPU µs per delivery | redis-server CPU µs per delivery | Redis commands per logged event |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for round in $(seq 1 "$ROUNDS"); do
  # One node, no Redis.
  start_node one "$OUT/ticker.json"; port_a=$NODE_PORT
  measure "1 node" --port "$port_a"
  echo "$ROW | — |"
  stop_all

  # Three nodes and a redis-server (no persistence: the benchmark measures traffic).
  redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" --loglevel warning > "$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  url=redis://127.0.0.1:$redis_port
  start_node a "$OUT/ticker.json" --redis "$url" --node a; port_a=$NODE_PORT
  start_node b "$OUT/quick.json" --redis "$url" --node b; port_b=$NODE_PORT
  start_node c "$OUT/quick.json" --redis "$url" --node c; port_c=$NODE_PORT
  sleep 1 # b's and c's runs finish; every node has read the runs' directory
  redis-cli -p "$redis_port" config resetstat > /dev/null
  measure "3 nodes + Redis" --port "$port_a" --also-port "$port_b" --also-port "$port_c"
  sleep 1 # the mirror's last pipeline
  commands=$(redis-cli -p "$redis_port" info commandstats | awk -F'[=,:]' '/^cmdstat_/ && $1 !~ /cmdstat_(info|config)$/ {n += $3} END {print n + 0}')
  logged=$(redis-cli -p "$redis_port" xlen "eddy:run:{$RUN}:events")
  echo "$ROW | $(awk -v c="$commands" -v l="$logged" 'BEGIN { printf "%.2f (%d / %d)", (l > 0 ? c / l : 0), c, l }') |"
  redis-cli -p "$redis_port" info commandstats | grep '^cmdstat_' > "$OUT/commandstats-$round.txt"
  stop_all
done
