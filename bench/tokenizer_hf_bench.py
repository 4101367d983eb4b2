#!/usr/bin/env python3
"""Hugging Face `tokenizers` encode throughput on one thread: the yardstick for
bench/tokenizer_bench.cpp (issue 3's goal: hanlin ≥ 1.5× this).

usage: tokenizer_hf_bench.py TOKENIZER_DIR CORPUS [--repeats N]
  TOKENIZER_DIR  folder with tokenizer.json (third_party/qwen3-tokenizer)
  CORPUS         tests/fixtures/text/corpus.jsonl (one JSON string per line)

Pins the process to one CPU and sets RAYON_NUM_THREADS=1 / TOKENIZERS_PARALLELISM=false
before importing tokenizers. Measures, in MB/s of UTF-8 input (1 MB = 10^6 bytes):
  cold   one pass of Tokenizer.encode per line on a freshly loaded tokenizer (empty BPE cache)
  warm   best and median of N further passes (cache filled)
  batch  encode_batch over all lines on one Rayon thread (no per-call Python overhead)
Prints one JSON line at the end, as bench/tokenizer_bench prints its own.
"""
import json
import os
import platform
import statistics
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"


def read_corpus(path):
    with open(path, "rb") as handle:
        return [json.loads(raw) for raw in handle.read().split(b"\n") if raw]


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def main():
    arguments = sys.argv[1:]
    repeats = 5
    if "--repeats" in arguments:
        at = arguments.index("--repeats")
        repeats = int(arguments[at + 1])
        del arguments[at: at + 2]
    if len(arguments) != 2:
        sys.exit(__doc__)
    tokenizer_dir, corpus_path = arguments
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        print(f"pinned to CPU {cpu}")
    import tokenizers  # noqa: PLC0415 (after the environment variables above)
    from tokenizers import Tokenizer

    lines = read_corpus(corpus_path)
    num_bytes = sum(len(line.encode("utf-8")) for line in lines)
    tokenizer_file = os.path.join(tokenizer_dir, "tokenizer.json")
    print(f"tokenizers {tokenizers.__version__}, Python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}")
    print(f"corpus {corpus_path}: {len(lines)} lines, {num_bytes:,} bytes")

    def encode_all(tokenizer):
        return sum(len(tokenizer.encode(line, add_special_tokens=False).ids) for line in lines)

    tokenizer = Tokenizer.from_file(tokenizer_file)
    cold_seconds, num_tokens = timed(lambda: encode_all(tokenizer))
    warm = [timed(lambda: encode_all(tokenizer))[0] for _ in range(repeats)]
    fresh = Tokenizer.from_file(tokenizer_file)
    batch_seconds, _ = timed(lambda: fresh.encode_batch(lines, add_special_tokens=False))

    def mb_per_s(seconds):
        return num_bytes / seconds / 1e6

    result = {
        "impl": "hf-tokenizers", "version": tokenizers.__version__, "bytes": num_bytes,
        "lines": len(lines), "tokens": num_tokens,
        "cold_mb_s": round(mb_per_s(cold_seconds), 2),
        "warm_best_mb_s": round(mb_per_s(min(warm)), 2),
        "warm_median_mb_s": round(mb_per_s(statistics.median(warm)), 2),
        "batch_cold_mb_s": round(mb_per_s(batch_seconds), 2),
    }
    print(f"cold {result['cold_mb_s']} MB/s, warm best {result['warm_best_mb_s']} MB/s "
          f"(median {result['warm_median_mb_s']}), encode_batch cold {result['batch_cold_mb_s']} MB/s, "
          f"{num_tokens} tokens")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
