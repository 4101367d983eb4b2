#!/usr/bin/env bash
# hanlin's main job: installs, builds, and serves the demo model (a tiny Qwen3 with random
# weights and the real Qwen3 tokenizer: its answers are gibberish, the API around them is real)
# on http://127.0.0.1:8000 with the OpenAI API. PORT=... picks another port. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
port="${PORT:-8000}"
cat <<TXT

hanlin serves the demo model as "qwen3-demo" on http://127.0.0.1:${port}/v1. Its weights are
random, so its text is random too; point --model at a real Qwen checkpoint for real answers.

  curl http://127.0.0.1:${port}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model": "qwen3-demo", "messages": [{"role": "user", "content": "你好"}], "max_tokens": 32}'

  # Node.js, the official client (npm install openai):
  import OpenAI from "openai";
  const client = new OpenAI({ baseURL: "http://127.0.0.1:${port}/v1", apiKey: "unused" });
  const answer = await client.chat.completions.create({ model: "qwen3-demo", messages: [{ role: "user", content: "你好" }] });

TXT
exec build/src/hanlin serve --model third_party/demo-model --served-model-name qwen3-demo --port "$port"
