// `hanlin serve` driven by the official `openai` client: chat and text completions, whole and
// streamed, usage, logprobs, n, tools, and the errors clients see. The demo model's weights are
// random, so the tests check the API's shape and consistency, not the words.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

import { metric, startServer, stopServer } from "./server_process.mjs";

let server;
let client;

before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: server.baseUrl + "/v1", apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  const { code } = await stopServer(server);
  assert.equal(code, 0, "serve exits 0 on SIGTERM");
});

const hello = [{ role: "user", content: "你好，请介绍一下你自己。" }];

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe("models", () => {
  it("lists the served model", async () => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ["demo"]);
  });
});

describe("chat completions", () => {
  it("answers with content, usage and a finish reason", async () => {
    const completion = await client.chat.completions.create({ model: "demo", messages: hello, max_tokens: 12, seed: 1 });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.choices.length, 1);
    const choice = completion.choices[0];
    assert.equal(choice.message.role, "assistant");
    assert.equal(typeof choice.message.content, "string");
    assert.ok(choice.finish_reason === "length" || choice.finish_reason === "stop");
    assert.ok(completion.usage.prompt_tokens > 5);
    assert.ok(completion.usage.completion_tokens >= 1 && completion.usage.completion_tokens <= 12);
    assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
  });

  it("streams the same text a seeded request gets whole, then usage", async () => {
    const request = { model: "demo", messages: hello, max_tokens: 16, seed: 42, temperature: 0.8 };
    const whole = await client.chat.completions.create(request);
    const chunks = await collect(await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }));
    const text = chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? "")).join("");
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    const finishes = chunks.flatMap((c) => c.choices.filter((choice) => choice.finish_reason).map((choice) => choice.finish_reason));
    assert.deepEqual(finishes, [whole.choices[0].finish_reason]);
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, whole.usage);
  });

  it("without include_usage a stream carries no usage chunk", async () => {
    const chunks = await collect(await client.chat.completions.create({ model: "demo", messages: hello, max_tokens: 4, stream: true }));
    assert.ok(chunks.every((c) => !c.usage));
    assert.ok(chunks.every((c) => c.choices.length === 1));
  });

  it("returns n choices, each with its own index", async () => {
    const completion = await client.chat.completions.create({ model: "demo", messages: hello, max_tokens: 8, n: 3, seed: 7, temperature: 1.0 });
    assert.deepEqual(completion.choices.map((c) => c.index), [0, 1, 2]);
    const texts = new Set(completion.choices.map((c) => c.message.content));
    assert.ok(texts.size > 1, "seeded sampling gives each choice its own stream");
  });

  it("returns logprobs with top alternatives", async () => {
    const completion = await client.chat.completions.create({ model: "demo", messages: hello, max_tokens: 5, logprobs: true, top_logprobs: 3, temperature: 0 });
    const content = completion.choices[0].logprobs.content;
    assert.equal(content.length, completion.usage.completion_tokens);
    for (const entry of content) {
      assert.equal(entry.top_logprobs.length, 3);
      assert.equal(entry.top_logprobs[0].logprob, entry.logprob, "greedy picks the most likely");
      assert.ok(Array.isArray(entry.bytes));
    }
  });

  it("with thinking off the answer is content, never reasoning", async () => {
    const completion = await client.chat.completions.create({
      model: "demo", messages: hello, max_tokens: 8, chat_template_kwargs: { enable_thinking: false } });
    assert.equal(completion.choices[0].message.reasoning_content, undefined);
    assert.equal(typeof completion.choices[0].message.content, "string");
  });

  it("a named tool_choice returns a tool call, and its result goes back in the next turn", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
                                                    parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const first = await client.chat.completions.create({
      model: "demo", messages: [{ role: "user", content: "北京天气怎么样？" }], tools, max_tokens: 12,
      tool_choice: { type: "function", function: { name: "get_weather" } } });
    const call = first.choices[0].message.tool_calls[0];
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.match(call.id, /^call_/);
    assert.equal(typeof call.function.arguments, "string");
    const second = await client.chat.completions.create({
      model: "demo", tools, max_tokens: 6, messages: [
        { role: "user", content: "北京天气怎么样？" },
        { role: "assistant", content: null, tool_calls: [{ id: call.id, type: "function", function: { name: "get_weather", arguments: "{\"city\": \"北京\"}" } }] },
        { role: "tool", tool_call_id: call.id, content: "{\"temperature\": 21}" }] });
    assert.equal(second.choices.length, 1);
  });

  it("streams a named tool call: the name first, then argument fragments", async () => {
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }];
    const chunks = await collect(await client.chat.completions.create({
      model: "demo", messages: hello, tools, max_tokens: 8, stream: true,
      tool_choice: { type: "function", function: { name: "lookup" } } }));
    const calls = chunks.flatMap((c) => c.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    assert.ok(calls.length >= 1);
    assert.equal(calls[0].function.name, "lookup");
    assert.match(calls[0].id, /^call_/);
    assert.ok(calls.slice(1).every((c) => c.function.name === undefined && c.index === 0));
  });
});

describe("text completions", () => {
  it("continues a prompt whole and streamed alike", async () => {
    const request = { model: "demo", prompt: "The capital of France is", max_tokens: 10, seed: 3, temperature: 0.7 };
    const whole = await client.completions.create(request);
    assert.equal(whole.object, "text_completion");
    const chunks = await collect(await client.completions.create({ ...request, stream: true }));
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), whole.choices[0].text);
    assert.equal(whole.usage.completion_tokens, 10);
  });

  it("takes token ids and returns logprobs", async () => {
    const completion = await client.completions.create({ model: "demo", prompt: [9707, 11, 1879], max_tokens: 4, logprobs: 2 });
    assert.equal(completion.usage.prompt_tokens, 3);
    assert.equal(completion.choices[0].logprobs.tokens.length, 4);
    assert.equal(Object.keys(completion.choices[0].logprobs.top_logprobs[0]).length >= 1, true);
  });
});

describe("errors the client sees", () => {
  async function rejects(request, status, param) {
    await assert.rejects(client.chat.completions.create({ model: "demo", messages: hello, ...request }), (error) => {
      assert.equal(error.status, status, error.message);
      if (param) assert.equal(error.param, param, error.message);
      assert.ok(error.message.length > 10);
      return true;
    });
  }

  it("bad numbers are 400 naming the field", async () => {
    await rejects({ max_tokens: -1 }, 400, "max_tokens");
    await rejects({ max_tokens: 0 }, 400, "max_tokens");
    await rejects({ max_tokens: 10_000_000 }, 400, "max_tokens");
    await rejects({ n: 1000 }, 400, "n");
    await rejects({ logprobs: true, top_logprobs: 21 }, 400, "top_logprobs");
    await rejects({ temperature: -1 }, 400, "temperature");
    await rejects({ stop: Array.from({ length: 3000 }, (_, i) => `s${i}`) }, 400, "stop");
    await rejects({ max_tokens: "ten" }, 400, "max_tokens");
  });

  it("an unknown model is 404", async () => {
    await assert.rejects(client.chat.completions.create({ model: "gpt-4", messages: hello }), (error) => error.status === 404);
  });

  it("a prompt longer than the context is 400", async () => {
    const long = "你好".repeat(20000);
    await rejects({ messages: [{ role: "user", content: long }] }, 400);
  });

  it("the server keeps serving after all of that", async () => {
    const completion = await client.chat.completions.create({ model: "demo", messages: hello, max_tokens: 2 });
    assert.equal(completion.choices.length, 1);
    // The gauge is read off the engine after each step, so it may lag the answer by one.
    let running;
    for (let i = 0; i < 100 && running !== 0; ++i) {
      running = await metric(server.baseUrl, 'vllm:num_requests_running{model_name="demo"}');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(running, 0);
  });
});
