#!/usr/bin/env bash
# End to end, the DAG stream: `eddy serve --dag` runs a `ticker` node (progress events at a
# fixed rate, each stamped with the wall clock in the engine just before it is logged) behind
# a gate; a load generator in its own process (`loadgen/dag-dashboards`, C and epoll, about a
# third of the CPU of the equivalent `eddy dag-load`, so the server gets the cores) opens N
# dashboards on the run, approves the gate, and measures each event's delivery latency (engine -> SQLite group commit -> hub ->
# outbox -> socket -> dashboard). For each N the offered rate rises until one is not sustained:
# sustained = every dashboard got every event, in order, with no catch-up snapshot, and the
# p99 latency stayed under 1 s (a server that falls behind builds a backlog for the whole run,
# and its p99 grows to seconds; one that keeps up stays at the cost of one burst to N sockets).
#   SECONDS_PER_RATE (default 5)  DASHBOARDS (default "1000 10000")
#   RATES_1000 (default "100 500 1000 2000 4000 8000")  RATES_10000 (default "10 50 100 200 400 800")
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RATE=${SECONDS_PER_RATE:-5}
DASHBOARDS=${DASHBOARDS:-"1000 10000"}
RATES_1000=${RATES_1000:-"100 500 1000 2000 4000 8000"}
RATES_10000=${RATES_10000:-"10 50 100 200 400 800"}
OUT=${OUT:-$BENCH/results/dag-stream-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/dag-dashboards" "$BENCH/loadgen/dag-dashboards.c" -lpthread -lssl -lcrypto

printf '| dashboards | events/s offered | deliveries/s | p50 ms | p99 ms | p99.9 ms | max ms | catch-ups | server CPU µs per delivery, setup included | sustained |\n|---|---|---|---|---|---|---|---|---|---|\n'
for n in $DASHBOARDS; do
  var=RATES_$n
  rates=${!var:-"10 100 1000"}
  for rate in $rates; do
    dag=$OUT/ticker-$rate.json
    printf '{"nodes":[{"id":"start","gate":{"presentation":{"title":"start the load"}}},{"id":"tick","depends_on":["start"],"handler":"ticker","params":{"rate":%d,"seconds":%d}}]}\n' \
      "$rate" "$SECONDS_PER_RATE" > "$dag"
    rm -f "$OUT/events-$n-$rate.sqlite"*
    start_server "$OUT/serve-$n-$rate.log" env EDDY_OPERATOR_TOKEN=bench "$EDDY" serve --dag "$dag" --port 0 --db "$OUT/events-$n-$rate.sqlite"
    result=$(EDDY_OPERATOR_TOKEN=bench "$BENCH/loadgen/dag-dashboards" --host 127.0.0.1 --port "$SERVER_PORT" --dashboards "$n" \
      --timeout $(( SECONDS_PER_RATE * 6 + 60 )) | tee -a "$OUT/results.txt")
    cpu=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    grep -E "^syscw|^wchar" "/proc/$SERVER_PID/io" >&2 || true
    stop_server
    rm -f "$OUT/events-$n-$rate.sqlite"*
    expected=$(( rate * SECONDS_PER_RATE ))
    p99=$(field p99_ms "$result")
    sustained=no
    if [ "$(field finished "$result")" = "$n" ] && [ "$(field catch_ups "$result")" = 0 ] && [ "$(field gaps "$result")" = 0 ] \
       && [ "$(field per_dashboard_min "$result")" = "$expected" ] && awk -v p="$p99" 'BEGIN { exit !(p < 1000) }'; then
      sustained=yes
    fi
    per=$(awk -v t="$cpu" -v hz="$(getconf CLK_TCK)" -v d="$(field ticker_events "$result")" 'BEGIN { printf "%.2f", (d > 0 ? t / hz * 1e6 / d : 0) }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$n" "$rate" "$(field deliveries_per_sec "$result")" \
      "$(field p50_ms "$result")" "$p99" "$(field p999_ms "$result")" "$(field max_ms "$result")" "$(field catch_ups "$result")" "$per" "$sustained"
    [ "$sustained" = yes ] || break
  done
done
