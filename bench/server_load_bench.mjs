// Load on `hanlin serve`: N concurrent streaming chat completions held open and completed, and
// the latency HTTP adds to a one-token completion (client-side p50/p99 against the server's own
// e2e time from /metrics). Starts the server itself unless --base-url is given.
//
// usage: node bench/server_load_bench.mjs [--binary build/src/hanlin] [--model third_party/demo-model]
//          [--base-url http://127.0.0.1:8000] [--connections 1000] [--max-tokens 16] [--latency-requests 200]
import { spawn } from "node:child_process";

function option(name, fallback) {
  const index = process.argv.indexOf("--" + name);
  return index > 0 ? process.argv[index + 1] : fallback;
}

const connections = Number(option("connections", 1000));
const maxTokens = Number(option("max-tokens", 16));
const latencyRequests = Number(option("latency-requests", 200));

async function startServer() {
  const child = spawn(option("binary", "build/src/hanlin"),
                      ["serve", "--model", option("model", "third_party/demo-model"), "--served-model-name", "demo",
                       "--port", "0", "--max-waiting-requests", String(connections + 16)],
                      { stdio: ["ignore", "pipe", "inherit"] });
  const baseUrl = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/on (http:\/\/[\d.]+:\d+)/);
      if (match) resolve(match[1]);
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}`)));
  });
  return { child, baseUrl };
}

async function streamOne(baseUrl, index) {
  const response = await fetch(baseUrl + "/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: `question ${index}` }], max_tokens: maxTokens,
                           ignore_eos: true, stream: true }),
  });
  if (response.status !== 200) return { ok: false, status: response.status };
  const text = await response.text();
  return { ok: text.trimEnd().endsWith("data: [DONE]"), events: (text.match(/^data: /gm) || []).length };
}

function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]; }

async function histogramMean(baseUrl, name) {
  const text = await (await fetch(baseUrl + "/metrics")).text();
  const value = (suffix) => Number((text.match(new RegExp(`^${name}_${suffix}\\{[^}]*\\} (\\S+)$`, "m")) || [])[1]);
  return { sum: value("sum"), count: value("count") };
}

async function main() {
  const external = option("base-url", null);
  const server = external ? { baseUrl: external } : await startServer();
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: connections }, (_, i) => streamOne(server.baseUrl, i)));
  const seconds = (performance.now() - start) / 1000;
  const failed = results.filter((r) => !r.ok);
  console.log(`| concurrent streams | completed | failed | wall time | events |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| ${connections} | ${connections - failed.length} | ${failed.length} | ${seconds.toFixed(2)} s | ` +
              `${results.reduce((n, r) => n + (r.events || 0), 0)} |`);

  const before = await histogramMean(server.baseUrl, "vllm:e2e_request_latency_seconds");
  const latencies = [];
  for (let i = 0; i < latencyRequests; ++i) {
    const t0 = performance.now();
    const response = await fetch(server.baseUrl + "/v1/completions", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "demo", prompt: "Hello", max_tokens: 1 }) });
    await response.json();
    latencies.push(performance.now() - t0);
  }
  const after = await histogramMean(server.baseUrl, "vllm:e2e_request_latency_seconds");
  latencies.sort((a, b) => a - b);
  const serverMs = ((after.sum - before.sum) / (after.count - before.count)) * 1000;
  console.log(`\n| one-token completions | client p50 | client p99 | server e2e mean (handler to last token) | added by HTTP, p50 |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| ${latencyRequests} | ${percentile(latencies, 0.5).toFixed(2)} ms | ${percentile(latencies, 0.99).toFixed(2)} ms | ` +
              `${serverMs.toFixed(2)} ms | ${(percentile(latencies, 0.5) - serverMs).toFixed(2)} ms |`);
  if (!external) {
    server.child.kill("SIGTERM");
    await new Promise((resolve) => server.child.on("exit", resolve));
  }
  if (failed.length) process.exitCode = 1;
}

main().catch((error) => { console.error(error); process.exit(1); });
