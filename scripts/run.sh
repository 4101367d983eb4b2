#!/usr/bin/env bash
# hanlin's main job for now: installs, builds, and generates from the bundled test model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec build/src/hanlin generate --model tests/fixtures/models/qwen3-gqa-untied \
  --prompt-ids 1,2,3,4,5 --max-tokens 16 --temperature 0 --json
