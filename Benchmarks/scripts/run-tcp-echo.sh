#!/usr/bin/env bash
# run-tcp-echo.sh — TCP echo peer comparison.
#
# Builds the peer servers (release) and the C load generator, then for each
# server in $SERVERS: starts it with `--port 0`, reads `LISTENING <port>` from
# its stdout, runs the load generator over the matrix
# CONNECTIONS x IN_FLIGHT, stops it with SIGTERM (its own PID only), and
# finally prints a markdown table with msgs/s, the ratio to $BASELINE, the
# server's CPU microseconds per echoed message and the load generator's own
# CPU use (near 100% = the single-threaded load generator was the bottleneck).
#
# Knobs (environment):
#   SERVERS          space-separated names from SERVER_CMD (servers.sh), or ad-hoc
#                    entries NAME=/path/to/binary   (default: all NIO peers)
#   BASELINE         server whose msgs/s is the 1.00x reference (default: first of SERVERS)
#   DURATION         measured seconds per cell (default 5)
#   WARMUP           warmup seconds per cell (default 1)
#   CONNECTIONS      default "1 100 1000"
#   IN_FLIGHT        default "1 16"
#   PAYLOAD          bytes per message (default 32)
#   LOADGEN_THREADS  load generator threads (default 1)
#   SERVER_ARGS      extra arguments for every server, e.g. "--threads 1"
#   OUT_DIR          raw logs + results (default <bench dir>/out/<timestamp>)
#   REPEATS          runs of the whole matrix per server, interleaved across
#                    servers; the table shows medians (default 1)
#   NICE             e.g. -10: run server and load generator at that nice level
#                    (root only for negative values) so that other work on a
#                    shared machine disturbs the figures less (default: unset)
#   SKIP_BUILD=1     don't rebuild (use existing binaries)
#   STARTUP_TIMEOUT, STOP_TIMEOUT   seconds (defaults 30, 10)
#
# Exit status: 0 if every cell produced a validated result and every server
# exited 0 on SIGTERM, 1 otherwise.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADGEN="$BENCH_DIR/loadgen/tcp-echo-load"
# shellcheck source=servers.sh
source "$BENCH_DIR/scripts/servers.sh"   # SERVER_CMD registry: add servers there

SERVERS=${SERVERS:-$DEFAULT_SERVERS}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-"1 100 1000"}
IN_FLIGHT=${IN_FLIGHT:-"1 16"}
PAYLOAD=${PAYLOAD:-32}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
SERVER_ARGS=${SERVER_ARGS:-}
OUT_DIR=${OUT_DIR:-"$BENCH_DIR/out/$(date -u +%Y%m%dT%H%M%SZ)"}
SKIP_BUILD=${SKIP_BUILD:-0}
REPEATS=${REPEATS:-1}
NICE=${NICE:-}
NICE_CMD=${NICE:+nice -n $NICE}

log() { printf '[run-tcp-echo] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

build_all() {
  log "building servers (release)…"
  build_servers || die "server build failed"
  log "compiling load generator…"
  build_loadgen || die "gcc failed"
}

trap cleanup_server EXIT
trap 'exit 130' INT TERM

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# run_matrix NAME CMD REP: start one server, run every cell against it, stop it.
run_matrix() {
  local name=$1 cmd=$2 rep=$3 prefix="$OUT_DIR/$1.run$3" c k cell status lg_rc line srv_rc
  local secs msgs rate scpu ccpu errs us_per_msg
  if ! start_server "$name" "$cmd" "$prefix" "$NICE_CMD"; then
    FAILED=1
    for c in $CONNECTIONS; do for k in $IN_FLIGHT; do
      printf '%s\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\tSERVER_START_FAILED\n' "$name" "$rep" "$c" "$k" "$PAYLOAD" >>"$RESULTS"
    done; done
    return
  fi
  log "$name (run $rep): pid $SERVER_PID, port $SERVER_PORT"
  for c in $CONNECTIONS; do
    for k in $IN_FLIGHT; do
      cell="$prefix.c$c.k$k"
      status=ok
      lg_rc=0
      load1=$(cut -d' ' -f1 /proc/loadavg)
      # shellcheck disable=SC2086  # NICE_CMD is empty or "nice -n N": split on purpose
      timeout --kill-after=5 "$LOADGEN_TIMEOUT" $NICE_CMD "$LOADGEN" --host 127.0.0.1 --port "$SERVER_PORT" \
        --connections "$c" --in-flight "$k" --payload "$PAYLOAD" --warmup "$WARMUP" \
        --duration "$DURATION" --threads "$LOADGEN_THREADS" --cpu-pid "$SERVER_PID" \
        >"$cell.out" 2>"$cell.err" || lg_rc=$?
      line=$(grep '^RESULT ' "$cell.out" | tail -n1 || true)
      if ((lg_rc != 0)) || [[ -z $line ]]; then
        status="FAIL(rc=$lg_rc)"
        FAILED=1
        log "$name c=$c k=$k: load generator failed (rc=$lg_rc):"
        sed 's/^/    /' "$cell.err" | head -n 15 >&2
      fi
      secs=$(field seconds "$line"); msgs=$(field messages "$line"); rate=$(field msgs_per_sec "$line")
      scpu=$(field server_cpu_sec "$line"); ccpu=$(field client_cpu_sec "$line"); errs=$(field errors "$line")
      us_per_msg=$(awk -v s="$scpu" -v m="$msgs" 'BEGIN { if (m > 0 && s ~ /^[0-9.]+$/) printf "%.3f", s * 1e6 / m }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rep" "$c" "$k" "$PAYLOAD" "$secs" \
        "$msgs" "$rate" "$scpu" "$us_per_msg" "$ccpu" "$errs" "$status" "$load1" >>"$RESULTS"
      log "$name c=$c k=$k: ${rate:-?} msgs/s, server ${us_per_msg:-?} µs CPU/msg, loadgen ${ccpu:-?} CPU-s ($status)"
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "$name died during the run; skipping its remaining cells"
        FAILED=1
        SERVER_PID=""
        return
      fi
      sleep 0.5 # let the previous cell's sockets close
    done
  done
  srv_rc=0
  stop_server "$name" || srv_rc=$?
  if ((srv_rc != 0)); then
    log "$name exited with status $srv_rc after SIGTERM"
    FAILED=1
  fi
  printf '%s\n' "$srv_rc" >"$prefix.exit-status"
  printf '%s\t%s\t%s\n' "$name" "$rep" "$srv_rc" >>"$EXITS"
}

# ---------------------------------------------------------------------------
[[ $SKIP_BUILD == 1 ]] || build_all
[[ -x $LOADGEN ]] || die "load generator not built: $LOADGEN"
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.tsv"
EXITS="$OUT_DIR/server-exits.tsv"   # server, run, exit status after SIGTERM (124: had to be SIGKILLed)
: >"$EXITS"
printf 'server\trun\tconnections\tin_flight\tpayload\tseconds\tmessages\tmsgs_per_sec\tserver_cpu_sec\tcpu_us_per_msg\tclient_cpu_sec\terrors\tstatus\tloadavg_1m_before\n' >"$RESULTS"
log "output: $OUT_DIR"
log "servers: $SERVERS | connections: $CONNECTIONS | in-flight: $IN_FLIGHT | payload: $PAYLOAD B | warmup ${WARMUP}s, duration ${DURATION}s | repeats: $REPEATS${NICE:+ | nice $NICE}"
log "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Validate every entry before spending minutes on the first one.
NAMES=()
CMDS=()
for entry in $SERVERS; do
  resolve_server "$entry" || die "bad SERVERS entry"
  [[ -x ${SCMD%% *} ]] || die "server binary not found: ${SCMD%% *}"
  NAMES+=("$SNAME"); CMDS+=("$SCMD")
done
BASELINE=${BASELINE:-${NAMES[0]}}

FAILED=0
LOADGEN_TIMEOUT=$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN { printf "%d", w + d + 60 }')
# Repeats are interleaved (A B A B …) so slow drift on a shared machine hits every server alike.
for ((rep = 1; rep <= REPEATS; rep++)); do
  for i in "${!NAMES[@]}"; do
    run_matrix "${NAMES[$i]}" "${CMDS[$i]}" "$rep"
  done
done

# ---------------------------------------------------------------------------
# Markdown table: per cell, the median over the repeats of msgs/s and of server
# CPU µs/msg; ratio = median msgs/s / BASELINE's median msgs/s for that cell;
# spread = (max - min) / median of msgs/s; loadgen CPU = client CPU s / s.
TABLE="$OUT_DIR/table.md"
awk -F'\t' -v base="$BASELINE" -v dur="$DURATION" -v warm="$WARMUP" -v payload="$PAYLOAD" \
    -v reps="$REPEATS" -v order="${NAMES[*]}" -v conns="$CONNECTIONS" -v inflight="$IN_FLIGHT" '
  function median(list,    v, n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    if (n == 0) return ""
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  function minmax(list,    v, n, i) {
    n = split(list, v, " "); lo = v[1] + 0; hi = v[1] + 0
    for (i = 2; i <= n; i++) { if (v[i] + 0 < lo) lo = v[i] + 0; if (v[i] + 0 > hi) hi = v[i] + 0 }
  }
  NR == 1 { next }
  {
    key = $1 SUBSEP $3 SUBSEP $4
    if ($13 == "ok") {
      rates[key] = rates[key] " " $8; cpus[key] = cpus[key] " " $10; nok[key]++
      if ($6 > 0) lg[key] = lg[key] " " ($11 / $6 * 100)
    } else {
      bad[key] = bad[key] (bad[key] == "" ? "" : ",") $13
    }
    errs[key] += $12
    if ($14 != "") { if (lmin == "" || $14 + 0 < lmin + 0) lmin = $14; if (lmax == "" || $14 + 0 > lmax + 0) lmax = $14 }
  }
  END {
    printf "TCP echo, payload %s B, warmup %ss, measured %ss per cell, %s run(s) per cell (median shown); ratio vs `%s`; 1-min load average before the cells: %s–%s.\n\n", payload, warm, dur, reps, base, (lmin == "" ? "?" : lmin), (lmax == "" ? "?" : lmax)
    print "| server | connections | in-flight | msgs/s | vs " base " | spread | server CPU µs/msg | loadgen CPU % | errors | status |"
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    ns = split(order, S, " "); nc = split(conns, C, " "); nk = split(inflight, K, " ")
    for (s = 1; s <= ns; s++) for (c = 1; c <= nc; c++) for (k = 1; k <= nk; k++) {
      key = S[s] SUBSEP C[c] SUBSEP K[k]; bkey = base SUBSEP C[c] SUBSEP K[k]
      rate = median(rates[key]); brate = median(rates[bkey])
      ratio = (rate != "" && brate != "" && brate > 0) ? sprintf("%.2fx", rate / brate) : "–"
      spread = "–"
      if (nok[key] > 1) { minmax(rates[key]); spread = sprintf("%.0f%%", (hi - lo) / rate * 100) }
      status = (bad[key] == "") ? "ok" : bad[key]
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n", S[s], C[c], K[k], \
        (rate != "" ? sprintf("%.0f", rate) : "–"), ratio, spread, \
        (nok[key] ? sprintf("%.2f", median(cpus[key])) : "–"), (lg[key] != "" ? sprintf("%.0f", median(lg[key])) : "–"), \
        errs[key], status
    }
  }' "$RESULTS" >"$TABLE"
if [[ -s $EXITS ]]; then
  awk -F'\t' '{ st[$1] = st[$1] (st[$1] == "" ? "" : ", ") ($3 == 124 ? "SIGKILLed" : "exit " $3); if ($3 != 0) bad = 1 }
    END { printf "\nServer exit after SIGTERM (per run): "; sep = ""
          for (s in st) { printf "%s%s: %s", sep, s, st[s]; sep = "; " }
          print (bad ? " — NOT CLEAN" : " — all clean") }' "$EXITS" >>"$TABLE"
fi
cat "$TABLE"
log "table: $TABLE; raw results: $RESULTS"
exit $FAILED
