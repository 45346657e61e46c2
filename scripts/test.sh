#!/usr/bin/env bash
# Builds azhub and runs every test: once in the release build (-Wall -Wextra -Werror), once under
# AddressSanitizer + UndefinedBehaviorSanitizer. Prints the time each phase took.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { printf '\n==== %s\n' "$*"; }
timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  printf 'time: %s took %ds\n' "$label" $((SECONDS - start)) >&2
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

for preset in ${AZHUB_TEST_PRESETS:-release dev}; do
  phase "build ($preset)"
  timed "build ($preset)" scripts/build.sh "$preset" >/dev/null
  phase "test ($preset)"
  timed "test ($preset)" ctest --preset "$preset" -j"$(nproc)" --timeout 600
done
