#!/usr/bin/env bash
# Every test: the unit tests (release build), the same under ASan + UBSan, and a short run of
# each fuzz target. FUZZ_SECONDS (default 30: the whole script must stay well under 40 minutes on
# two cores) sets how long each fuzz target runs; scripts/fuzz.sh runs them longer on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs="$(nproc)"

echo "== release build and unit tests"
scripts/build.sh release
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== ASan + UBSan build and unit tests"
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== fuzz targets"
scripts/build.sh fuzz
scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
echo "== all tests passed"
