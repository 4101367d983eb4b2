#!/usr/bin/env bash
# Runs each libFuzzer target in build-fuzz/ for SECONDS (default 60), seeded from
# tests/fuzz/corpus/<target>/. A crash fails the script and leaves the input in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
for source in tests/fuzz/*_fuzz.cpp; do
  target="$(basename "$source" .cpp)"
  corpus="build-fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "tests/fuzz/corpus/$target" ] && seeds=("tests/fuzz/corpus/$target")
  echo "fuzz: $target for ${seconds}s"
  (cd build-fuzz && "tests/$target" -max_total_time="$seconds" -print_final_stats=1 \
     -artifact_prefix="./$target-" "corpus/$target" "${seeds[@]/#/../}" 2>&1 | tail -n 4)
done
