#!/usr/bin/env bash
# Configures and builds hanlin. usage: scripts/build.sh [release|asan|fuzz]
# release → build/, asan → build-asan/ (ASan + UBSan unit tests), fuzz → build-fuzz/ (clang, libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-release}"
jobs="$(nproc)"
case "$flavour" in
  release)
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j "$jobs" ;;
  asan)
    # -O1 -g1: half the compile time of -O2 -g, and reports still carry file and line.
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHANLIN_SANITIZE=ON \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DHANLIN_CUDA=OFF -DHANLIN_BENCH=OFF >/dev/null
    cmake --build build-asan -j "$jobs" ;;
  fuzz)
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DHANLIN_FUZZ=ON -DHANLIN_CUDA=OFF -DHANLIN_BENCH=OFF -DHANLIN_TESTS=ON >/dev/null
    cmake --build build-fuzz -j "$jobs" --target $(cd tests/fuzz && ls *_fuzz.cpp | sed 's/\.cpp$//') ;;
  *) echo "usage: scripts/build.sh [release|asan|fuzz]" >&2; exit 2 ;;
esac
