#!/usr/bin/env bash
# open-close.sh: what opening and closing many WebSocket connections at once costs a server.
#
#   ./open-close.sh [-n "4000 8000 16000"] [--rounds 1] -- SERVER-COMMAND...
#
# SERVER-COMMAND must listen on 127.0.0.1, print "LISTENING <port>" and be started with
# port 0 (e.g. `eddy echo --port 0 --loops 1 --task-per-connection`). For each N, a fresh
# server; load/wsidle opens N connections (256 handshakes in flight, 4 source addresses)
# and reports how long the upgrades took; it holds them 3 s and then resets them all at
# once; the server's CPU (user + system, from /proc) is read before the reset and 3 s after.
# A cost per connection that grows with N shows work proportional to the connections open.
# Only the PIDs it started are stopped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNTS="4000 8000 16000"; ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n) COUNTS=$2; shift 2;;
    --rounds) ROUNDS=$2; shift 2;;
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
printf '| connections | upgrades took (s) | server CPU to close them all (ms) | per connection (µs) |\n|---:|---:|---:|---:|\n'
for round in $(seq "$ROUNDS"); do
  for n in $COUNTS; do
    start_server "$T/server.log" "$@"
    "$WSIDLE" --port "$SERVER_PORT" -n "$n" --hold 3 --src-ips 4 > "$T/idle.txt" 2>&1 &
    LP=$!
    for _ in $(seq 1200); do grep -q '^READY' "$T/idle.txt" && break; kill -0 "$LP" 2>/dev/null || break; sleep 0.1; done
    grep -q '^READY' "$T/idle.txt" || { echo "wsidle did not get its connections up:" >&2; cat "$T/idle.txt" >&2; exit 1; }
    sleep 1
    before=$(cpu)
    wait "$LP"; LP=""
    sleep 3
    after=$(cpu)
    stop_server
    upgrades=$(sed -n 's/^UPGRADED.* secs=\([0-9.]*\).*/\1/p' "$T/idle.txt")
    awk -v n="$n" -v u="$upgrades" -v t=$((after - before)) -v hz="$hz" \
      'BEGIN { ms = t * 1000 / hz; printf "| %d | %s | %.0f | %.1f |\n", n, u, ms, ms * 1000 / n }'
  done
done
