#!/usr/bin/env bash
# wss:// against ws:// on the same server and the same load generator, in one invocation:
# `eddy echo` without and with --tls-cert/--tls-key, driven by `eddy bench` (the only
# generator here that speaks wss://; it costs as much CPU as the server it measures, so
# the ratio, not the absolute rate, is the figure). Then full TLS 1.3 handshakes per second
# against the same TLS server with `openssl s_time -new` (a fresh session each time).
#   DURATION (default 5)  CONNECTIONS (default 100)  LOOPS (server event loops, default 1)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-100}
LOOPS=${LOOPS:-1}
OUT=${OUT:-$BENCH/results/wss-echo-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
trap stop_server EXIT
# A P-256 certificate for localhost, made for this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

CASES=(
  "32B x16|--payload 32 --in-flight 16"
  "1KiB x16|--payload 1024 --in-flight 16"
  "16KiB x4|--payload 16384 --in-flight 4"
)
echo "Server loops: $LOOPS, $CONNECTIONS connections, $DURATION s measured (eddy bench, 2 loops)"
echo
printf '| case | ws:// msgs/s | wss:// msgs/s | wss ÷ ws | ws p99 µs | wss p99 µs |\n|---|---:|---:|---:|---:|---:|\n'
for case in "${CASES[@]}"; do
  IFS='|' read -r label args <<< "$case"
  start_server "$OUT/ws.log" "$EDDY" echo --port 0 --loops "$LOOPS"
  # shellcheck disable=SC2086
  plain=$("$EDDY" bench "ws://127.0.0.1:$SERVER_PORT/" --connections "$CONNECTIONS" --duration "$DURATION" --loops 2 $args | tee -a "$OUT/results.txt")
  stop_server
  start_server "$OUT/wss.log" "$EDDY" echo --port 0 --loops "$LOOPS" --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem"
  # shellcheck disable=SC2086
  secure=$("$EDDY" bench "wss://localhost:$SERVER_PORT/" --ca "$OUT/cert.pem" --connections "$CONNECTIONS" --duration "$DURATION" --loops 2 $args | tee -a "$OUT/results.txt")
  stop_server
  p=$(field msgs_per_sec "$plain"); s=$(field msgs_per_sec "$secure")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$p" "$s" "$(awk -v a="$s" -v b="$p" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')" \
    "$(field p99_us "$plain")" "$(field p99_us "$secure")"
done

echo
start_server "$OUT/handshakes.log" "$EDDY" echo --port 0 --loops "$LOOPS" --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem"
echo "Full handshakes (openssl s_time -new, TLS 1.3, ECDSA P-256, X25519), $DURATION s:"
openssl s_time -connect "127.0.0.1:$SERVER_PORT" -new -time "$DURATION" -CAfile "$OUT/cert.pem" 2>&1 \
  | grep -E "connections in|connections/user" | tee -a "$OUT/results.txt"
stop_server
