# shellcheck shell=bash
# Shared helpers for the benchmark scripts: start a server that prints
# "LISTENING <port>", stop it by its own PID only.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/Benchmarks
EDDY=${EDDY:-$ROOT/.build/release/eddy}
export NODE_PATH=/usr/share/nodejs

# Where the server and the load client run: SERVER_CPUS and CLIENT_CPUS are `taskset -c`
# lists ("0", "2-3"); unset or empty, the scheduler places them. On a machine whose cores the
# client shares with the server, the figures depend on where the scheduler puts three busy
# threads on two cores as much as on the server; separate CPUs take that out. Each command
# is exec'd by taskset, so its PID is the one started.
SERVER_PIN=(); [ -z "${SERVER_CPUS:-}" ] || SERVER_PIN=(taskset -c "$SERVER_CPUS")
CLIENT_PIN=(); [ -z "${CLIENT_CPUS:-}" ] || CLIENT_PIN=(taskset -c "$CLIENT_CPUS")

# start_server LOGFILE CMD... -> sets SERVER_PID and SERVER_PORT (waits up to 30 s); on
# SERVER_CPUS when set
start_server() {
  local log=$1; shift
  # Emptied here, not only by the child's redirection: the loop below may otherwise read a
  # previous server's LISTENING line before the child has truncated the file.
  : > "$log"
  "${SERVER_PIN[@]}" "$@" > "$log" 2>&1 &
  SERVER_PID=$!
  SERVER_PORT=""
  for _ in $(seq 1 300); do
    SERVER_PORT=$(awk '/^LISTENING/{print $2; exit}' "$log" 2>/dev/null)
    [ -n "$SERVER_PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start: $*" >&2
  cat "$log" >&2
  return 1
}

# stop_server: SIGTERM our server, wait up to 10 s, then SIGKILL it.
stop_server() {
  [ -n "${SERVER_PID:-}" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# field NAME LINE -> value of NAME=... in a RESULT line
field() { tr ' ' '\n' <<< "$2" | awk -F= -v k="$1" '$1==k {print $2}'; }
