#!/usr/bin/env bash
# Autobahn|Testsuite against Eddy, both ways, every case (1-13, compression included):
#   server: `wstest -m fuzzingclient` against `eddy echo` (limits raised for the suite);
#   client: `wstest -m fuzzingserver` driving eddy-autobahn-client (Eddy's WebSocket.connect).
# Fails unless every case is OK or INFORMATIONAL. Needs CPython 2.7 (autobahntestsuite
# predates Python 3): $PYTHON27, or pyenv's 2.7.x; the suite is installed from PyPI into
# .autobahn/lib with the pins in autobahn-requirements.txt. Reports go to .autobahn/reports.
# Usage: Tests/Conformance/autobahn.sh [server|client|both] (default both). Binaries from
# $EDDY_BIN_DIR (default: the release build folder; `make conformance` builds them).
# $AUTOBAHN_CASES: a JSON list of case patterns (default ["*"], every case), for a quick look.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODE=${1:-both}
CASES=${AUTOBAHN_CASES:-'["*"]'}
WORK=$ROOT/.autobahn
BIN=${EDDY_BIN_DIR:-$ROOT/.build/release}
REQUIREMENTS=$ROOT/Tests/Conformance/autobahn-requirements.txt

find_python27() {
  if [ -n "${PYTHON27:-}" ]; then echo "$PYTHON27"; return; fi
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "$root"/versions/2.7*/bin/python "$(command -v python2.7 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
}
PY27=$(find_python27)
if [ -z "$PY27" ]; then
  echo "conformance: CPython 2.7 not found (install it with pyenv: pyenv install 2.7.18, or set PYTHON27)" >&2
  exit 1
fi

# The suite, installed once per set of pins.
STAMP=$WORK/lib/.installed-$(sha256sum "$REQUIREMENTS" | cut -c1-16)
if [ ! -f "$STAMP" ]; then
  rm -rf "$WORK/lib"
  mkdir -p "$WORK/lib"
  "$PY27" -m pip install --disable-pip-version-check --no-warn-script-location -q --target "$WORK/lib" -r "$REQUIREMENTS" 2>&1 \
    | grep -v DEPRECATION || true
  touch "$STAMP"
fi
wstest() {
  # --target does not process .pth files (zope's namespace package needs its own): addsitedir does.
  # exec: the caller's PID is then the suite's, so stopping it stops the suite.
  exec "$PY27" -c "import site, sys; site.addsitedir(sys.argv.pop(1)); sys.argv[0] = 'wstest'; from autobahntestsuite.wstest import run; run()" \
    "$WORK/lib" "$@"
}
for binary in eddy eddy-autobahn-client; do
  [ -x "$BIN/$binary" ] || { echo "conformance: $BIN/$binary missing (swift build --product $binary)" >&2; exit 1; }
done

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_server() {
  rm -rf "$WORK/reports/server"
  mkdir -p "$WORK/reports/server"
  "$BIN/eddy" echo --port 0 --loops 1 --max-message-size 67108864 --max-fragments 1000000 > "$WORK/reports/server/eddy.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local port=""
  for _ in $(seq 1 100); do
    port=$(awk '/^LISTENING/{print $2; exit}' "$WORK/reports/server/eddy.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "conformance: eddy echo did not start" >&2; cat "$WORK/reports/server/eddy.log" >&2; exit 1; }
  cat > "$WORK/reports/server.json" <<JSON
{"outdir": "$WORK/reports/server", "servers": [{"agent": "eddy", "url": "ws://127.0.0.1:$port"}],
 "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
  echo "conformance: server cases against eddy echo on port $port"
  timeout 3600 bash -c "$(declare -f wstest); PY27='$PY27' WORK='$WORK' wstest -m fuzzingclient -s '$WORK/reports/server.json'" \
    > "$WORK/reports/server/wstest.log" 2>&1
  kill "$pid" 2>/dev/null || true
}

run_client() {
  rm -rf "$WORK/reports/client"
  mkdir -p "$WORK/reports/client"
  local port
  port=$(free_port)
  cat > "$WORK/reports/client.json" <<JSON
{"url": "ws://127.0.0.1:$port", "outdir": "$WORK/reports/client", "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
  (cd "$WORK/reports" && exec bash -c "$(declare -f wstest); PY27='$PY27' WORK='$WORK' wstest -m fuzzingserver -s '$WORK/reports/client.json'") \
    > "$WORK/reports/client/wstest.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null && break
    sleep 0.2
  done
  echo "conformance: client cases from the fuzzing server on port $port"
  timeout 3600 "$BIN/eddy-autobahn-client" "ws://127.0.0.1:$port" eddy > "$WORK/reports/client/eddy-client.log" 2>&1
  kill "$pid" 2>/dev/null || true
}

case "$MODE" in
  server) run_server; set -- server "$WORK/reports/server" ;;
  client) run_client; set -- client "$WORK/reports/client" ;;
  both) run_server; run_client; set -- server "$WORK/reports/server" client "$WORK/reports/client" ;;
  *) echo "usage: $0 [server|client|both]" >&2; exit 2 ;;
esac
python3 "$ROOT/Tests/Conformance/summarize.py" "$@" | tee "$WORK/summary.md"
