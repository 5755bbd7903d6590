#!/usr/bin/env bash
# rss-idle.sh: server RSS per idle WebSocket connection.
#
#   ./rss-idle.sh [-n 10000] [--offer plain|deflate|both] [--active] [--src-ips K]
#                 [--settle 2] [--label NAME] [--repeat R] -- SERVER-COMMAND...
#
# SERVER-COMMAND must listen on 127.0.0.1, print "LISTENING <port>" on stdout, and
# be started with port 0 (any). For every offer mode (and every repeat) a FRESH
# server is started, then:
#   1. wait for LISTENING (<= 30 s), wait 1 s, read VmRSS of the server process
#      tree (the started PID plus its descendants) from /proc/PID/status  -> before
#   2. load/wsidle opens N WebSocket connections (offering permessage-deflate or
#      not) and waits until all are upgraded (optionally: --active, one 1 KiB
#      JSON-like message + echo per connection, compressed when negotiated)
#   3. wait --settle seconds (default 2), read VmRSS again                 -> after
#   4. report (after - before) / upgraded connections, in KiB
#   5. stop the load process and the server (only the PIDs this script started).
# Output: one "RESULT ..." line per run, machine-readable key=value pairs.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
N=10000; OFFER=both; ACTIVE=""; SRC_IPS=0; SETTLE=2; LABEL=""; REPEAT=1
LOAD_TIMEOUT=180

usage() { sed -n '2,20p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2;;
    --offer) OFFER=$2; shift 2;;
    --active) ACTIVE=--active; shift;;
    --src-ips) SRC_IPS=$2; shift 2;;
    --settle) SETTLE=$2; shift 2;;
    --label) LABEL=$2; shift 2;;
    --repeat) REPEAT=$2; shift 2;;
    --) shift; break;;
    -h|--help) usage;;
    *) echo "unknown option $1" >&2; usage;;
  esac
done
[ $# -gt 0 ] || usage
case "$OFFER" in plain) MODES=plain;; deflate) MODES=deflate;; both) MODES="plain deflate";; *) usage;; esac
[ -n "$LABEL" ] || LABEL=$(for a in "$@"; do printf "%s_" "$(basename -- "$a")"; done | sed "s/_$//")

WSIDLE="$HERE/../loadgen/wsidle"
if [ ! -x "$WSIDLE" ] || [ "$HERE/../loadgen/wsidle.c" -nt "$WSIDLE" ]; then
  gcc -O2 -Wall -o "$WSIDLE" "$HERE/../loadgen/wsidle.c" -lcrypto -lz || { echo "cannot build wsidle" >&2; exit 1; }
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TMP=$(mktemp -d /tmp/rss-idle.XXXXXX)
SERVER_PID=""; LOAD_PID=""

stop_pid() {  # stop_pid PID: TERM, wait up to 5 s, then KILL. Only PIDs we started.
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() { stop_pid "$LOAD_PID"; LOAD_PID=""; stop_pid "$SERVER_PID"; SERVER_PID=""; }
trap 'cleanup; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

descendants() {  # PID and all its descendants
  local p=$1 c
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do descendants "$c"; done
}
rss_kib() {  # summed VmRSS (KiB) of a process tree
  local total=0 p v
  for p in $(descendants "$1"); do
    v=$(awk '/^VmRSS:/{print $2}' /proc/"$p"/status 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
wait_line() {  # wait_line FILE REGEX TIMEOUT_S PID -> prints the first matching line
  local f=$1 re=$2 t=$3 pid=$4 i line
  for i in $(seq $((t * 10))); do
    line=$(grep -m1 -E "$re" "$f" 2>/dev/null) && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || { grep -m1 -E "$re" "$f" 2>/dev/null; return 1; }
    sleep 0.1
  done
  return 1
}

rc=0
for r in $(seq "$REPEAT"); do
 for mode in $MODES; do
  : > "$TMP/server.out"; : > "$TMP/load.out"
  "$@" > "$TMP/server.out" 2> "$TMP/server.err" &
  SERVER_PID=$!
  line=$(wait_line "$TMP/server.out" '^LISTENING [0-9]+' 30 "$SERVER_PID") || {
    echo "server did not print LISTENING; stderr:" >&2; tail -5 "$TMP/server.err" >&2; cleanup; rc=1; continue; }
  PORT=${line#LISTENING }
  sleep 1
  before=$(rss_kib "$SERVER_PID")

  flag=""; [ "$mode" = deflate ] && flag=--deflate
  "$WSIDLE" --port "$PORT" -n "$N" $flag $ACTIVE --src-ips "$SRC_IPS" --timeout 120 --hold 600 \
      > "$TMP/load.out" 2> "$TMP/load.err" &
  LOAD_PID=$!
  if ! ready=$(wait_line "$TMP/load.out" '^READY ' "$LOAD_TIMEOUT" "$LOAD_PID"); then
    echo "load did not become READY:" >&2; cat "$TMP/load.out" "$TMP/load.err" >&2; cleanup; rc=1; continue
  fi
  sleep "$SETTLE"
  after=$(rss_kib "$SERVER_PID")
  hwm=$(awk '/^VmHWM:/{print $2}' /proc/"$SERVER_PID"/status 2>/dev/null)
  threads=$(awk '/^Threads:/{print $2}' /proc/"$SERVER_PID"/status 2>/dev/null)
  up=$(grep -m1 '^UPGRADED' "$TMP/load.out")
  ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$up"); ok=${ok:-0}
  neg=$(sed -n 's/.*deflate=\([0-9]*\).*/\1/p' <<<"$up")
  failed=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$up")
  act=$(grep -m1 '^ACTIVE' "$TMP/load.out" | sed 's/^ACTIVE //; s/ /,/g')
  open=${ready#READY open=}
  stop_pid "$LOAD_PID"; LOAD_PID=""
  done_line=$(grep -m1 '^DONE' "$TMP/load.out")
  stop_pid "$SERVER_PID"; SERVER_PID=""
  if [ "$open" -gt 0 ]; then
    per=$(awk -v a="$after" -v b="$before" -v n="$open" 'BEGIN{printf "%.2f", (a-b)/n}')
  else per=NA; rc=1; fi
  echo "RESULT at=$(date -u +%H:%M:%S) label=$LABEL offer=$mode active=$([ -n "$ACTIVE" ] && echo yes || echo no) n=$N" \
       "upgraded=$ok failed=$failed open=$open deflate_negotiated=$neg ${act:+active_echo=$act}" \
       "rss_before_kib=$before rss_after_kib=$after hwm_kib=$hwm threads=$threads" \
       "per_conn_kib=$per ${done_line:+(${done_line})}"
 done
done
exit $rc
