#!/usr/bin/env bash
# Two hanlin binaries against each other on whole decode steps. For each workload (batch size and
# prompt length) `hanlin bench latency` runs with A, then B, then A again and so on for --rounds
# rounds, so that the machine's drift falls on both alike. Writes OUTDIR/ab.md (every run's median
# step in ms, the means, B against A) and keeps each run's JSON and log under OUTDIR/runs/.
#
# Usage: bench/decode_ab.sh [--rounds=N] [--preset=NAME] [--output-len=N] [--dry-run] OUTDIR A B WORKLOAD...
#   WORKLOAD      BATCHxINPUT, e.g. 1x32 4x1024
#   --rounds      runs of each binary per workload (default 2)
#   --preset      model shapes with random bf16 weights (default qwen3-8b)
#   --output-len  new tokens per request (default 64)
#   --dry-run     on the CPU at the demo model's shapes (HANLIN_TOKENIZER_DIR, default
#                 third_party/demo-model), tiny lengths: checks the plumbing, the figures mean nothing
# A run of Qwen3-8B takes about 22 s on an H100, mostly loading; up to 32 rounds × workloads fit
# in 10 minutes when there are two binaries.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=2 preset=qwen3-8b output_len=64 dry_run=0
positional=()
for arg in "$@"; do
  case $arg in
    --rounds=*) rounds=${arg#--rounds=} ;;
    --preset=*) preset=${arg#--preset=} ;;
    --output-len=*) output_len=${arg#--output-len=} ;;
    --dry-run) dry_run=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "decode_ab: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) positional+=("$arg") ;;
  esac
done
if (( ${#positional[@]} < 4 )); then
  echo "usage: bench/decode_ab.sh [options] OUTDIR A B WORKLOAD... (see --help)" >&2
  exit 2
fi
outdir=${positional[0]} binary_a=${positional[1]} binary_b=${positional[2]}
workloads=("${positional[@]:3}")
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "decode_ab: --rounds must be a positive whole number" >&2; exit 2; }
[[ $output_len =~ ^[1-9][0-9]*$ ]] || { echo "decode_ab: --output-len must be a positive whole number" >&2; exit 2; }
for binary in "$binary_a" "$binary_b"; do
  [[ -x $binary ]] || { echo "decode_ab: $binary is not an executable" >&2; exit 2; }
done
for workload in "${workloads[@]}"; do
  [[ $workload =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] ||
    { echo "decode_ab: workload '$workload' is not BATCHxINPUT (e.g. 4x1024)" >&2; exit 2; }
done
mkdir -p "$outdir/runs" || exit 1

model_flags=(--load-format dummy --preset "$preset" --device cuda)
if (( dry_run )); then
  model_flags=(--load-format dummy --model "${HANLIN_TOKENIZER_DIR:-$repo/third_party/demo-model}" --device cpu
               --kv-cache-gb 0.05)
  output_len=4
fi

# The median decode step (ms) of one run, or "failed".
run_once() {
  local binary=$1 batch=$2 input=$3 name=$4
  if "$binary" bench latency "${model_flags[@]}" --batch-size "$batch" --input-len "$input" \
       --output-len "$output_len" --num-iters 2 --num-iters-warmup 1 --output-json "$outdir/runs/$name.json" \
       >"$outdir/runs/$name.log" 2>&1; then
    grep -o '"median_decode_ms_per_step": *[0-9.eE+-]*' "$outdir/runs/$name.json" |
      awk -F: '{ printf "%.3f\n", $2 }'
  else
    echo failed
  fi
}

mean() { awk '{ if ($1 != "failed") { s += $1; n++ } } END { if (n) printf "%.3f", s / n; else print "-" }'; }

{
  echo "# Decode steps, A against B"
  echo
  echo "A: $binary_a  "
  echo "B: $binary_b  "
  model=$preset
  (( dry_run )) && model="the demo model on the CPU (dry run)"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); model: $model, output length $output_len, median step of each run (ms)"
  echo
  echo "| workload | A | B | mean A | mean B | B against A |"
  echo "|---|---|---|---|---|---|"
} >"$outdir/ab.md"

for workload in "${workloads[@]}"; do
  batch=${workload%x*} input=${workload#*x}
  a_runs=() b_runs=()
  for ((round = 1; round <= rounds; ++round)); do
    a_runs+=("$(run_once "$binary_a" "$batch" "$input" "a-$workload-$round")")
    b_runs+=("$(run_once "$binary_b" "$batch" "$input" "b-$workload-$round")")
    echo "$workload round $round: A ${a_runs[-1]} ms, B ${b_runs[-1]} ms" >&2
  done
  mean_a=$(printf '%s\n' "${a_runs[@]}" | mean)
  mean_b=$(printf '%s\n' "${b_runs[@]}" | mean)
  change=$(awk -v a="$mean_a" -v b="$mean_b" \
    'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%+.1f %%", 100 * (b - a) / a; else print "-" }')
  echo "| $workload | ${a_runs[*]} | ${b_runs[*]} | $mean_a | $mean_b | $change |" >>"$outdir/ab.md"
done
cat "$outdir/ab.md"
