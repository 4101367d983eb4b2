// Writes a tiny random-weight Qwen3 checkpoint (2 layers, hidden 64) with the real Qwen3
// tokenizer to OUTDIR: something `hanlin serve` can load in a second on any machine. Its
// weights are random, so its text is gibberish; it exercises the whole serving path.
// usage: node scripts/make_demo_model.js TOKENIZER_DIR OUTDIR
const fs = require("fs");
const path = require("path");

const [tokenizerDir, outdir] = process.argv.slice(2);
if (!tokenizerDir || !outdir) {
  console.error("usage: node make_demo_model.js TOKENIZER_DIR OUTDIR");
  process.exit(2);
}

const config = {
  architectures: ["Qwen3ForCausalLM"], model_type: "qwen3", torch_dtype: "bfloat16",
  vocab_size: 151936, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, hidden_act: "silu",
  max_position_embeddings: 8192, rms_norm_eps: 1e-6, rope_theta: 1000000.0, rope_scaling: null,
  tie_word_embeddings: false, attention_bias: false, use_sliding_window: false, sliding_window: null,
  bos_token_id: 151643, eos_token_id: 151645,
};
// Qwen3's own generation defaults.
const generationConfig = { bos_token_id: 151643, eos_token_id: [151645, 151643], do_sample: true,
                           temperature: 0.6, top_p: 0.95, top_k: 20 };

// xorshift32: the same weights on every machine, so the demo answers the same everywhere.
let state = 0x9e3779b9;
function uniform() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}

// bf16 bytes of `count` values: uniform in ±scale, or all `constant`.
function bf16(count, scale, constant) {
  const bytes = Buffer.alloc(count * 2);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let i = 0; i < count; ++i) {
    f32[0] = constant !== undefined ? constant : (uniform() * 2 - 1) * scale;
    bytes.writeUInt16LE(u32[0] >>> 16, i * 2);
  }
  return bytes;
}

function tensors() {
  const c = config, h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  // An untied lm_head: tied, a tiny random model mostly repeats its last token.
  const list = [["model.embed_tokens.weight", [c.vocab_size, h], 0.5], ["model.norm.weight", [h], null],
                ["lm_head.weight", [c.vocab_size, h], 0.5]];
  for (let l = 0; l < c.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`;
    list.push([p + "input_layernorm.weight", [h], null], [p + "post_attention_layernorm.weight", [h], null],
              [p + "self_attn.q_proj.weight", [q, h], 0.15], [p + "self_attn.k_proj.weight", [kv, h], 0.15],
              [p + "self_attn.v_proj.weight", [kv, h], 0.15], [p + "self_attn.o_proj.weight", [h, q], 0.15],
              [p + "self_attn.q_norm.weight", [c.head_dim], null], [p + "self_attn.k_norm.weight", [c.head_dim], null],
              [p + "mlp.gate_proj.weight", [c.intermediate_size, h], 0.15],
              [p + "mlp.up_proj.weight", [c.intermediate_size, h], 0.15],
              [p + "mlp.down_proj.weight", [h, c.intermediate_size], 0.15]);
  }
  return list;
}

function writeSafetensors(file) {
  const header = { __metadata__: { format: "pt" } };
  const blobs = [];
  let offset = 0;
  for (const [name, shape, scale] of tensors()) {
    const count = shape.reduce((a, b) => a * b, 1);
    const blob = scale === null ? bf16(count, 0, 1.0) : bf16(count, scale);
    header[name] = { dtype: "BF16", shape, data_offsets: [offset, offset + blob.length] };
    blobs.push(blob);
    offset += blob.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([size, json, ...blobs]));
}

fs.mkdirSync(outdir, { recursive: true });
fs.writeFileSync(path.join(outdir, "config.json"), JSON.stringify(config, null, 2));
fs.writeFileSync(path.join(outdir, "generation_config.json"), JSON.stringify(generationConfig, null, 2));
for (const name of ["tokenizer.json", "tokenizer_config.json"]) {
  fs.copyFileSync(path.join(tokenizerDir, name), path.join(outdir, name));
}
writeSafetensors(path.join(outdir, "model.safetensors"));
console.log(`setup: wrote the demo model (random weights, real Qwen3 tokenizer) to ${outdir}`);
