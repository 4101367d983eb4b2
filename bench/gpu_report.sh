#!/usr/bin/env bash
# The standard benchmark matrix of the GPU host in one command: Qwen3-8B and Qwen3-14B shapes
# with random bf16 weights, batch-1 decode, prefill 8K and 32K, a 128-token prefill after a cached
# 32K-token prefix (a question about a long document; `hanlin bench latency`),
# `hanlin bench serve` against `hanlin serve` at concurrency 1/16/64/256 on random 1024 -> 256,
# a shared-prefix workload, and staggered traffic (Poisson arrivals, lengths ±50 %) whose steps mostly
# mix prefill chunks with decode rows. Writes OUTDIR/report.md, each figure beside its physical limit
# (GPU.md), and keeps every raw JSON file, log and command line under OUTDIR.
#
# Usage: bench/gpu_report.sh [--quick] [--dry-run] [--models=LIST] OUTDIR
#   --quick    a smaller matrix: Qwen3-8B only, prefill 8K only, serve at concurrency 1 and 64
#   --models=qwen3-14b   only these presets (comma-separated), e.g. to split the matrix in parts
#   --dry-run  check the plumbing where there is no GPU: the CPU, the demo model's shapes
#              (HANLIN_TOKENIZER_DIR) with dummy weights, tiny lengths
# Environment:
#   HANLIN_BINARY         a built hanlin to use; without it the script builds one in build-gpu-report/
#   HANLIN_TOKENIZER_DIR  tokenizer folder `hanlin serve` needs (default third_party/demo-model)
#   HANLIN_KV_CACHE_GB    KV cache in GiB for every run (default on a GPU: what
#                         --gpu-memory-utilization 0.9 leaves after the weights)
#   HANLIN_STEP_TIMEOUT   seconds any one command may run before it is stopped (default 300)
#   HANLIN_COMMIT         the commit the report names (default: the tree's own, which a copy of
#                         the tree may not have)
# Needs no network. The whole matrix took 4 min 20 s on an H100 (2026-11-27) before the follow-up
# prefill and the staggered traffic joined it (128 requests at 8 a second: at least 16 s a model);
# the report gives each step's seconds.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
mode=standard
outdir=
models_override=
for arg in "$@"; do
  case $arg in
    --quick) mode=quick ;;
    --models=*) models_override=${arg#--models=} ;;
    --dry-run) mode=dry-run ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_report: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) [[ -z $outdir ]] || { echo "gpu_report: one OUTDIR only" >&2; exit 2; }; outdir=$arg ;;
  esac
done
[[ -n $outdir ]] || { echo "usage: bench/gpu_report.sh [--quick] [--dry-run] OUTDIR" >&2; exit 2; }
mkdir -p "$outdir/logs" || exit 1
outdir=$(cd "$outdir" && pwd)
tokenizer_dir=${HANLIN_TOKENIZER_DIR:-$repo/third_party/demo-model}
kv_flags=()
[[ -n ${HANLIN_KV_CACHE_GB:-} ]] && kv_flags=(--kv-cache-gb "$HANLIN_KV_CACHE_GB")
step_timeout=${HANLIN_STEP_TIMEOUT:-300}

# ---- The matrix ----
# Serve prompts per concurrency: enough for a few rounds where rounds are short, one round at 256.
device=cuda
models=(qwen3-8b qwen3-14b)
decode_input_len=128 decode_output_len=256 decode_iters=5
prefill_lens=(8192 32768) prefill_iters=3
followup_prefix_len=32768 followup_len=128
serve_input_len=1024 serve_output_len=256
serve_concurrency=(1 16 64 256)
serve_prompts=(4 48 128 256)
prefix_len=2000 prefix_input_len=128 prefix_output_len=128 prefix_concurrency=16 prefix_prompts=64
# Staggered traffic: the serve rows above move in waves (one length, all at once), so few of their
# steps mix a prompt's prefill with others' decoding; real traffic mixes them in most steps.
staggered_input_len=1024 staggered_output_len=256 staggered_range=0.5 staggered_rate=8
staggered_concurrency=64 staggered_prompts=128
case $mode in
  quick)
    models=(qwen3-8b)
    prefill_lens=(8192)
    serve_concurrency=(1 64) serve_prompts=(4 128)
    ;;
  dry-run)
    device=cpu
    models=("$tokenizer_dir")
    kv_flags=(--kv-cache-gb 0.05)
    decode_input_len=16 decode_output_len=8 decode_iters=2
    prefill_lens=(256) prefill_iters=2
    followup_prefix_len=256 followup_len=16
    serve_input_len=32 serve_output_len=8
    serve_concurrency=(1 4) serve_prompts=(2 8)
    prefix_len=64 prefix_input_len=16 prefix_output_len=4 prefix_concurrency=2 prefix_prompts=4
    staggered_input_len=32 staggered_output_len=8 staggered_rate=20 staggered_concurrency=4 staggered_prompts=8
    ;;
esac

if [[ -n $models_override ]]; then
  [[ $mode == dry-run ]] && { echo "gpu_report: --models does not apply to --dry-run" >&2; exit 2; }
  IFS=, read -ra models <<<"$models_override"
fi

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- The binary ----

build_hanlin() {
  local build_dir=$repo/build-gpu-report cuda=ON
  [[ $mode == dry-run ]] && cuda=OFF
  log "building hanlin in $build_dir"
  if ! cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DHANLIN_CUDA=$cuda \
        -DHANLIN_TESTS=OFF -DHANLIN_BENCH=OFF >"$outdir/logs/build.log" 2>&1 ||
     ! ninja -C "$build_dir" hanlin >>"$outdir/logs/build.log" 2>&1; then
    tail -n 20 "$outdir/logs/build.log" >&2
    echo "gpu_report: the build failed (it needs CLI11 and libutf8proc besides Boost and nlohmann-json)." >&2
    echo "Build on a Debian 12 machine (scripts/setup.sh) and run with HANLIN_BINARY=path/to/hanlin." >&2
    exit 1
  fi
  hanlin=$build_dir/src/hanlin
}

if [[ -n ${HANLIN_BINARY:-} ]]; then
  hanlin=$HANLIN_BINARY
else
  build_hanlin
fi
[[ -x $hanlin ]] || { echo "gpu_report: $hanlin is not an executable" >&2; exit 1; }
missing_libraries=$(ldd "$hanlin" 2>/dev/null | grep 'not found')
if [[ -n $missing_libraries ]]; then
  echo "gpu_report: $hanlin cannot start here; missing shared libraries:" >&2
  echo "$missing_libraries" >&2
  exit 1
fi
[[ -f $tokenizer_dir/tokenizer.json ]] ||
  { echo "gpu_report: no tokenizer.json in $tokenizer_dir (set HANLIN_TOKENIZER_DIR)" >&2; exit 1; }

# ---- The machine ----

gpu_name="CPU only (dry run: the figures mean nothing)"
if [[ $device == cuda ]]; then
  gpu_name=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1)
  [[ -n $gpu_name ]] || { echo "gpu_report: nvidia-smi finds no GPU" >&2; exit 1; }
fi
# GPU.md's measured rates: 3.0 TB/s on the H100 SXM, about 4.3 on the H200; 800 TFLOP/s bf16.
peak_bandwidth_tbs=3.0
[[ $gpu_name == *H200* ]] && peak_bandwidth_tbs=4.3
peak_flags=(--peak-bandwidth-tbs "$peak_bandwidth_tbs" --peak-tflops 800)
commit=${HANLIN_COMMIT:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [[ -z ${HANLIN_COMMIT:-} && $commit != unknown &&
      -n $(GIT_OPTIONAL_LOCKS=0 git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  commit="$commit (with uncommitted changes)"
fi
report_date=$(date -u '+%Y-%m-%d %H:%M UTC')

# ---- Steps ----

# A model is a preset name or, in a dry run, a folder with config.json.
model_flags() {
  if [[ -d $1 ]]; then echo "--model $1 --load-format dummy"; else echo "--load-format dummy --preset $1"; fi
}
model_label() { basename "$1"; }

# Notes how long a step took, and a failure in failed.txt (the report lists both).
note_step() {  # NAME SECONDS FAILURE (empty when it succeeded)
  printf '%s\t%s\t%s\n' "$1" "$2" "${3:-ok}" >>"$outdir/steps.tsv"
  [[ -z $3 ]] && return 0
  echo "$1: $3 (logs/$1.log)" >>"$outdir/failed.txt"
  log "$1 failed: $3"
}

# Runs one benchmark command with a time limit; its output goes to logs/NAME.log, its command
# line to commands.txt.
run_step() {
  local name=$1; shift
  printf '%q ' "$@" >>"$outdir/commands.txt"; echo >>"$outdir/commands.txt"
  log "$name"
  local began=$SECONDS
  timeout --signal=TERM --kill-after=30 "$step_timeout" "$@" >"$outdir/logs/$name.log" 2>&1
  local status=$? why=
  ((status != 0)) && why="exit status $status"
  ((status == 124)) && why="stopped after ${step_timeout} s"
  note_step "$name" $((SECONDS - began)) "$why"
  return $status
}

latency_steps() {  # MODEL
  local label flags
  label=$(model_label "$1")
  read -ra flags <<<"$(model_flags "$1")"
  local common=("${flags[@]}" --device "$device" "${kv_flags[@]}" "${peak_flags[@]}")
  run_step "$label-decode" "$hanlin" bench latency "${common[@]}" --input-len "$decode_input_len" \
    --output-len "$decode_output_len" --batch-size 1 --num-iters-warmup 1 --num-iters "$decode_iters" \
    --output-json "$outdir/$label-decode.json"
  local length
  for length in "${prefill_lens[@]}"; do
    run_step "$label-prefill-$length" "$hanlin" bench latency "${common[@]}" --input-len "$length" --output-len 1 \
      --batch-size 1 --num-iters-warmup 1 --num-iters "$prefill_iters" --output-json "$outdir/$label-prefill-$length.json"
  done
  run_step "$label-followup" "$hanlin" bench latency "${common[@]}" --shared-prefix-len "$followup_prefix_len" \
    --input-len "$followup_len" --output-len 1 --batch-size 1 --num-iters-warmup 1 --num-iters "$prefill_iters" \
    --output-json "$outdir/$label-followup.json"
}

# The limits of the serve workloads, from the shape alone (no weights loaded).
serve_limits() {  # MODEL
  local label flags concurrency
  label=$(model_label "$1")
  read -ra flags <<<"$(model_flags "$1")"
  for concurrency in "${serve_concurrency[@]}"; do
    "$hanlin" bench latency "${flags[@]}" "${peak_flags[@]}" --limits-only --input-len "$serve_input_len" \
      --output-len "$serve_output_len" --batch-size "$concurrency" \
      --output-json "$outdir/$label-serve-c$concurrency-limits.json" >/dev/null
  done
  # Requests of one length in a closed loop finish together, so the next ones arrive together: the
  # median request's first token needs at least the first half of such a wave prefilled.
  "$hanlin" bench latency "${flags[@]}" "${peak_flags[@]}" --limits-only --shared-prefix-len "$prefix_len" \
    --input-len "$prefix_input_len" --output-len "$prefix_output_len" \
    --batch-size "$(((prefix_concurrency + 1) / 2))" --output-json "$outdir/$label-prefix-limits.json" >/dev/null
}

source "$repo/bench/server_control.sh"

# Starts `hanlin serve` on a free port and waits until it is ready; sets server_port.
start_server() {  # MODEL
  local label flags log_file
  label=$(model_label "$1")
  read -ra flags <<<"$(model_flags "$1")"
  log_file=$outdir/logs/$label-serve.log
  local command=("$hanlin" serve "${flags[@]}" --device "$device" --tokenizer "$tokenizer_dir"
                 --served-model-name "$label" --port 0 "${kv_flags[@]}" --drain-timeout 10)
  printf '%q ' "${command[@]}" >>"$outdir/commands.txt"; echo >>"$outdir/commands.txt"
  log "$label: starting hanlin serve"
  local began=$SECONDS
  if launch_server "$log_file" "$step_timeout" "${command[@]}"; then
    note_step "$label-serve" $((SECONDS - began)) ""
    return 0
  fi
  note_step "$label-serve" $((SECONDS - began)) "the server did not become ready"
  return 1
}

# The server's Prometheus text into FILE (empty when the request fails).
fetch_metrics() (  # FILE
  exec 3<>"/dev/tcp/127.0.0.1/$server_port" || exit 0
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  cat <&3 >"$1"
)

# A serve step between two scrapes of /metrics: the report takes the engine's steps and their
# parts over the run from the difference.
serve_step() {  # NAME bench-serve-arguments...
  local name=$1; shift
  fetch_metrics "$outdir/$name.before.prom"
  run_step "$name" "$@"
  fetch_metrics "$outdir/$name.after.prom"
}

serve_steps() {  # MODEL
  local label
  label=$(model_label "$1")
  start_server "$1" || return
  local base=("$hanlin" bench serve --base-url "http://127.0.0.1:$server_port" --endpoint /v1/completions
              --model "$label" --dataset-name random --ignore-eos --seed 0)
  local i
  for i in "${!serve_concurrency[@]}"; do
    local concurrency=${serve_concurrency[$i]}
    serve_step "$label-serve-c$concurrency" "${base[@]}" --request-rate inf --random-input-len "$serve_input_len" \
      --random-output-len "$serve_output_len" --num-prompts "${serve_prompts[$i]}" --max-concurrency "$concurrency" \
      --save-result "$outdir/$label-serve-c$concurrency.json"
  done
  serve_step "$label-prefix" "${base[@]}" --request-rate inf --random-prefix-len "$prefix_len" \
    --random-input-len "$prefix_input_len" --random-output-len "$prefix_output_len" --num-prompts "$prefix_prompts" \
    --max-concurrency "$prefix_concurrency" --save-result "$outdir/$label-prefix.json"
  serve_step "$label-staggered" "${base[@]}" --request-rate "$staggered_rate" \
    --random-input-len "$staggered_input_len" --random-output-len "$staggered_output_len" \
    --random-range-ratio "$staggered_range" --num-prompts "$staggered_prompts" \
    --max-concurrency "$staggered_concurrency" --save-result "$outdir/$label-staggered.json"
  stop_server
}

# ---- Run ----

: >"$outdir/commands.txt"
# A reused OUTDIR must not lend an earlier run's figures to a step that fails now.
rm -f "$outdir"/*.json "$outdir"/*.prom "$outdir/failed.txt" "$outdir/steps.tsv"
started=$SECONDS
for model in "${models[@]}"; do
  serve_limits "$model"
  latency_steps "$model"
  serve_steps "$model"
done
run_seconds=$((SECONDS - started))

# ---- Report ----

# The report reads the matrix from the environment, the figures from the JSON files.
export REPORT_OUTDIR=$outdir REPORT_SECONDS=$run_seconds REPORT_MODE=$mode REPORT_DATE=$report_date
cpus=$(nproc)
export REPORT_GPU=$gpu_name REPORT_COMMIT=$commit REPORT_BINARY=$hanlin REPORT_CPUS=$cpus
export REPORT_BANDWIDTH=$peak_bandwidth_tbs REPORT_MODELS="${models[*]}"
export REPORT_DECODE="$decode_input_len $decode_output_len" REPORT_PREFILL="${prefill_lens[*]}"
export REPORT_SERVE="$serve_input_len $serve_output_len" REPORT_CONCURRENCY="${serve_concurrency[*]}"
export REPORT_PREFIX="$prefix_len $prefix_input_len $prefix_output_len $prefix_concurrency"
export REPORT_FOLLOWUP="$followup_prefix_len $followup_len"
export REPORT_STAGGERED="$staggered_input_len $staggered_output_len $staggered_range $staggered_rate"
export REPORT_STAGGERED_CONCURRENCY=$staggered_concurrency
python3 - <<'PYTHON'
import json, os, sys

env = os.environ
outdir, mode = env["REPORT_OUTDIR"], env["REPORT_MODE"]
decode_in, decode_out = env["REPORT_DECODE"].split()
prefill_lens, concurrencies = env["REPORT_PREFILL"].split(), env["REPORT_CONCURRENCY"].split()
serve_in, serve_out = env["REPORT_SERVE"].split()
prefix_len, prefix_in, prefix_out, prefix_concurrency = env["REPORT_PREFIX"].split()
staggered_in, staggered_out, staggered_range, staggered_rate = env["REPORT_STAGGERED"].split()
followup_prefix, followup_len = env["REPORT_FOLLOWUP"].split()
staggered_concurrency = env["REPORT_STAGGERED_CONCURRENCY"]
machine = {"date": env["REPORT_DATE"], "gpu": env["REPORT_GPU"], "commit": env["REPORT_COMMIT"], "mode": mode,
           "binary": env["REPORT_BINARY"], "cpus": env["REPORT_CPUS"], "peak_bandwidth_tbs": env["REPORT_BANDWIDTH"],
           "seconds": int(env["REPORT_SECONDS"])}
json.dump(machine, open(os.path.join(outdir, "machine.json"), "w"), indent=2)

def load(name):
    path = os.path.join(outdir, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None

def share(limit, measured):
    return f"{100 * limit / measured:.0f}%" if limit and measured else "—"

def row(workload, figure, measured, limit="—", ratio="—"):
    return f"| {workload} | {figure} | {measured} | {limit} | {ratio} |"

def latency_rows(label):
    rows = []
    decode = load(f"{label}-decode")
    workload = f"decode, batch 1, {decode_in} → {decode_out}"
    if decode:
        step, floor = decode["median_decode_ms_per_step"], decode["limits"]["decode_step_floor_ms"]
        rows.append(row(workload, "ms per token (median step)", f"{step:.2f} ({1e3 / step:.1f} tok/s)",
                        f"{floor:.2f} ms (weights {decode['limits']['weight_bytes_per_step'] / 1e9:.1f} GB + KV)",
                        share(floor, step)))
        rows.append(row(workload, "end-to-end latency (median / p99)",
                        f"{decode['median_latency']:.3f} s / {decode['p99_latency']:.3f} s"))
    else:
        rows.append(row(workload, "failed", "—"))
    for length in prefill_lens:
        result = load(f"{label}-prefill-{length}")
        workload = f"prefill {length}"
        if not result:
            rows.append(row(workload, "failed", "—"))
            continue
        prefill, floor = result["median_prefill_ms"], result["limits"]["prefill_floor_ms"]
        rows.append(row(workload, "ms (median)", f"{prefill:.1f} ({result['prefill_tokens_per_second']:,.0f} tok/s)",
                        f"{floor:.1f} ms ({result['limits']['prefill_flops'] / 1e12:.1f} TFLOP)", share(floor, prefill)))
    result = load(f"{label}-followup")
    workload = f"prefill {followup_len} after a cached {followup_prefix} prefix"
    if result:
        prefill, floor = result["median_prefill_ms"], result["limits"]["prefill_floor_ms"]
        rows.append(row(workload, "ms (median)", f"{prefill:.2f}",
                        f"{floor:.2f} ms ({result['limits']['prefill_flops'] / 1e12:.2f} TFLOP)", share(floor, prefill)))
    else:
        rows.append(row(workload, "failed", "—"))
    return rows

def scrape(name, when):
    path = os.path.join(outdir, f"{name}.{when}.prom")
    samples = {}
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            if line.startswith("hanlin:engine_step"):
                key, _, value = line.rstrip().rpartition(" ")
                samples[key.split("{")[0] + ("/" + key.split('part="')[1].split('"')[0] if 'part="' in key else "")] = float(value)
    return samples

# The engine's steps during a serve run, from /metrics before and after it: how many, and the
# model's and the host's (schedule + sample) milliseconds per step.
def step_row(workload, name):
    before, after = scrape(name, "before"), scrape(name, "after")
    delta = {key: after[key] - before.get(key, 0.0) for key in after}
    steps = delta.get("hanlin:engine_steps_total", 0)
    if steps <= 0:
        return []
    per_step = lambda part: 1e3 * delta.get("hanlin:engine_step_seconds_total/" + part, 0.0) / steps
    return [row(workload, "engine steps: count, model / host ms per step",
                f"{steps:,.0f}, {per_step('model'):.2f} / {per_step('schedule') + per_step('sample'):.2f}")]

def serve_rows(label):
    rows = []
    for concurrency in concurrencies:
        result, limits = load(f"{label}-serve-c{concurrency}"), load(f"{label}-serve-c{concurrency}-limits")
        workload = f"serve c={concurrency}, {serve_in} → {serve_out}"
        if not result or not limits:
            rows.append(row(workload, "failed", "—"))
            continue
        floor = limits["limits"]["decode_step_floor_ms"]
        # The run's work at the limits: every prompt's prefill, then its output in waves of
        # `concurrency` decode steps (the prompts come in whole waves here). The limits file is for
        # a batch of `concurrency` prompts, so one prompt's prefill is its share.
        count = int(result["completed"]) + int(result["failed"])
        prefill_ms = float(limits["limits"]["prefill_floor_ms"]) / int(concurrency)
        waves = -(-count // int(concurrency))
        seconds = (count * prefill_ms + waves * int(serve_out) * floor) / 1e3
        bound = count * int(serve_out) / seconds if seconds > 0 else 0
        rows.append(row(workload, f"output tok/s ({result['completed']} done, {result['failed']} failed)",
                        f"{result['output_throughput']:,.1f}", f"{bound:,.0f} (prefills + decode steps)",
                        share(result["output_throughput"], bound)))
        rows.append(row(workload, "TPOT median / p99 ms", f"{result['median_tpot_ms']:.2f} / {result['p99_tpot_ms']:.2f}",
                        f"{floor:.2f} (step of {concurrency})", share(floor, result["median_tpot_ms"])))
        ttft_limit, ttft_share = "—", "—"
        if concurrency == "1":
            ttft_floor = limits["limits"]["prefill_floor_ms"]
            ttft_limit, ttft_share = f"{ttft_floor:.1f} (prefill {serve_in})", share(ttft_floor, result["median_ttft_ms"])
        rows.append(row(workload, "TTFT median / p99 ms", f"{result['median_ttft_ms']:.1f} / {result['p99_ttft_ms']:.1f}",
                        ttft_limit, ttft_share))
        rows += step_row(workload, f"{label}-serve-c{concurrency}")
    result, limits = load(f"{label}-prefix"), load(f"{label}-prefix-limits")
    workload = f"shared prefix {prefix_len} + {prefix_in} → {prefix_out}, c={prefix_concurrency}"
    if result and limits:
        floor = limits["limits"]["prefill_floor_ms"]
        half_wave = (int(prefix_concurrency) + 1) // 2
        rows.append(row(workload, "TTFT median / p99 ms", f"{result['median_ttft_ms']:.1f} / {result['p99_ttft_ms']:.1f}",
                        f"{floor:.2f} (prefill of {half_wave} × {prefix_in} uncached: half a wave)",
                        share(floor, result["median_ttft_ms"])))
        rows.append(row(workload, "output tok/s", f"{result['output_throughput']:,.1f}"))
        rows += step_row(workload, f"{label}-prefix")
    else:
        rows.append(row(workload, "failed", "—"))
    # Staggered traffic has no simple bound: its figures stand alone, for comparing commits.
    result = load(f"{label}-staggered")
    spread = f"±{100 * float(staggered_range):.0f} %"
    workload = (f"staggered {staggered_in} → {staggered_out} ({spread}), {staggered_rate} req/s, "
                f"c≤{staggered_concurrency}")
    if result:
        rows.append(row(workload, f"output tok/s ({result['completed']} done, {result['failed']} failed)",
                        f"{result['output_throughput']:,.1f}"))
        ttft = f"{result['median_ttft_ms']:.1f} / {result['p99_ttft_ms']:.1f}"
        tpot = f"{result['median_tpot_ms']:.2f} / {result['p99_tpot_ms']:.2f}"
        rows += [row(workload, "TTFT median / p99 ms", ttft), row(workload, "TPOT median / p99 ms", tpot)]
        rows += step_row(workload, f"{label}-staggered")
    else:
        rows.append(row(workload, "failed", "—"))
    return rows

lines = [
    f"## {machine['date'][:10]} — GPU report ({mode}), {machine['gpu']}",
    "",
    f"- date: {machine['date']}; machine: {machine['gpu']}, {machine['cpus']} CPU threads",
    f"- git commit: {machine['commit']}; binary: `{machine['binary']}`",
    f"- limits (GPU.md): {machine['peak_bandwidth_tbs']} TB/s for bytes read, 800 TFLOP/s bf16 for FLOPs; "
    "decode step ≥ (layer weights + lm_head + KV read) ÷ bandwidth, prefill ≥ (2 · layer parameters · tokens "
    "+ causal attention 4 · layers · heads · head_dim · L²/2 + one lm_head row) ÷ matrix rate",
    "- random bf16 weights at the real shapes (`--load-format dummy`); greedy, eos ignored; "
    f"the matrix took {machine['seconds'] // 60} min {machine['seconds'] % 60} s",
    "",
]
for model in env["REPORT_MODELS"].split():
    label = os.path.basename(model.rstrip("/"))
    lines += [f"### {label}", "", "| workload | figure | measured | physical limit | share of limit |", "|---|---|---|---|---|"]
    lines += latency_rows(label) + serve_rows(label) + [""]
failed_path = os.path.join(outdir, "failed.txt")
if os.path.exists(failed_path):
    lines += ["Failed steps:", ""] + [f"- {line.strip()}" for line in open(failed_path) if line.strip()] + [""]
lines += ["| step | seconds | result |", "|---|---|---|"]
lines += [f"| {' | '.join(line.rstrip(chr(10)).split(chr(9)))} |" for line in open(os.path.join(outdir, "steps.tsv"))]
lines += ["", "Commands (raw JSON and logs beside this file):", "", "```"]
lines += [line.rstrip() for line in open(os.path.join(outdir, "commands.txt"))] + ["```", ""]
open(os.path.join(outdir, "report.md"), "w").write("\n".join(lines))
PYTHON
report_status=$?
((report_status == 0)) || { echo "gpu_report: writing the report failed" >&2; exit 1; }
log "wrote $outdir/report.md ($((SECONDS - started)) s)"
[[ ! -f $outdir/failed.txt ]]
