#!/usr/bin/env bash
# wss:// against ws:// on the same server and the same load generator, in one invocation,
# for Eddy (`eddy echo`, with and without --tls-cert/--tls-key) and Node `ws` (over
# Node's `https`, with and without --tls-cert/--tls-key), one server at a time. The load
# comes from `eddy bench` (the only generator here that speaks wss://; it costs about as
# much CPU as the servers it measures, on the same 2 cores, so the ratios, not the absolute
# rates, are the figures). Then full TLS 1.3 handshakes per second against each TLS server
# with `openssl s_time -new` (a fresh session each time; its own CPU shares the cores).
# SwiftNIO + NIOSSL is not here: swift-nio-ssl is not in the package cache.
#   DURATION (default 5)  CONNECTIONS (default 100)  LOOPS (Eddy event loops, default 1:
#   Node is single-threaded)
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
TLS=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
declare -A CMD=(
  [eddy]="$EDDY echo --port 0 --loops $LOOPS"
  [node]="node $BENCH/node/ws-echo-server.js --port 0"
)

CASES=(
  "32B x16|--payload 32 --in-flight 16"
  "1KiB x16|--payload 1024 --in-flight 16"
  "16KiB x4|--payload 16384 --in-flight 4"
)
# rate SERVER SCHEME ARGS... -> the RESULT line of one measured run
rate() {
  local server=$1 scheme=$2; shift 2
  local extra=() url="ws://127.0.0.1"
  if [ "$scheme" = wss ]; then extra=("${TLS[@]}"); url="wss://localhost"; fi
  # shellcheck disable=SC2086
  start_server "$OUT/$server-$scheme.log" ${CMD[$server]} "${extra[@]}"
  local ca=()
  [ "$scheme" = wss ] && ca=(--ca "$OUT/cert.pem")
  "$EDDY" bench "$url:$SERVER_PORT/" "${ca[@]}" --connections "$CONNECTIONS" --duration "$DURATION" --loops 2 "$@" \
    | tee -a "$OUT/results.txt"
  stop_server
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b>0)?a/b:0}'; }

echo "Eddy loops: $LOOPS, $CONNECTIONS connections, $DURATION s measured (eddy bench, 2 loops)"
echo
printf '| case | Eddy ws:// | Eddy wss:// | Eddy wss ÷ ws | Node ws:// | Node wss:// | Node wss ÷ ws | Eddy wss ÷ Node wss |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for case in "${CASES[@]}"; do
  IFS='|' read -r label args <<< "$case"
  # shellcheck disable=SC2086
  ew=$(field msgs_per_sec "$(rate eddy ws $args)"); es=$(field msgs_per_sec "$(rate eddy wss $args)")
  # shellcheck disable=SC2086
  nw=$(field msgs_per_sec "$(rate node ws $args)"); ns=$(field msgs_per_sec "$(rate node wss $args)")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$ew" "$es" "$(ratio "$es" "$ew")" \
    "$nw" "$ns" "$(ratio "$ns" "$nw")" "$(ratio "$es" "$ns")"
done

echo
echo "Full handshakes (openssl s_time -new: TLS 1.3, ECDSA P-256, X25519), $DURATION s each:"
for server in eddy node; do
  # shellcheck disable=SC2086
  start_server "$OUT/$server-handshakes.log" ${CMD[$server]} "${TLS[@]}"
  printf '%s: ' "$server"
  openssl s_time -connect "127.0.0.1:$SERVER_PORT" -new -time "$DURATION" -CAfile "$OUT/cert.pem" 2>&1 \
    | grep -E "connections in .* real seconds" | tee -a "$OUT/results.txt"
  stop_server
done
