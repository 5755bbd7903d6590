# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are used by the scripts that source this file
# servers.sh — the server registry shared by run-tcp-echo.sh and
# alloc-per-message.sh (sourced, not executed; expects BENCH_DIR to be set).
#
# Every server must: accept `--port 0` (and `--host`, `--threads`), print
# exactly `LISTENING <port>` on stdout (flushed) once bound, and exit 0 on
# SIGTERM.
#
# To add a server:
#   1. add `[name]="/path/to/binary"` to SERVER_CMD (extra fixed arguments may
#      follow the path, separated by spaces);
#   2. if it needs building, add the command to build_servers;
#   3. add its name to DEFAULT_SERVERS (or pass SERVERS="..." at run time).
# Ad hoc, without editing: SERVERS="nio-echo-handler mine=/path/to/binary".

NIO_BIN="$BENCH_DIR/.build/release"

declare -A SERVER_CMD=(
  [nio-echo-handler]="$NIO_BIN/nio-echo-handler"
  [nio-echo-async]="$NIO_BIN/nio-echo-async"
  # Reference point, not a peer: minimal C epoll echo (reference/c-epoll-echo.c).
  [c-epoll-echo]="$BENCH_DIR/reference/c-epoll-echo"
  [eddy-tcp-echo]="$NIO_BIN/eddy-tcp-echo"
)
DEFAULT_SERVERS="eddy-tcp-echo nio-echo-handler nio-echo-async"

BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}

build_servers() {
  timeout "$BUILD_TIMEOUT" swift build -c release --package-path "$BENCH_DIR" >&2 || return 1
  gcc -O2 -Wall -Wextra -o "$BENCH_DIR/reference/c-epoll-echo" "$BENCH_DIR/reference/c-epoll-echo.c" -lpthread || return 1
}

build_loadgen() {
  gcc -O2 -Wall -Wextra -o "$BENCH_DIR/loadgen/tcp-echo-load" "$BENCH_DIR/loadgen/tcp-echo-load.c" -lpthread
}

# resolve_server NAME | NAME=PATH  -> sets SNAME and SCMD; returns 1 if unknown
resolve_server() {
  local entry=$1
  if [[ $entry == *=* ]]; then
    SNAME=${entry%%=*}
    SCMD=${entry#*=}
  elif [[ -n ${SERVER_CMD[$entry]+x} ]]; then
    SNAME=$entry
    SCMD=${SERVER_CMD[$entry]}
  else
    echo "unknown server '$entry' (known: ${!SERVER_CMD[*]}; or pass NAME=/path/to/binary)" >&2
    return 1
  fi
}

STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-30}   # seconds to wait for LISTENING
STOP_TIMEOUT=${STOP_TIMEOUT:-10}         # seconds to wait after SIGTERM
SERVER_PID=""
log_srv() { printf '[servers] %s\n' "$*" >&2; }

# start_server NAME CMD LOGPREFIX [WRAPPER] -> sets SERVER_PID, SERVER_PORT.
# Runs `[WRAPPER] CMD --port 0 $SERVER_ARGS` in the background (WRAPPER is
# e.g. "valgrind --tool=memcheck ..."; valgrind runs the server in the same
# process, so SERVER_PID is the server's PID either way) and waits up to
# STARTUP_TIMEOUT seconds for its `LISTENING <port>` line.
start_server() {
  local name=$1 cmd=$2 prefix=$3 wrapper=${4:-} port="" deadline
  # shellcheck disable=SC2086  # WRAPPER, CMD and SERVER_ARGS are word-split on purpose
  $wrapper $cmd --port 0 ${SERVER_ARGS:-} >"$prefix.stdout" 2>"$prefix.stderr" &
  SERVER_PID=$!
  deadline=$((SECONDS + STARTUP_TIMEOUT))
  while [[ -z $port ]]; do
    port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$prefix.stdout" | head -n1)
    [[ -n $port ]] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log_srv "server $name exited before printing LISTENING; stderr:"; sed 's/^/    /' "$prefix.stderr" >&2
      SERVER_PID=""; return 1
    fi
    if ((SECONDS >= deadline)); then
      log_srv "server $name did not print LISTENING within ${STARTUP_TIMEOUT}s; stopping it"
      stop_server "$name" || true
      return 1
    fi
    sleep 0.05
  done
  SERVER_PORT=$port
}

# stop_server NAME -> sends SIGTERM to SERVER_PID only, waits up to
# STOP_TIMEOUT seconds (SIGKILL after that) and returns the server's exit status (or 124 if it had to be SIGKILLed)
stop_server() {
  local name=$1 pid=$SERVER_PID rc=0 i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    log_srv "server $name (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    SERVER_PID=""
    return 124
  fi
  wait "$pid" || rc=$?
  SERVER_PID=""
  return $rc
}


# cleanup_server: for `trap cleanup_server EXIT` — stops the server this
# script started, if it is still running. Nothing else is ever killed.
cleanup_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log_srv "cleanup: stopping server pid $SERVER_PID"
    stop_server cleanup || true
  fi
}
