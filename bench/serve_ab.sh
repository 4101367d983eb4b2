#!/usr/bin/env bash
# Two hanlin binaries against each other as servers: for each round, `hanlin serve` with A, then
# with B, each measured by its own `hanlin bench serve` with the same arguments (so the same
# requests, arrival times and lengths for a given --seed), the server restarted for every run.
# Writes OUTDIR/ab.md (each run's output tok/s, median and p99 TTFT and TPOT, the means, B against
# A) and keeps each run's JSON and logs under OUTDIR/runs/.
#
# Usage: bench/serve_ab.sh [--rounds=N] [--preset=NAME] [--dry-run] OUTDIR A B [BENCH-SERVE-ARGS...]
#   BENCH-SERVE-ARGS  passed to `bench serve` after the server's address and model name, e.g.
#                     --request-rate 8 --random-input-len 1024 --random-range-ratio 0.5 --num-prompts 128
#                     (default: 32 requests at 4 a second, 1024 → 128 tokens, lengths ±50 %)
#   --rounds   runs of each binary (default 2)
#   --preset   model shapes with random bf16 weights (default qwen3-8b)
#   --dry-run  on the CPU with the demo model (HANLIN_TOKENIZER_DIR, default third_party/demo-model)
#              and tiny lengths: checks the plumbing, the figures mean nothing
# Environment: HANLIN_TOKENIZER_DIR, the tokenizer `serve` loads (default third_party/demo-model).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=2 preset=qwen3-8b dry_run=0
positional=()
while (($#)); do
  case $1 in
    --rounds=*) rounds=${1#--rounds=} ;;
    --preset=*) preset=${1#--preset=} ;;
    --dry-run) dry_run=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) positional+=("$1") ;;
  esac
  shift
  ((${#positional[@]} == 3)) && break  # the rest belongs to bench serve
done
if ((${#positional[@]} < 3)); then
  echo "usage: bench/serve_ab.sh [options] OUTDIR A B [BENCH-SERVE-ARGS...] (see --help)" >&2
  exit 2
fi
outdir=${positional[0]} binary_a=${positional[1]} binary_b=${positional[2]}
bench_args=("$@")
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "serve_ab: --rounds must be a positive whole number" >&2; exit 2; }
for binary in "$binary_a" "$binary_b"; do
  [[ -x $binary ]] || { echo "serve_ab: $binary is not an executable" >&2; exit 2; }
done
mkdir -p "$outdir/runs" || exit 1
tokenizer_dir=${HANLIN_TOKENIZER_DIR:-$repo/third_party/demo-model}

model_flags=(--load-format dummy --preset "$preset" --device cuda)
if ((${#bench_args[@]} == 0)); then
  bench_args=(--request-rate 4 --num-prompts 32 --random-input-len 1024 --random-output-len 128
              --random-range-ratio 0.5)
fi
if ((dry_run)); then
  model_flags=(--load-format dummy --model "$tokenizer_dir" --device cpu --kv-cache-gb 0.05)
  bench_args=(--request-rate 20 --num-prompts 6 --random-input-len 24 --random-output-len 4
              --random-range-ratio 0.5)
fi

source "$repo/bench/server_control.sh"

# One run: serve with BINARY, measure it, stop it. Prints "tok/s ttft-median ttft-p99 tpot-median
# tpot-p99", or "failed".
run_once() {
  local binary=$1 name=$2
  if ! launch_server "$outdir/runs/$name-serve.log" 300 "$binary" serve "${model_flags[@]}" \
         --tokenizer "$tokenizer_dir" --served-model-name ab --port 0 --drain-timeout 10; then
    echo failed
    return
  fi
  if "$binary" bench serve --base-url "http://127.0.0.1:$server_port" --endpoint /v1/completions --model ab \
       --dataset-name random --ignore-eos --seed 0 --no-progress "${bench_args[@]}" \
       --save-result "$outdir/runs/$name.json" >"$outdir/runs/$name.log" 2>&1; then
    python3 - "$outdir/runs/$name.json" <<'PYTHON'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['output_throughput']:.1f} {r['median_ttft_ms']:.1f} {r['p99_ttft_ms']:.1f} "
      f"{r['median_tpot_ms']:.2f} {r['p99_tpot_ms']:.2f}" if r["failed"] == 0 else "failed")
PYTHON
  else
    echo failed
  fi
  stop_server
}

a_runs=() b_runs=()
for ((round = 1; round <= rounds; ++round)); do
  a_runs+=("$(run_once "$binary_a" "a-$round")")
  b_runs+=("$(run_once "$binary_b" "b-$round")")
  echo "round $round: A ${a_runs[-1]}, B ${b_runs[-1]}" >&2
done

model=$preset
((dry_run)) && model="the demo model on the CPU (dry run)"
export AB_A="$binary_a" AB_B="$binary_b" AB_MODEL="$model" AB_ARGS="${bench_args[*]}"
printf '%s\n' "${a_runs[@]}" >"$outdir/runs/a.txt"
printf '%s\n' "${b_runs[@]}" >"$outdir/runs/b.txt"
python3 - "$outdir" <<'PYTHON'
import os, sys, time
outdir, env = sys.argv[1], os.environ
figures = ["output tok/s", "TTFT median ms", "TTFT p99 ms", "TPOT median ms", "TPOT p99 ms"]

def runs(name):
    lines = [line.split() for line in open(os.path.join(outdir, "runs", name))]
    return [None if line == ["failed"] else [float(x) for x in line] for line in lines]

a, b = runs("a.txt"), runs("b.txt")
lines = ["# Serving, A against B", "", f"A: {env['AB_A']}  ", f"B: {env['AB_B']}  ",
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; model: {env['AB_MODEL']}; "
         f"bench serve {env['AB_ARGS']}; the server restarted for each run", "",
         "| figure | A | B | mean A | mean B | B against A |", "|---|---|---|---|---|---|"]
for i, figure in enumerate(figures):
    column = lambda runs: [r[i] for r in runs if r is not None]
    shown = lambda runs: " ".join("failed" if r is None else f"{r[i]:g}" for r in runs)
    mean_a = sum(column(a)) / len(column(a)) if column(a) else None
    mean_b = sum(column(b)) / len(column(b)) if column(b) else None
    change = f"{100 * (mean_b - mean_a) / mean_a:+.1f} %" if mean_a and mean_b else "-"
    text = lambda mean: "-" if mean is None else f"{mean:.2f}"
    lines.append(f"| {figure} | {shown(a)} | {shown(b)} | {text(mean_a)} | {text(mean_b)} | {change} |")
open(os.path.join(outdir, "ab.md"), "w").write("\n".join(lines) + "\n")
PYTHON
cat "$outdir/ab.md"
