#!/usr/bin/env python3
"""Writes the tokenizer parity fixtures: what Hugging Face `tokenizers` makes of the corpus.

usage: make_tokenizer_fixtures.py TOKENIZER_DIR CORPUS OUTDIR
  TOKENIZER_DIR  folder with tokenizer.json (third_party/qwen3-tokenizer after scripts/setup.sh)
  CORPUS         tests/fixtures/text/corpus.jsonl (one JSON string per line)
  OUTDIR         where to write; then copy the files into tests/fixtures/text/

Runs on the GPU host (Python 3.12, tokenizers 0.23); no network. Writes:
  corpus_ids.jsonl         ids of every corpus line, same order, add_special_tokens=False
                           (Hugging Face's behaviour: special-token text is parsed)
  special_split_ids.jsonl  {"line", "ids"} for lines holding special-token text, encoded with
                           encode_special_tokens=True (special tokens treated as plain text)
  pretokenize_checks.jsonl {"line", "nfc"?, "ends"} for short lines: the normalizer's output
                           when it differs from the line, and the pre-tokenizer's piece ends
                           (character offsets into the normalized text)
  decode_checks.jsonl      {"ids", "skip_special_tokens", "text"}: tokenizer.decode outputs,
                           including id slices that split characters and single byte tokens
  fixtures_info.json       versions and counts, for the record
"""
import hashlib
import json
import os
import platform
import random
import sys
import time


def log(message):
    print(message, flush=True)


def read_corpus(path):
    with open(path, "rb") as handle:
        data = handle.read()
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw:
            continue
        text = json.loads(raw.decode("utf-8"))
        if not isinstance(text, str):
            sys.exit(f"{path}:{number}: not a JSON string")
        lines.append(text)
    return lines, hashlib.sha256(data).hexdigest()


def dump_line(handle, value):
    handle.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")


def write_corpus_ids(tokenizer, lines, outdir):
    started = time.time()
    encodings = tokenizer.encode_batch(lines, add_special_tokens=False)
    all_ids = [encoding.ids for encoding in encodings]
    path = os.path.join(outdir, "corpus_ids.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for ids in all_ids:
            dump_line(handle, ids)
    total = sum(len(ids) for ids in all_ids)
    log(f"wrote {path}: {len(all_ids)} lines, {total} tokens, {os.path.getsize(path):,} bytes "
        f"({time.time() - started:.1f} s)")
    return all_ids, total


def special_contents(tokenizer_dir):
    with open(os.path.join(tokenizer_dir, "tokenizer.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    return [token["content"] for token in spec.get("added_tokens", []) if token.get("special")]


def write_special_split(tokenizer, tokenizer_dir, lines, outdir):
    if not hasattr(tokenizer, "encode_special_tokens"):
        log("this tokenizers has no encode_special_tokens: special_split_ids.jsonl not written")
        return 0
    specials = special_contents(tokenizer_dir)
    chosen = [index for index, line in enumerate(lines) if any(s in line for s in specials)]
    tokenizer.encode_special_tokens = True
    try:
        encodings = tokenizer.encode_batch([lines[i] for i in chosen], add_special_tokens=False)
    finally:
        tokenizer.encode_special_tokens = False
    path = os.path.join(outdir, "special_split_ids.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for index, encoding in zip(chosen, encodings):
            dump_line(handle, {"line": index, "ids": encoding.ids})
    log(f"wrote {path}: {len(chosen)} lines that hold special-token text")
    return len(chosen)


def write_pretokenize_checks(tokenizer, lines, outdir, max_chars=160):
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    if pre_tokenizer is None:
        sys.exit("tokenizer.json has no pre_tokenizer: not a Qwen tokenizer?")
    path = os.path.join(outdir, "pretokenize_checks.jsonl")
    count = 0
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for index, line in enumerate(lines):
            if len(line) > max_chars:
                continue
            normalized = normalizer.normalize_str(line) if normalizer is not None else line
            pieces = pre_tokenizer.pre_tokenize_str(normalized)
            record = {"line": index, "ends": [end for _, (_, end) in pieces]}
            if normalized != line:
                record["nfc"] = normalized
            dump_line(handle, record)
            count += 1
    log(f"wrote {path}: {count} lines of at most {max_chars} characters")
    return count


def decode_samples(all_ids, vocab_size, special_ids, seed=5):
    """Id sequences to decode: whole lines, slices that cut characters, single tokens, random
    ids, and special tokens wedged between the bytes of one character."""
    rng = random.Random(seed)
    samples = []
    for index in range(0, len(all_ids), 97):
        samples.append(all_ids[index][:3000])
    nonempty = [ids for ids in all_ids if len(ids) >= 2]
    for _ in range(600):
        ids = rng.choice(nonempty)
        start = rng.randrange(len(ids))
        samples.append(ids[start: start + rng.randrange(1, 12)])
    samples.extend([[token_id] for token_id in range(0, 256)])
    samples.extend([[token_id] for token_id in sorted(special_ids)])
    for _ in range(300):
        samples.append([rng.randrange(vocab_size) for _ in range(rng.randrange(1, 16))])
    multibyte = [ids for ids in nonempty if len(ids) >= 3][:400]
    for ids in multibyte[::4]:
        cut = rng.randrange(1, len(ids))
        samples.append(ids[:cut] + [rng.choice(sorted(special_ids))] + ids[cut:][:10])
    return samples


def write_decode_checks(tokenizer, all_ids, outdir):
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    added = tokenizer.get_added_tokens_decoder() if hasattr(tokenizer, "get_added_tokens_decoder") else {}
    special_ids = {token_id for token_id, token in added.items() if getattr(token, "special", False)}
    samples = decode_samples(all_ids, vocab_size, special_ids or {vocab_size - 1})
    path = os.path.join(outdir, "decode_checks.jsonl")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for number, ids in enumerate(samples):
            skip = number % 2 == 1
            text = tokenizer.decode(ids, skip_special_tokens=skip)
            dump_line(handle, {"ids": ids, "skip_special_tokens": skip, "text": text})
    log(f"wrote {path}: {len(samples)} id sequences ({len(special_ids)} special ids)")
    return len(samples)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    tokenizer_dir, corpus_path, outdir = sys.argv[1:]
    import tokenizers  # noqa: PLC0415 (imported late so that --help works without it)
    from tokenizers import Tokenizer

    tokenizer_file = os.path.join(tokenizer_dir, "tokenizer.json")
    log(f"tokenizers {tokenizers.__version__}, Python {platform.python_version()}")
    log(f"loading {tokenizer_file}")
    tokenizer = Tokenizer.from_file(tokenizer_file)
    lines, corpus_sha256 = read_corpus(corpus_path)
    log(f"read {corpus_path}: {len(lines)} lines, "
        f"{sum(len(line.encode('utf-8')) for line in lines):,} bytes, sha256 {corpus_sha256}")
    os.makedirs(outdir, exist_ok=True)

    all_ids, total_tokens = write_corpus_ids(tokenizer, lines, outdir)
    num_special_lines = write_special_split(tokenizer, tokenizer_dir, lines, outdir)
    num_pretokenize = write_pretokenize_checks(tokenizer, lines, outdir)
    num_decode = write_decode_checks(tokenizer, all_ids, outdir)

    info = {
        "tokenizers_version": tokenizers.__version__, "python": platform.python_version(),
        "tokenizer_json_sha256": hashlib.sha256(open(tokenizer_file, "rb").read()).hexdigest(),
        "corpus_sha256": corpus_sha256, "corpus_lines": len(lines), "corpus_tokens": total_tokens,
        "special_split_lines": num_special_lines, "pretokenize_lines": num_pretokenize,
        "decode_checks": num_decode, "made": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    with open(os.path.join(outdir, "fixtures_info.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
        handle.write("\n")
    log(json.dumps(info))
    log(f"done: copy {outdir}/* into tests/fixtures/text/")


if __name__ == "__main__":
    main()
