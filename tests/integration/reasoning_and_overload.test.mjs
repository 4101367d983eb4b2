// Reasoning end to end, and the bounded queue. A QwQ-style template opens the think block in
// the prompt, so (the demo model never closing it) everything generated is reasoning: it must
// arrive as reasoning_content, whole and streamed alike, and be counted as reasoning tokens.
// Then a server with room for one running and one waiting request answers the rest with 429.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

import { startServer, stopServer } from "./server_process.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const qwqTemplate = path.join(here, "..", "fixtures", "templates", "Qwen-QwQ-32B.jinja");

describe("reasoning", () => {
  let server, client;
  before(async () => {
    server = await startServer(["--chat-template", qwqTemplate]);
    client = new OpenAI({ baseURL: server.baseUrl + "/v1", apiKey: "unused", maxRetries: 0 });
  });
  after(async () => { assert.equal((await stopServer(server)).code, 0); });

  it("text inside the think block is reasoning_content, whole and streamed", async () => {
    const request = { model: "demo", messages: [{ role: "user", content: "1+1=?" }], max_tokens: 12, seed: 5, temperature: 0.7 };
    const whole = await client.chat.completions.create(request);
    const message = whole.choices[0].message;
    assert.ok(message.reasoning_content.length > 0);
    assert.equal(message.content, "");
    assert.equal(whole.usage.completion_tokens_details.reasoning_tokens, whole.usage.completion_tokens);
    const chunks = [];
    for await (const chunk of await client.chat.completions.create({ ...request, stream: true })) chunks.push(chunk);
    const streamed = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.reasoning_content ?? "")).join("");
    assert.equal(streamed, message.reasoning_content);
    assert.equal(chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? "")).join(""), "");
  });

  it("with thinking off nothing is reasoning", async () => {
    const off = await client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }], max_tokens: 6,
                                                        chat_template_kwargs: { enable_thinking: false } });
    assert.equal(off.choices[0].message.reasoning_content, undefined);
    assert.equal(off.usage.completion_tokens_details.reasoning_tokens, 0);
  });
});

describe("a full queue", () => {
  it("answers 429 beyond the waiting limit and serves the rest", async () => {
    const server = await startServer(["--max-num-seqs", "1", "--max-waiting-requests", "1"]);
    try {
      const body = JSON.stringify({ model: "demo", prompt: "count", max_tokens: 300, ignore_eos: true });
      const responses = await Promise.all(Array.from({ length: 8 }, () =>
        fetch(server.baseUrl + "/v1/completions", { method: "POST", body, headers: { "Content-Type": "application/json" } })));
      const statuses = responses.map((r) => r.status);
      assert.ok(statuses.includes(429), statuses.join(","));
      assert.ok(statuses.includes(200), statuses.join(","));
      const refused = await responses[statuses.indexOf(429)].json();
      assert.match(refused.error.message, /overloaded/);
      assert.equal(refused.error.code, 429);
    } finally {
      assert.equal((await stopServer(server)).code, 0);
    }
  });
});
