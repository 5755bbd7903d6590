#!/usr/bin/env bash
# Two builds of `eddy` side by side in one run, on the DAG stream: for each round, A then B
# run `run-dag-stream.sh` at one size and rate (defaults: 1,000 dashboards, 1,000 events/s,
# 5 s), and the server's CPU per delivery is printed with the side's label.
# Usage: ROUNDS=3 DASHBOARDS=1000 RATE=1000 Benchmarks/scripts/ab-dag-stream.sh OLD_EDDY NEW_EDDY
set -euo pipefail
HERE=$(dirname "$0")
A=$1; B=$2; ROUNDS=${ROUNDS:-3}; N=${DASHBOARDS:-1000}; RATE=${RATE:-1000}
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ "$side" = B ] && bin=$B
    out=$(mktemp -d)
    row=$(env EDDY="$bin" DASHBOARDS="$N" "RATES_$N=$RATE" OUT="$out" bash "$HERE/run-dag-stream.sh" | tail -1)
    echo "round $round $side $row"
    # The load generator's own line: which condition failed when a row says "no".
    echo "  $(tail -1 "$out/results.txt" 2>/dev/null | cut -d' ' -f3-14)"
    rm -rf "$out"
  done
done
