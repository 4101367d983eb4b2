// `hanlin bench serve` against `hanlin serve` on the demo model: short runs on both endpoints
// write results with vLLM's keys, and bad input (an unreachable server, a malformed dataset,
// bad flags) ends with a clear message and a non-zero exit, a partial result still saved.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { binary, demoModel, startServer, stopServer } from "./server_process.mjs";

let server;
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "hanlin-bench-"));

before(async () => { server = await startServer(); });

after(async () => {
  const { code } = await stopServer(server);
  assert.equal(code, 0, "serve exits 0 on SIGTERM");
  fs.rmSync(workDir, { recursive: true, force: true });
});

// Runs `hanlin bench serve ARGS`; resolves with {code, stdout, stderr}.
function benchServe(args) {
  return new Promise((resolve) => {
    const child = spawn(binary, ["bench", "serve", "--no-progress", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => { stdout += chunk; });
    child.stderr.on("data", (chunk) => { stderr += chunk; });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

// A loopback port nothing listens on.
async function closedPort() {
  const listener = net.createServer();
  await new Promise((resolve) => listener.listen(0, "127.0.0.1", resolve));
  const { port } = listener.address();
  await new Promise((resolve) => listener.close(resolve));
  return port;
}

const summaryKeys = ["date", "backend", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
  "max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
  "request_throughput", "request_goodput", "output_throughput", "total_token_throughput", "input_lens",
  "output_lens", "ttfts", "itls", "errors"];
const metricKeys = ["ttft", "tpot", "itl", "e2el"].flatMap((name) =>
  ["mean", "median", "std", "p90", "p99"].map((stat) => `${stat}_${name}_ms`));

function readResult(file) {
  const result = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const key of [...summaryKeys, ...metricKeys]) assert.ok(key in result, `result has ${key}`);
  return result;
}

describe("bench serve runs", () => {
  it("random 32→8 on /v1/completions: every request completes with exact lengths", async () => {
    const file = path.join(workDir, "random.json");
    const run = await benchServe(["--base-url", server.baseUrl + "/v1", "--model", "demo", "--num-prompts", "8",
      "--random-input-len", "32", "--random-output-len", "8", "--ignore-eos", "--max-concurrency", "4",
      "--save-result", file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Serving Benchmark Result/);
    assert.match(run.stdout, /Successful requests:\s+8\n/);
    const result = readResult(file);
    assert.equal(result.completed, 8);
    assert.equal(result.failed, 0);
    assert.equal(result.num_prompts, 8);
    assert.equal(result.backend, "openai");
    assert.equal(result.request_rate, "inf");
    assert.equal(result.max_concurrency, 4);
    assert.deepEqual(result.input_lens, Array(8).fill(32));   // token ids: exact, as the server counted them
    assert.deepEqual(result.output_lens, Array(8).fill(8));   // --ignore-eos: max_tokens each time
    assert.equal(result.total_output_tokens, 64);
    assert.ok(result.max_concurrent_requests >= 1 && result.max_concurrent_requests <= 4);
    assert.ok(result.mean_ttft_ms > 0 && result.mean_e2el_ms >= result.mean_ttft_ms);
    assert.ok(result.itls.every((gaps) => gaps.length === 7), "one gap between each of 8 streamed tokens");
    assert.deepEqual(result.errors, Array(8).fill(""));
    assert.equal(result.request_goodput, null);
  });

  it("the enterprise set on /v1/chat/completions, tools included, with a rate and goodput", async () => {
    const file = path.join(workDir, "enterprise.json");
    const run = await benchServe(["--base-url", server.baseUrl, "--endpoint", "/v1/chat/completions",
      "--model", "demo", "--dataset-name", "enterprise", "--num-prompts", "6", "--tokenizer", demoModel,
      "--request-rate", "50", "--seed", "3", "--goodput", "e2el:600000", "--save-result", file]);
    assert.equal(run.code, 0, run.stderr);
    const result = readResult(file);
    assert.equal(result.completed, 6);
    assert.equal(result.backend, "openai-chat");
    assert.equal(result.request_rate, 50);
    assert.equal(result.tokenizer_id, demoModel);
    assert.ok(result.input_lens.every((length) => length > 20), "prompt tokens as the server's usage counted them");
    assert.ok(result.request_goodput > 0);
  });
});

describe("bench serve bad input", () => {
  it("an unreachable server: a clear error, a non-zero exit, a partial result saved", async () => {
    const port = await closedPort();
    const file = path.join(workDir, "unreachable.json");
    const run = await benchServe(["--base-url", `http://127.0.0.1:${port}`, "--model", "demo", "--num-prompts", "5",
      "--save-result", file]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, new RegExp(`cannot reach the server at http://127\\.0\\.0\\.1:${port}`));
    assert.match(run.stderr, /Connection refused/);
    const result = readResult(file);
    assert.equal(result.completed, 0);
    assert.equal(result.failed, 5);
    assert.ok(result.errors.every((error) => error.length > 0));
  });

  it("a malformed dataset file names the file and the problem", async () => {
    const file = path.join(workDir, "bad.json");
    fs.writeFileSync(file, '[{"conversations": [{"from": "human", "value": "hi"}');
    const run = await benchServe(["--base-url", server.baseUrl, "--model", "demo", "--dataset-name", "sharegpt",
      "--dataset-path", file, "--sharegpt-output-len", "4"]);
    assert.equal(run.code, 3);
    assert.match(run.stderr, new RegExp(`${file.replace(/[.\\/]/g, "\\$&")}: not valid JSON`));
  });

  it("a missing dataset file and bad flag values", async () => {
    const missing = await benchServe(["--model", "demo", "--dataset-name", "sharegpt", "--dataset-path",
      path.join(workDir, "none.json"), "--sharegpt-output-len", "4"]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /cannot read/);
    for (const [flags, says] of [[["--request-rate", "-2"], /--request-rate/], [["--random-range-ratio", "1"], /range-ratio/],
      [["--goodput", "ttft"], /--goodput/], [["--endpoint", "/v1/embeddings"], /--endpoint/]]) {
      const run = await benchServe(["--model", "demo", ...flags]);
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, says);
    }
  });
});
