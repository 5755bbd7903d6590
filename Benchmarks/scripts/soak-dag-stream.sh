#!/usr/bin/env bash
# Soak: `eddy serve --repeat` runs a gated ticker DAG again and again (retention on: the event
# log keeps the last KEEP_RUNS finished runs); each round, DASHBOARDS dashboards (loadgen/
# dag-dashboards, its own process) connect to the waiting run, approve its gate, follow it to
# `execution_complete` and leave. After every round the server's RSS, open descriptors and
# event-log size (database + WAL) are sampled; the script stops after SOAK_MINUTES and prints
# the samples and the drift between the first and the last quarter of the rounds.
# Every round must be complete: all dashboards finished, no gap, no catch-up snapshot; the
# script fails otherwise. (A dashboard may count one ticker event less than the run made: its
# join can land after the gate's approval, and then its first snapshot already holds the first
# tick. That is a complete stream, not a loss; per_dashboard_min is kept in the results.)
#   SOAK_MINUTES (default 30)  DASHBOARDS (default 1000)  RATE (events/s, default 100)
#   RUN_SECONDS (ticker duration per run, default 10)  KEEP_RUNS (default 20)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SOAK_MINUTES=${SOAK_MINUTES:-30}
DASHBOARDS=${DASHBOARDS:-1000}
RATE=${RATE:-100}
RUN_SECONDS=${RUN_SECONDS:-10}
KEEP_RUNS=${KEEP_RUNS:-20}
OUT=${OUT:-$BENCH/results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT
gcc -O2 -Wall -Wextra -o "$BENCH/loadgen/dag-dashboards" "$BENCH/loadgen/dag-dashboards.c" -lpthread -lssl -lcrypto
dag=$OUT/ticker.json
printf '{"nodes":[{"id":"start","gate":{"presentation":{"title":"start"}}},{"id":"tick","depends_on":["start"],"handler":"ticker","params":{"rate":%d,"seconds":%d}}]}\n' \
  "$RATE" "$RUN_SECONDS" > "$dag"
db=$OUT/events.sqlite
rm -f "$db"*
start_server "$OUT/serve.log" env EDDY_OPERATOR_TOKEN=soak "$EDDY" serve --dag "$dag" --repeat --pause 0.5 --port 0 \
  --db "$db" --keep-runs "$KEEP_RUNS"
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
sample() { # round -> "round rss_kb fds log_bytes"
  local rss fds
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
  fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
  echo "$1 $rss $fds $(( $(size "$db") + $(size "$db-wal") ))"
}
echo "round rss_kb fds log_bytes" > "$OUT/samples.txt"
sample 0 >> "$OUT/samples.txt"
deadline=$(( $(date +%s) + SOAK_MINUTES * 60 ))
round=0
failures=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  # The next run appears a moment after the last one ended: wait for it (bounded: 40 tries).
  result=""
  for _ in $(seq 1 40); do
    if result=$(EDDY_OPERATOR_TOKEN=soak "$BENCH/loadgen/dag-dashboards" --host 127.0.0.1 --port "$SERVER_PORT" --dashboards "$DASHBOARDS" \
        --timeout $(( RUN_SECONDS * 6 + 60 )) 2>"$OUT/loadgen.err"); then break; fi
    grep -q "no live run" "$OUT/loadgen.err" || break
    result=""
    sleep 0.25
  done
  if [ -z "$result" ]; then
    echo "round $round: load generator failed: $(cat "$OUT/loadgen.err")" >&2
    failures=$((failures + 1))
    continue
  fi
  echo "$result" >> "$OUT/results.txt"
  if [ "$(field finished "$result")" != "$DASHBOARDS" ] || [ "$(field gaps "$result")" != 0 ] \
     || [ "$(field catch_ups "$result")" != 0 ]; then
    echo "round $round incomplete: $result" >&2
    failures=$((failures + 1))
  fi
  sample "$round" >> "$OUT/samples.txt"
done
cpu=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
stop_server
echo "rounds: $round, incomplete rounds: $failures, server CPU: $(awk -v t="$cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f s", t / hz }')"
echo "samples (every round): $OUT/samples.txt"
awk 'NR > 1 { r[NR] = $0 } END {
  n = NR - 1; q = int(n / 4); if (q < 1) q = 1
  for (i = 2; i < 2 + q; i++) { split(r[i], a, " "); fr += a[2]; ff += a[3]; fl += a[4] }
  for (i = NR - q + 1; i <= NR; i++) { split(r[i], a, " "); lr += a[2]; lf += a[3]; ll += a[4] }
  printf "first quarter of rounds: RSS %.1f MB, %.0f fds, log %.1f MB\n", fr / q / 1024, ff / q, fl / q / 1048576
  printf "last quarter of rounds:  RSS %.1f MB, %.0f fds, log %.1f MB\n", lr / q / 1024, lf / q, ll / q / 1048576
}' "$OUT/samples.txt"
[ "$failures" = 0 ]
