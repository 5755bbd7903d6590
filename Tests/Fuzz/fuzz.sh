#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer driver (release, with AddressSanitizer) and runs each
# target for FUZZ_SECONDS (default 60), starting from its committed seed corpus and what
# earlier runs found (Tests/Fuzz/.work/<target>, git-ignored). A crash or a broken
# invariant stops that target; the input is saved as Tests/Fuzz/.work/<target>-crash-*:
# reproduce it with `swift run eddy-fuzz TARGET FILE`, fix it, and commit the input under
# Tests/Fuzz/Regressions/<target>/ so the normal suite replays it.
#   FUZZ_SECONDS (default 60)  FUZZ_TARGETS (default: all)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-http-request http-response-head websocket extension-header json command dag-definition}
# SwiftPM's --sanitize makes it link libFuzzer's main (not the driver's); the same two
# again as one swiftc flag, last on the command line, because swiftc keeps only the last of
# several -sanitize flags (SwiftPM passes them separately: without this, no coverage).
swift build -c release --scratch-path .build-fuzz --product eddy-fuzz --sanitize fuzzer --sanitize address \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DEDDY_LIBFUZZER
DRIVER=.build-fuzz/release/eddy-fuzz
WORK=Tests/Fuzz/.work
status=0
for target in $TARGETS; do
  mkdir -p "$WORK/$target"
  seeds=("Tests/Fuzz/Corpus/$target")
  [ -d "Tests/Fuzz/Regressions/$target" ] && seeds+=("Tests/Fuzz/Regressions/$target")
  log="$WORK/$target.log"
  # -timeout: one input taking over 10 s is reported as a hang; -rss_limit_mb: memory.
  # Swift's own crash backtracer is off: it reads memory ASan then reports as a wild access.
  if SWIFT_BACKTRACE=enable=no EDDY_FUZZ_TARGET=$target "$DRIVER" "$WORK/$target" "${seeds[@]}" -max_total_time="$SECONDS_PER_TARGET" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$WORK/$target-" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log)"
    status=1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  coverage=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 || true)
  printf '%-20s %12s executions  %-10s %s\n' "$target" "${runs:-?}" "${coverage:-}" "$result"
done
exit $status
