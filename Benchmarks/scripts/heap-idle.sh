#!/usr/bin/env bash
# heap-idle.sh: what an idle WebSocket connection holds on the server's heap, by size class.
#
#   ./heap-idle.sh [-n 10000] [--deflate] -- SERVER-COMMAND...
#
# SERVER-COMMAND must listen on 127.0.0.1, print "LISTENING <port>" on stdout and be
# started with port 0. It runs under Benchmarks/tools/live-heap.c (LD_PRELOAD); one
# table of live heap is taken before and one after load/wsidle opened N connections,
# and the difference per connection is printed: one row per size class that moved by
# more than 1 byte per connection ("272 B x 1.00 per conn = 283.4 B": one 272..287-byte
# allocation per connection), then the total. Only the PIDs it started are stopped.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
N=10000; FLAG=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2;;
    --deflate) FLAG=--deflate; shift;;
    --) shift; break;;
    *) sed -n '2,12p' "$0" >&2; exit 2;;
  esac
done
[ $# -gt 0 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
LIB="$HERE/../tools/liblive-heap.so"
WSIDLE="$HERE/../loadgen/wsidle"
gcc -O2 -shared -fPIC -o "$LIB" "$HERE/../tools/live-heap.c" -lpthread || exit 1
if [ ! -x "$WSIDLE" ] || [ "$HERE/../loadgen/wsidle.c" -nt "$WSIDLE" ]; then
  gcc -O2 -Wall -o "$WSIDLE" "$HERE/../loadgen/wsidle.c" -lcrypto -lz || exit 1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
T=$(mktemp -d /tmp/heap-idle.XXXXXX)
SP=""; LP=""
cleanup() { [ -n "$LP" ] && kill "$LP" 2>/dev/null && wait "$LP" 2>/dev/null; [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export LIVE_HEAP_TRIGGER=$T/trigger
LD_PRELOAD="$LIB" "$@" > "$T/out" 2> "$T/err" &
SP=$!
for _ in $(seq 300); do grep -q '^LISTENING' "$T/out" && break; sleep 0.1; done
PORT=$(sed -n 's/^LISTENING //p' "$T/out" | head -1)
[ -n "$PORT" ] || { echo "server did not print LISTENING" >&2; exit 1; }
sleep 1; touch "$T/trigger"; sleep 2.2
"$WSIDLE" --port "$PORT" -n "$N" $FLAG --hold 600 > "$T/load.out" 2>&1 &
LP=$!
for _ in $(seq 1200); do grep -q '^READY' "$T/load.out" && break; sleep 0.1; done
OPEN=$(sed -n 's/^READY open=//p' "$T/load.out")
[ -n "$OPEN" ] && [ "$OPEN" -gt 0 ] || { echo "load did not become READY" >&2; cat "$T/load.out" >&2; exit 1; }
sleep 2; touch "$T/trigger"; sleep 2.2
awk -v n="$OPEN" '/^live-heap: class_bytes/{s++} /^live-heap: [0-9]/{ if (s==1) {b[$2]=$4; c[$2]=$3} else {a[$2]=$4; d[$2]=$3} }
  END { for (k in a) { dc=d[k]-c[k]; db=a[k]-b[k]; tot+=db; if (db/n>1 || db/n<-1) printf "%7d B x %.2f per conn = %.1f B\n", k, dc/n, db/n }
        for (k in b) if (!(k in a)) tot-=b[k]
        printf "total live heap per connection: %.1f B (%d connections)\n", tot/n, n }' "$T/err" | sort -n
