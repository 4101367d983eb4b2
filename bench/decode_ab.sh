#!/usr/bin/env bash
# Two or more hanlin binaries against each other on whole decode steps. For each workload (batch
# size and prompt length) `hanlin bench latency` runs with A, then B (then C, …), then A again and
# so on for --rounds rounds, so that the machine's drift falls on all alike. Writes OUTDIR/ab.md
# (every run's median step in ms, the means, each binary against A) and keeps each run's JSON and
# log under OUTDIR/runs/. A binary may be a script that sets the environment and runs hanlin.
#
# Usage: bench/decode_ab.sh [--rounds=N] [--preset=NAME] [--output-len=N] [--dry-run] OUTDIR A B [C...] WORKLOAD...
#   A B C…        hanlin binaries (two at least); A is the baseline
#   WORKLOAD      BATCHxINPUT, e.g. 1x32 4x1024
#   --rounds      runs of each binary per workload (default 2)
#   --preset      model shapes with random bf16 weights (default qwen3-8b)
#   --output-len  new tokens per request (default 64)
#   --dry-run     on the CPU at the demo model's shapes (HANLIN_TOKENIZER_DIR, default
#                 third_party/demo-model), tiny lengths: checks the plumbing, the figures mean nothing
# A run of Qwen3-8B takes about 22 s on an H100 and of Qwen3-14B about 35 s, mostly loading; with
# two binaries, up to 32 rounds × workloads of Qwen3-8B fit in 10 minutes.
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
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "decode_ab: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) positional+=("$arg") ;;
  esac
done
# After OUTDIR: binaries up to the first BATCHxINPUT, then workloads.
is_workload() { [[ $1 =~ ^[0-9]+x[0-9]+$ ]]; }
outdir=${positional[0]:-}
binaries=() workloads=()
for arg in "${positional[@]:1}"; do
  if (( ${#workloads[@]} == 0 )) && ! is_workload "$arg"; then binaries+=("$arg"); else workloads+=("$arg"); fi
done
if [[ -z $outdir ]] || (( ${#binaries[@]} < 2 || ${#workloads[@]} < 1 )); then
  echo "usage: bench/decode_ab.sh [options] OUTDIR A B [C...] WORKLOAD... (see --help)" >&2
  exit 2
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "decode_ab: --rounds must be a positive whole number" >&2; exit 2; }
[[ $output_len =~ ^[1-9][0-9]*$ ]] || { echo "decode_ab: --output-len must be a positive whole number" >&2; exit 2; }
for binary in "${binaries[@]}"; do
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

letters=(A B C D E F G H I J K L M N O P Q R S T U V W X Y Z)
(( ${#binaries[@]} <= ${#letters[@]} )) || { echo "decode_ab: at most ${#letters[@]} binaries" >&2; exit 2; }

# Each binary's change against A, from the means: "+1.2 %", or "-" when a mean is missing.
change() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%+.1f %%", 100 * (b - a) / a; else print "-" }'
}

{
  echo "# Decode steps against A"
  echo
  for i in "${!binaries[@]}"; do echo "${letters[i]}: ${binaries[i]}  "; done
  model=$preset
  (( dry_run )) && model="the demo model on the CPU (dry run)"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); model: $model, output length $output_len, median step of each run (ms)"
  echo
  header="| workload |" rule="|---|"
  for i in "${!binaries[@]}"; do header+=" ${letters[i]} |"; rule+="---|"; done
  for i in "${!binaries[@]}"; do header+=" mean ${letters[i]} |"; rule+="---|"; done
  for i in "${!binaries[@]}"; do (( i > 0 )) && { header+=" ${letters[i]} against A |"; rule+="---|"; }; done
  echo "$header"
  echo "$rule"
} >"$outdir/ab.md"

for workload in "${workloads[@]}"; do
  batch=${workload%x*} input=${workload#*x}
  runs=()
  for ((round = 1; round <= rounds; ++round)); do
    progress="$workload round $round:"
    for i in "${!binaries[@]}"; do
      letter=${letters[i]}
      result=$(run_once "${binaries[i]}" "$batch" "$input" "$letter-$workload-$round")
      runs[i]="${runs[i]:-}${runs[i]:+ }$result"
      progress+=" $letter $result ms,"
    done
    echo "${progress%,}" >&2
  done
  means=()
  for i in "${!binaries[@]}"; do means+=("$(printf '%s\n' ${runs[i]} | mean)"); done
  row="| $workload |"
  for i in "${!binaries[@]}"; do row+=" ${runs[i]} |"; done
  for i in "${!binaries[@]}"; do row+=" ${means[i]} |"; done
  for i in "${!binaries[@]}"; do (( i > 0 )) && row+=" $(change "${means[0]}" "${means[i]}") |"; done
  echo "$row" >>"$outdir/ab.md"
done
cat "$outdir/ab.md"
