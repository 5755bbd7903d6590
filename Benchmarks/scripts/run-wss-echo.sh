#!/usr/bin/env bash
# wss:// against ws:// on the same server and the same load generator, in one invocation,
# for Eddy (`eddy echo`, OpenSSL 3), SwiftNIO (`nio-ws-echo`: NIOWebSocket behind
# NIOSSL's server handler, BoringSSL) and Node `ws` (over Node's `https`, OpenSSL), each
# with and without --tls-cert/--tls-key, one server at a time. The load comes from `eddy
# bench` (the only generator here that speaks wss://; it costs about as much CPU as the
# servers it measures, on the same 2 cores), so the server's own CPU per message (from
# /proc) is the figure to compare, and the rates only within a row. Then full TLS 1.3
# handshakes per second against each TLS server with `openssl s_time -new` (a fresh
# session each time; its own CPU shares the cores).
#   DURATION (default 5)  CONNECTIONS (default 100)  LOOPS (server threads, default 1:
#   Node is single-threaded)  SERVERS (default "eddy nio node")
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
SERVERS=${SERVERS:-eddy nio node}
declare -A CMD=(
  [eddy]="$EDDY echo --port 0 --loops $LOOPS"
  [nio]="$BENCH/.build/release/nio-ws-echo --port 0 --threads $LOOPS"
  [node]="node $BENCH/node/ws-echo-server.js --port 0"
)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
TICKS=$(getconf CLK_TCK)

CASES=(
  "32B x16|--payload 32 --in-flight 16"
  "1KiB x16|--payload 1024 --in-flight 16"
  "16KiB x4|--payload 16384 --in-flight 4"
)
# rate SERVER SCHEME ARGS... -> the RESULT line of one measured run, with the server's
# CPU per message appended as server_cpu_us=
rate() {
  local server=$1 scheme=$2; shift 2
  local extra=() url="ws://127.0.0.1"
  if [ "$scheme" = wss ]; then extra=("${TLS[@]}"); url="wss://localhost"; fi
  # shellcheck disable=SC2086
  start_server "$OUT/$server-$scheme.log" ${CMD[$server]} "${extra[@]}"
  local ca=()
  [ "$scheme" = wss ] && ca=(--ca "$OUT/cert.pem")
  local pid=$SERVER_PID
  [ "$server" = node ] && pid=$(pgrep -P "$SERVER_PID" node || echo "$SERVER_PID") # node may fork a child
  local before after line
  before=$(cpu_ticks "$pid")
  line=$("$EDDY" bench "$url:$SERVER_PORT/" "${ca[@]}" --connections "$CONNECTIONS" --duration "$DURATION" --warmup 0 --loops 2 "$@")
  after=$(cpu_ticks "$pid")
  stop_server
  line="$line server=$server scheme=$scheme server_cpu_us=$(awk -v t=$((after - before)) -v hz="$TICKS" -v m="$(field messages "$line")" \
    'BEGIN { printf "%.2f", (m > 0) ? t / hz * 1e6 / m : 0 }')"
  echo "$line" | tee -a "$OUT/results.txt"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b>0)?a/b:0}'; }

echo "Server threads: $LOOPS, $CONNECTIONS connections, $DURATION s measured (eddy bench, 2 loops)"
echo
printf '| case | server | ws:// msgs/s | wss:// msgs/s | wss ÷ ws | ws:// CPU µs/msg | wss:// CPU µs/msg | wss CPU: Eddy ÷ server |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|\n'
for case in "${CASES[@]}"; do
  IFS='|' read -r label args <<< "$case"
  eddy_wss_cpu=""
  for server in $SERVERS; do
    # shellcheck disable=SC2086
    plain=$(rate "$server" ws $args | tail -1); secure=$(rate "$server" wss $args | tail -1)
    pw=$(field msgs_per_sec "$plain"); sw=$(field msgs_per_sec "$secure")
    pc=$(field server_cpu_us "$plain"); sc=$(field server_cpu_us "$secure")
    [ "$server" = eddy ] && eddy_wss_cpu=$sc
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$label" "$server" "$pw" "$sw" "$(ratio "$sw" "$pw")" \
      "$pc" "$sc" "$( [ -n "$eddy_wss_cpu" ] && ratio "$eddy_wss_cpu" "$sc" || echo -)"
  done
done

echo
echo "Full handshakes (openssl s_time -new: TLS 1.3, ECDSA P-256, X25519), $DURATION s each:"
for server in $SERVERS; do
  # shellcheck disable=SC2086
  start_server "$OUT/$server-handshakes.log" ${CMD[$server]} "${TLS[@]}"
  printf '%s: ' "$server"
  openssl s_time -connect "127.0.0.1:$SERVER_PORT" -new -time "$DURATION" -CAfile "$OUT/cert.pem" 2>&1 \
    | grep -E "connections in .* real seconds" | tee -a "$OUT/results.txt"
  stop_server
done
