#!/usr/bin/env bash
# alloc-per-message.sh — heap allocations per echoed message.
#
#   ./alloc-per-message.sh [SERVER ...]     (default: the servers in DEFAULT_SERVERS)
#
# SERVER is a name from servers.sh (SERVER_CMD) or NAME=/path/to/binary.
# For each server, twice (M1 and M2 messages): start it under
# `valgrind --tool=memcheck --leak-check=no`, send exactly M echoes with the
# load generator's --messages mode (CONNECTIONS connections, IN_FLIGHT in
# flight each), SIGTERM it, and read "total heap usage: X allocs" from
# valgrind's summary. Start-up, connection set-up and shutdown cost the same
# in both runs, so
#     allocs per message = (X2 - X1) / (M2 - M1)
# (and likewise bytes allocated per message).
#
# Knobs: M1 (20000), M2 (40000), CONNECTIONS (10), IN_FLIGHT (1), PAYLOAD (32),
#        SERVER_ARGS (extra server args), OUT_DIR, SKIP_BUILD=1,
#        XTREE=1 (also write, per server, <name>.m<M2>.xtree.txt: allocations
#        by function, inclusive, from valgrind's --xtree-memory=full),
#        VALGRIND_STRIP (1: run a copy of the binary without debug info —
#        valgrind 3.19 aborts on the DWARF 5 parts of Swift 6.3's debug info),
#        STARTUP_TIMEOUT (120 s), STOP_TIMEOUT (60 s), LOADGEN_TIMEOUT (600 s).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADGEN="$BENCH_DIR/loadgen/tcp-echo-load"
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-120}
STOP_TIMEOUT=${STOP_TIMEOUT:-60}
# shellcheck source=servers.sh
source "$BENCH_DIR/scripts/servers.sh"

M1=${M1:-20000}
M2=${M2:-40000}
CONNECTIONS=${CONNECTIONS:-10}
IN_FLIGHT=${IN_FLIGHT:-1}
PAYLOAD=${PAYLOAD:-32}
SERVER_ARGS=${SERVER_ARGS:-}
OUT_DIR=${OUT_DIR:-"$BENCH_DIR/out/alloc-$(date -u +%Y%m%dT%H%M%SZ)"}
SKIP_BUILD=${SKIP_BUILD:-0}
VALGRIND_STRIP=${VALGRIND_STRIP:-1}
LOADGEN_TIMEOUT=${LOADGEN_TIMEOUT:-600}
XTREE=${XTREE:-0}

log() { printf '[alloc-per-message] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v valgrind >/dev/null || die "valgrind not installed (apt-get install valgrind)"
((M2 > M1)) || die "M2 ($M2) must be larger than M1 ($M1)"
trap cleanup_server EXIT
trap 'exit 130' INT TERM

if [[ $SKIP_BUILD != 1 ]]; then
  log "building servers (release)…"; build_servers || die "server build failed"
  log "compiling load generator…"; build_loadgen || die "gcc failed"
fi
[[ -x $LOADGEN ]] || die "load generator not built: $LOADGEN"
mkdir -p "$OUT_DIR"

# run_once NAME CMD M -> sets RUN_RESULT="ALLOCS BYTES"; returns non-zero on any failure.
# (Not run in a subshell, so the EXIT trap always knows the server's PID.)
run_once() {
  local name=$1 cmd=$2 m=$3 rc=0 summary
  local prefix="$OUT_DIR/$name.m$m"
  local vg="$VG_ENV valgrind --tool=memcheck --leak-check=no --log-file=$prefix.valgrind"
  [[ $XTREE == 1 ]] && vg+=" --xtree-memory=full --xtree-memory-file=$prefix.xtree"
  start_server "$name" "$cmd" "$prefix" "$vg" || return 1
  timeout --kill-after=5 "$LOADGEN_TIMEOUT" "$LOADGEN" --port "$SERVER_PORT" --connections "$CONNECTIONS" \
    --in-flight "$IN_FLIGHT" --payload "$PAYLOAD" --messages "$m" --timeout "$LOADGEN_TIMEOUT" \
    >"$prefix.loadgen.out" 2>"$prefix.loadgen.err" || rc=$?
  if ((rc != 0)); then
    log "$name M=$m: load generator failed (rc=$rc):"; sed 's/^/    /' "$prefix.loadgen.err" | head -n 15 >&2
    stop_server "$name" || true
    return 1
  fi
  rc=0
  stop_server "$name" || rc=$?
  if ((rc != 0)); then
    log "$name M=$m: server exited with status $rc after SIGTERM (valgrind log: $prefix.valgrind)"
    return 1
  fi
  summary=$(grep 'total heap usage:' "$prefix.valgrind" | tail -n1 || true)
  if [[ -z $summary ]]; then
    log "$name M=$m: no 'total heap usage' line in $prefix.valgrind"; tail -n 20 "$prefix.valgrind" >&2
    return 1
  fi
  # "==123==   total heap usage: 1,265 allocs, 1,178 frees, 602,017 bytes allocated"
  RUN_RESULT=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs, [0-9,]* frees, \([0-9,]*\) bytes allocated.*/\1 \2/p' \
    <<<"$summary" | tr -d ,)
  [[ -n $RUN_RESULT ]]
}

# shellcheck disable=SC2086  # a space-separated list, split on purpose
[[ $# -gt 0 ]] || set -- $DEFAULT_SERVERS
TABLE="$OUT_DIR/table.md"
{
  printf 'Heap allocations per echoed message (valgrind memcheck; %s connections, %s in flight, %s B; M1=%s, M2=%s).\n\n' \
    "$CONNECTIONS" "$IN_FLIGHT" "$PAYLOAD" "$M1" "$M2"
  printf '| server | allocs @ M1 | allocs @ M2 | Δ allocs | allocs/msg | bytes/msg |\n|---|---:|---:|---:|---:|---:|\n'
} >"$TABLE"
FAILED=0
for entry in "$@"; do
  resolve_server "$entry" || die "bad server '$entry'"
  name=$SNAME cmd=$SCMD bin=${SCMD%% *} args=""
  [[ $cmd == *" "* ]] && args=${cmd#* }
  [[ -x $bin ]] || die "server binary not found: $bin"
  if [[ $VALGRIND_STRIP == 1 ]]; then
    # Same code, no debug info; LD_LIBRARY_PATH stands in for a RUNPATH of $ORIGIN.
    # (`env` execs valgrind, which runs the server in that same process: one PID.)
    objcopy --strip-debug "$bin" "$OUT_DIR/$name.nodebug" || die "objcopy failed for $bin"
    cmd="$OUT_DIR/$name.nodebug $args"
    VG_ENV="env LD_LIBRARY_PATH=$(dirname "$bin")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  else
    VG_ENV=""
  fi
  log "$name: M1=$M1 under valgrind…"
  if ! run_once "$name" "$cmd" "$M1"; then FAILED=1; printf '| %s | FAILED | | | | |\n' "$name" >>"$TABLE"; continue; fi
  log "$name: M2=$M2 under valgrind…"
  r1=$RUN_RESULT
  if ! run_once "$name" "$cmd" "$M2"; then FAILED=1; printf '| %s | FAILED | | | | |\n' "$name" >>"$TABLE"; continue; fi
  r2=$RUN_RESULT
  read -r a1 b1 <<<"$r1"
  read -r a2 b2 <<<"$r2"
  awk -v n="$name" -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" -v m1="$M1" -v m2="$M2" \
    'BEGIN { pa = (a2 - a1) / (m2 - m1); pb = (b2 - b1) / (m2 - m1)
             if (pa > -0.0005 && pa < 0.0005) pa = 0; if (pb > -0.05 && pb < 0.05) pb = 0
             printf "| %s | %d | %d | %d | %.3f | %.1f |\n", n, a1, a2, a2 - a1, pa, pb }' >>"$TABLE"
  log "$name: allocs $a1 -> $a2"
  if [[ $XTREE == 1 ]]; then
    callgrind_annotate --show=totBk --sort=totBk --inclusive=yes "$OUT_DIR/$name.m$M2.xtree" \
      >"$OUT_DIR/$name.m$M2.xtree.txt" 2>&1 || true
    log "$name: allocation sites (inclusive, M2 run): $OUT_DIR/$name.m$M2.xtree.txt"
  fi
done
cat "$TABLE"
log "logs: $OUT_DIR"
exit $FAILED
