#!/usr/bin/env bash
# open-close.sh: what opening and closing many WebSocket connections at once costs a server.
#
#   ./open-close.sh [-n "4000 8000 16000"] [--rounds 1] [--drain] -- SERVER-COMMAND...
#
# SERVER-COMMAND must listen on 127.0.0.1, print "LISTENING <port>" and be started with
# port 0 (e.g. `eddy echo --port 0 --loops 1 --task-per-connection`). For each N, a fresh
# server; load/wsidle opens N connections (256 handshakes in flight, 4 source addresses)
# and reports how long the upgrades took; it holds them 3 s and then resets them all at
# once; the server's CPU (user + system, from /proc) is read before the reset and 3 s after.
# With --drain the server closes them instead: it gets SIGTERM once they are up (a graceful
# drain: a Close to every connection, which wsidle answers), and the table shows how long
# it took to exit and the CPU it spent meanwhile.
# A cost per connection that grows with N shows work proportional to the connections open.
# Only the PIDs it started are stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNTS="4000 8000 16000"; ROUNDS=1; DRAIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) COUNTS=$2; shift 2;;
    --rounds) ROUNDS=$2; shift 2;;
    --drain) DRAIN=1; shift;;
    --) shift; break;;
    *) sed -n '2,12p' "$0" >&2; exit 2;;
  esac
done
[ $# -gt 0 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
WSIDLE="$BENCH/loadgen/wsidle"
if [ ! -x "$WSIDLE" ] || [ "$BENCH/loadgen/wsidle.c" -nt "$WSIDLE" ]; then
  gcc -O2 -Wall -o "$WSIDLE" "$BENCH/loadgen/wsidle.c" -lcrypto -lz
fi
T=$(mktemp -d /tmp/open-close.XXXXXX)
LP=""
cleanup() { [ -n "$LP" ] && kill "$LP" 2>/dev/null; stop_server; rm -rf "$T"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
if [ -n "$DRAIN" ]; then
  printf '| connections | upgrades took (s) | drain took (s) | server CPU in the drain (ms) | per connection (µs) |\n|---:|---:|---:|---:|---:|\n'
else
  printf '| connections | upgrades took (s) | server CPU to close them all (ms) | per connection (µs) |\n|---:|---:|---:|---:|\n'
fi
for round in $(seq "$ROUNDS"); do
  for n in $COUNTS; do
    start_server "$T/server.log" "$@"
    "$WSIDLE" --port "$SERVER_PORT" -n "$n" --hold "$([ -n "$DRAIN" ] && echo 120 || echo 3)" --src-ips 4 > "$T/idle.txt" 2>&1 &
    LP=$!
    for _ in $(seq 1200); do grep -q '^READY' "$T/idle.txt" && break; kill -0 "$LP" 2>/dev/null || break; sleep 0.1; done
    grep -q '^READY' "$T/idle.txt" || { echo "wsidle did not get its connections up:" >&2; cat "$T/idle.txt" >&2; exit 1; }
    sleep 1
    before=$(cpu)
    upgrades=$(sed -n 's/^UPGRADED.* secs=\([0-9.]*\).*/\1/p' "$T/idle.txt")
    if [ -n "$DRAIN" ]; then
      started=$(date +%s.%N)
      kill -TERM "$SERVER_PID"
      after=$before
      for _ in $(seq 6000); do
        now=$(cpu 2>/dev/null) || break
        after=$now
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.01
      done
      took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=""
      kill "$LP" 2>/dev/null; wait "$LP" 2>/dev/null || true; LP=""
      awk -v n="$n" -v u="$upgrades" -v d="$took" -v t=$((after - before)) -v hz="$hz" \
        'BEGIN { ms = t * 1000 / hz; printf "| %d | %s | %s | %.0f | %.1f |\n", n, u, d, ms, ms * 1000 / n }'
    else
      wait "$LP"; LP=""
      sleep 3
      after=$(cpu)
      stop_server
      awk -v n="$n" -v u="$upgrades" -v t=$((after - before)) -v hz="$hz" \
        'BEGIN { ms = t * 1000 / hz; printf "| %d | %s | %.0f | %.1f |\n", n, u, ms, ms * 1000 / n }'
    fi
  done
done
