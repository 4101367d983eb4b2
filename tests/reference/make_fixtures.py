#!/usr/bin/env python3
"""Builds hanlin's model fixtures with Hugging Face transformers (the reference implementation).

usage: make_fixtures.py OUTDIR

For each small random-weight Qwen3/Qwen2 model below: save it with save_pretrained (safetensors),
then compute, in fp32 with eager attention, the logits at chosen prompt positions and a greedy
continuation with the logits of each step, and write them to OUTDIR/<name>/expected.json
(format: tests/fixtures/models/README.md). Also writes OUTDIR/model_fixtures.tar.gz of it all.

Weights are rounded to the storage dtype (bf16/f16) before the reference runs, so the saved
checkpoint holds exactly the values the reference used. Norm weights and biases get random
values too (transformers initialises them to 1 and 0, which would hide bugs).

Some checkpoints are rewritten to the older config.json form that published Qwen checkpoints
use (top-level rope_theta, rope_scaling, torch_dtype, sliding_window fields); the script
reloads them with transformers and checks the logits are unchanged, so both forms mean the
same thing to the reference.
"""

import copy
import json
import os
import random
import sys
import tarfile
import zlib

import torch
import transformers
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

TOP_K = 20

MODELS = [
    {
        "name": "qwen3-gqa-untied",
        "covers": ["q projection wider than hidden (4 x 32 = 128 vs 64)", "GQA 4:2", "untied lm_head",
                   "bf16 weights", "transformers-5 config form"],
        "arch": "qwen3", "dtype": torch.bfloat16, "config_form": "new",
        "config": dict(vocab_size=2048, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                       max_position_embeddings=512, tie_word_embeddings=False,
                       rope={"rope_type": "default", "rope_theta": 1000000.0}),
    },
    {
        "name": "qwen3-mqa-tied",
        "covers": ["MQA 6:1", "head_dim 64, q width 384 vs hidden 96", "tied embeddings", "f16 weights",
                   "3 layers"],
        "arch": "qwen3", "dtype": torch.float16, "config_form": "new",
        "config": dict(vocab_size=3000, hidden_size=96, intermediate_size=192, num_hidden_layers=3,
                       num_attention_heads=6, num_key_value_heads=1, head_dim=64,
                       max_position_embeddings=512, tie_word_embeddings=True,
                       rope={"rope_type": "default", "rope_theta": 10000.0}),
    },
    {
        "name": "qwen2-bias-sharded",
        "covers": ["Qwen2 q/k/v biases, no q/k norm", "GQA 8:2, head_dim 16", "tied embeddings",
                   "sharded safetensors with index", "older config form with sliding_window unused"],
        "arch": "qwen2", "dtype": torch.bfloat16, "config_form": "old", "max_shard_size": "300KB",
        "config": dict(vocab_size=2500, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                       num_attention_heads=8, num_key_value_heads=2,
                       max_position_embeddings=512, tie_word_embeddings=True,
                       rope={"rope_type": "default", "rope_theta": 1000000.0}),
    },
    {
        "name": "qwen3-yarn",
        "covers": ["YaRN factor 4 beyond the original 128 positions", "MHA (kv heads = heads)",
                   "f32 weights", "older config form with rope_scaling type yarn"],
        "arch": "qwen3", "dtype": torch.float32, "config_form": "old",
        "config": dict(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, head_dim=32,
                       max_position_embeddings=512, tie_word_embeddings=False,
                       rope={"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0,
                             "original_max_position_embeddings": 128}),
    },
    {
        "name": "qwen3-linear-hd128",
        "covers": ["linear RoPE scaling factor 2", "head_dim 128 (q width 256 vs hidden 64)", "MQA 2:1",
                   "bf16 weights"],
        "arch": "qwen3", "dtype": torch.bfloat16, "config_form": "new",
        "config": dict(vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=128,
                       max_position_embeddings=1024, tie_word_embeddings=False,
                       rope={"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0}),
    },
]

PROMPT_LENGTHS = [1, 17, 320]
GREEDY_STEPS = {1: 24, 17: 24, 320: 16}


def build_config(spec):
    """A transformers config from the spec; rope set the transformers-5 way, with a fallback."""
    fields = dict(spec["config"])
    rope = fields.pop("rope")
    fields.update(initializer_range=0.08, rms_norm_eps=1e-6, bos_token_id=0,
                  eos_token_id=fields["vocab_size"] - 1)
    config_class = Qwen3Config if spec["arch"] == "qwen3" else Qwen2Config
    try:
        config = config_class(rope_parameters=dict(rope), **fields)
    except TypeError:
        legacy = dict(rope)
        theta = legacy.pop("rope_theta")
        scaling = None if legacy["rope_type"] == "default" else legacy
        config = config_class(rope_theta=theta, rope_scaling=scaling, **fields)
    print(f"  config rope: {getattr(config, 'rope_parameters', None) or getattr(config, 'rope_scaling', None)}")
    return config


def randomise_norms_and_biases(model, generator):
    """transformers sets norm weights to 1 and biases to 0; give them values that matter."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.copy_(1.0 + 0.2 * torch.randn(parameter.shape, generator=generator))
            elif name.endswith(".bias"):
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))


def build_model(spec):
    torch.manual_seed(1234)
    config = build_config(spec)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float().eval()
    expected_class = Qwen3ForCausalLM if spec["arch"] == "qwen3" else Qwen2ForCausalLM
    assert isinstance(model, expected_class), type(model)
    generator = torch.Generator().manual_seed(99)
    randomise_norms_and_biases(model, generator)
    # Round the parameters (not buffers such as RoPE's inv_freq) to the storage dtype, so the
    # fp32 reference uses exactly the saved values.
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.to(spec["dtype"]).float())
    return model


def top_k(logits):
    values, ids = torch.topk(logits, TOP_K)
    return ids.tolist(), [float(v) for v in values]


def prompt_positions(length):
    if length <= 20:
        return list(range(length))
    chosen = {0, 1, 15, 16, 17, 31, 32, 63, 64, 127, 128, 129, 255, 256, length - 2, length - 1}
    chosen.update(range(0, length, 37))
    return sorted(p for p in chosen if p < length)


@torch.no_grad()
def forward_logits(model, ids):
    return model(torch.tensor([ids])).logits[0].float()


@torch.no_grad()
def make_case(model, prompt_ids, steps):
    """Prompt logits at chosen positions, then greedy decoding by full recompute each step."""
    logits = forward_logits(model, prompt_ids)
    prompt_logits = []
    for position in prompt_positions(len(prompt_ids)):
        ids, values = top_k(logits[position])
        prompt_logits.append({"position": position, "top_ids": ids, "top_logits": values})
    sequence = list(prompt_ids)
    greedy_ids, greedy_steps = [], []
    for _ in range(steps):
        last = forward_logits(model, sequence)[-1]
        ids, values = top_k(last)
        greedy_ids.append(ids[0])
        greedy_steps.append({"top_ids": ids, "top_logits": values, "margin": values[0] - values[1]})
        sequence.append(ids[0])
    return {"prompt_logits": prompt_logits, "greedy": {"token_ids": greedy_ids, "steps": greedy_steps}}


def rope_reference(model):
    rotary = getattr(model.model, "rotary_emb", None)
    if rotary is None:
        rotary = model.model.layers[0].self_attn.rotary_emb
    return {"inv_freq": [float(v) for v in rotary.inv_freq.float()],
            "attention_scaling": float(getattr(rotary, "attention_scaling", 1.0))}


def to_old_config_form(config_path):
    """Rewrites a transformers-5 config.json into the form published Qwen checkpoints use."""
    with open(config_path) as f:
        config = json.load(f)
    rope = config.pop("rope_parameters", None)
    if rope is not None:
        rope = dict(rope)
        config["rope_theta"] = rope.pop("rope_theta")
        rope_type = rope.pop("rope_type", "default")
        config["rope_scaling"] = None if rope_type == "default" else {"type": rope_type, **rope}
    if "dtype" in config:
        config["torch_dtype"] = config.pop("dtype")
    config.pop("layer_types", None)
    config.setdefault("use_sliding_window", False)
    config["sliding_window"] = 4096
    config["max_window_layers"] = config["num_hidden_layers"]
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def save_checkpoint(model, spec, folder):
    stored = copy.deepcopy(model).to(spec["dtype"])  # a copy: .to() would round inv_freq too
    stored.save_pretrained(folder, max_shard_size=spec.get("max_shard_size", "100MB"))
    if spec["config_form"] == "old":
        to_old_config_form(os.path.join(folder, "config.json"))


@torch.no_grad()
def check_reload(folder, cases):
    """The saved checkpoint, as transformers reads it back, gives the reference's logits."""
    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    worst = 0.0
    for case in cases:
        logits = forward_logits(reloaded, case["prompt_ids"])
        for entry in case["prompt_logits"]:
            got = logits[entry["position"]][entry["top_ids"]]
            want = torch.tensor(entry["top_logits"])
            error = float((got - want).norm() / want.norm())
            worst = max(worst, error)
            if error > 1e-5:  # float reordering is ~1e-6; a misread config is orders larger
                raise SystemExit(f"{folder}: reloaded checkpoint differs by {error} (relative) "
                                 f"at position {entry['position']}")
    print(f"  reload check passed ({type(reloaded).__name__}, worst relative difference {worst:.1e})")


def make_model_fixture(spec, outdir):
    name = spec["name"]
    print(f"== {name}")
    model = build_model(spec)
    rng = random.Random(zlib.crc32(name.encode()))
    vocab = spec["config"]["vocab_size"]
    cases = []
    for length in PROMPT_LENGTHS:
        prompt = [rng.randrange(1, vocab - 1) for _ in range(length)]
        case = {"name": f"prompt-{length}", "prompt_ids": prompt}
        case.update(make_case(model, prompt, GREEDY_STEPS[length]))
        margins = [s["margin"] for s in case["greedy"]["steps"]]
        print(f"  {case['name']}: greedy {case['greedy']['token_ids'][:8]}... min margin {min(margins):.2e}")
        cases.append(case)
    folder = os.path.join(outdir, name)
    os.makedirs(folder, exist_ok=True)
    save_checkpoint(model, spec, folder)
    check_reload(folder, cases)
    expected = {"model": name, "covers": spec["covers"], "rope": rope_reference(model), "cases": cases,
                "made_with": {"torch": torch.__version__, "transformers": transformers.__version__}}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: make_fixtures.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(min(16, os.cpu_count() or 1))
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    for spec in MODELS:
        make_model_fixture(spec, outdir)
    with tarfile.open(os.path.join(outdir, "model_fixtures.tar.gz"), "w:gz") as tar:
        for spec in MODELS:
            tar.add(os.path.join(outdir, spec["name"]), arcname=spec["name"])
    print("done")


if __name__ == "__main__":
    main()
