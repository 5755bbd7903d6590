#!/usr/bin/env bash
# `make bench`: every benchmark, peers side by side in one run. Results go to
# Benchmarks/results/ (git-ignored); BENCHMARKS.md records the figures and commands.
# Not part of `make test` or CI. Needs: nodejs + node-ws, gcc, valgrind (Debian), and a
# release build of Eddy and of this package (SwiftNIO takes minutes to build).
set -euo pipefail
cd "$(dirname "$0")"
echo "== building (release)"
swift build -c release --package-path .. --product eddy
swift build -c release
echo "== TCP echo: Eddy vs SwiftNIO (ChannelHandler, NIOAsyncChannel)"
DURATION=${DURATION:-5} scripts/run-tcp-echo.sh
echo "== allocations per echoed message (valgrind)"
scripts/alloc-per-message.sh eddy-tcp-echo nio-echo-handler nio-echo-async || echo "(allocation count failed; see above)"
echo "== WebSocket echo: Eddy vs NIOWebSocket vs Node ws"
scripts/run-ws-echo.sh
echo "== per core: server CPU per echoed message and per broadcast delivery, user and system split"
scripts/per-core.sh
echo "== one loop against two at the same offered load (server CPU per echoed message)"
scripts/loops-at-rate.sh
echo "== WebSocket echo again, driven by eddy bench (the Swift generator)"
LOADGEN=eddy-bench scripts/run-ws-echo.sh
echo "== wss:// against ws:// (eddy echo, eddy bench) and full TLS handshakes per second"
scripts/run-wss-echo.sh
echo "== RSS per idle WebSocket connection (10,000 connections)"
for offer in plain deflate; do
  scripts/rss-idle.sh -n 10000 --offer "$offer" -- ../.build/release/eddy echo --port 0
  scripts/rss-idle.sh -n 10000 --offer "$offer" --label eddy-task -- ../.build/release/eddy echo --port 0 --task-per-connection
  scripts/rss-idle.sh -n 10000 --offer "$offer" -- .build/release/nio-ws-echo --port 0
  NODE_PATH=/usr/share/nodejs scripts/rss-idle.sh -n 10000 --offer "$offer" -- node node/ws-echo-server.js --port 0 --deflate
done
scripts/rss-idle.sh -n 10000 --offer deflate --active -- ../.build/release/eddy echo --port 0
scripts/rss-idle.sh -n 10000 --offer deflate --active --label eddy-task -- ../.build/release/eddy echo --port 0 --task-per-connection
NODE_PATH=/usr/share/nodejs scripts/rss-idle.sh -n 10000 --offer deflate --active -- node node/ws-echo-server.js --port 0 --deflate
echo "== opening, closing and draining many connections (cost per connection as the count grows)"
for mode in "" --drain; do
  scripts/open-close.sh $mode -n "4000 8000 16000" -- ../.build/release/eddy echo --port 0 --loops 1 --task-per-connection
  scripts/open-close.sh $mode -n "4000 8000 16000" -- ../.build/release/eddy echo --port 0 --loops 1
done
echo "== fan-out: Eddy rooms vs Node ws broadcast"
scripts/run-fanout.sh
echo "== DAG stream end to end: 1,000 and 10,000 dashboards"
scripts/run-dag-stream.sh
echo "== DAG stream: one node against three sharing a redis-server"
scripts/run-dag-stream-nodes.sh
echo "== DAG engine + SQLite event log"
for shape in layered fanout chain; do .build/release/dag-benchmark --nodes 10000 --shape "$shape" --sync normal --runs 3; done
