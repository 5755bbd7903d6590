#!/usr/bin/env bash
# `make asan` / `make tsan`: builds the tests with a sanitizer into a scratch path of its own,
# runs them, and fails when a sanitizer reported anything (or a test failed). Reports from
# every process, the test runner and each `eddy`/example child it starts, are written to
# .build-<mode>/sanitizer-reports/ (log_path), since the tests discard most children's stderr.
#
#   asan  AddressSanitizer + LeakSanitizer over all Swift code, and UndefinedBehaviorSanitizer
#         over the C targets (swiftc has no -sanitize=undefined on Linux); the whole suite.
#   tsan  ThreadSanitizer, with `Mutex` as a pthread mutex (-DEDDY_TSAN, see
#         Sources/EddyShared/Mutex.swift); the loop, TCP, TLS, HTTP, WebSocket, rooms and DAG
#         stream suites (TSAN_FILTER to change).
# Extra arguments go to `swift test` (e.g. --filter EddyNetTests).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: Tests/Sanitizers/run.sh asan|tsan [swift test arguments]}
shift
scratch=.build-$mode
reports=$PWD/$scratch/sanitizer-reports
supp=$PWD/Tests/Sanitizers
# Swift's crash backtracer reads memory the sanitizers then report as wild accesses.
export SWIFT_BACKTRACE=enable=no

case $mode in
asan)
  swift build --build-tests --scratch-path "$scratch" --sanitize address \
    -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined
  rm -rf "$reports" && mkdir -p "$reports"
  export ASAN_OPTIONS="log_path=$reports/report:detect_leaks=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="log_path=$reports/report:print_stacktrace=1"
  filter=()
  ;;
tsan)
  swift build --build-tests --scratch-path "$scratch" --sanitize thread -Xswiftc -DEDDY_TSAN
  rm -rf "$reports" && mkdir -p "$reports"
  export TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:suppressions=$supp/tsan.supp:second_deadlock_stack=1"
  filter=(--filter "${TSAN_FILTER:-EddyLoopTests|EddyNetTests|EddyTLSTests|EddyHTTPTests|EddyWebSocketTests|EddyRoomsTests|EddyDAGStreamTests}")
  ;;
*) echo "unknown mode $mode (asan or tsan)" >&2; exit 2 ;;
esac

sanitizer=$([ "$mode" = asan ] && echo address || echo thread)
status=0
if ! swift test --skip-build --scratch-path "$scratch" --sanitize "$sanitizer" "${filter[@]}" "$@" 2>&1 \
  | tee "$scratch/sanitizer-test.log"; then
  status=1
fi

count=$(find "$reports" -type f | wc -l)
if [ "$count" -gt 0 ]; then
  echo "== $count sanitizer report file(s) in $reports:"
  for f in "$reports"/*; do echo "--- $f"; head -60 "$f"; done
  status=1
else
  echo "== no sanitizer reports"
fi
grep -E "^. Test run with" "$scratch/sanitizer-test.log" | tail -2 || true
exit $status
