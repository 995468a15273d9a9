#!/usr/bin/env bash
# The full-scale check (docs/cuda.md): on the GPU machine, builds hipp-prune
# (scripts/device/cuda-build.sh), writes a random model of a released shape
# (random-model --preset, bf16, streamed) and runs the whole chain on it with
# the committed demo benchmark (its images resized by the model's processor),
# printing one table: wall time and peak GPU memory of every step, questions
# per second of the plan evaluations, and the share of the GPU's peak bf16
# FLOP/s that a plan evaluation reaches (language-model FLOPs only: 2 per
# weight per token).
#
#   scripts/device/scale-check.sh [--preset llava-1.5-7b|llava-1.5-13b|qwen2.5-vl-3b|micro|...]
#       [--device cuda] [--dtype bf16] [--peak-tflops 989] [--deadline S]
#
# Steps: random-model, info, study create (load + the dense model scored on
# the default search subset: one plan evaluation without pruning), states,
# baseline uniform x 1 (load, calibrate, prune and score one plan), prune +
# export at s = 0.5, train (one GRPO iteration of G = 4 plans), query,
# finetune (20 LoRA steps), then the dense model on the full sets with and
# without shared prompt prefixes. Logs and the table in /tmp/hipp-cuda/scale, packed
# into $OUT/scale.tar.gz when OUT is set. PREBUILT=build uses a build folder
# of this machine (a dry run: --preset micro --device cpu --dtype f32).
set -euo pipefail

preset=llava-1.5-7b
device=cuda
dtype=bf16
peak_tflops=989  # H100 / H200 SXM dense bf16
deadline=480
while (($#)); do
  case "$1" in
    --preset) preset="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --dtype) dtype="$2"; shift 2 ;;
    --peak-tflops) peak_tflops="$2"; shift 2 ;;
    --deadline) deadline="$2"; shift 2 ;;
    *) echo "scale-check: unknown argument $1" >&2; exit 2 ;;
  esac
done

results=/tmp/hipp-cuda/scale
rm -rf "$results"
mkdir -p "$results"
pack() { [[ -n "${OUT:-}" ]] && tar czf "$OUT/scale.tar.gz" -C "$results" . || true; }
trap pack EXIT
log() { echo "scale-check [$(date +%T)]: $*" >&2; }
if [[ -n "${PREBUILT:-}" ]]; then
  build=$PREBUILT
else
  # shellcheck source=scripts/device/cuda-build.sh
  source "$(dirname "$0")/cuda-build.sh"
  cuda_build hipp-prune
fi
cli="$build/app/cli/hipp-prune"
[[ -x "$cli" ]] || { log "no $cli"; exit 1; }
bench=data/demo/bench
[[ -d "$bench" ]] || { log "no committed demo benchmark at $bench"; exit 1; }
model=$results/model
study=$results/study.sqlite
opts=(--device "$device" --dtype "$dtype")

table=$results/table.txt
printf '%-34s %9s %12s  %s\n' "step" "seconds" "peak GPU MB" "note" | tee "$table"
status=0
# step NAME NOTE -- COMMAND...: runs it with a GPU memory sampler beside it.
step() {
  local name=$1 note=$2
  shift 3
  if ((SECONDS > deadline)); then
    printf '%-34s %9s %12s  %s\n' "$name" "-" "-" "skipped: deadline" | tee -a "$table"
    return 0
  fi
  local mem=$results/$name.mem sampler=""
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$mem" 2>/dev/null &
    sampler=$!
  fi
  local start end rc=0
  start=$(date +%s.%N)
  timeout $((deadline - SECONDS + 5)) "$@" >"$results/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  [[ -n "$sampler" ]] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null || true
  local peak="-"
  [[ -s "$mem" ]] && peak=$(sort -n "$mem" | tail -1)
  local secs
  secs=$(awk "BEGIN { print $end - $start }")
  ((rc == 0)) || { note="FAILED (exit $rc): $(tail -1 "$results/$name.log")"; status=1; }
  printf '%-34s %9.1f %12s  %s\n' "$name" "$secs" "$peak" "$note" | tee -a "$table"
  echo "$secs" >"$results/$name.seconds"
}

log "preset $preset on $device ($dtype); logs in $results"
step random-model "random weights (full-scale presets: bf16, streamed)" -- "$cli" --seed 1 random-model --preset "$preset" "$model"
step info "" -- "$cli" --json info "$model"
step study-create "load + dense model on the search subset" -- \
  "$cli" "${opts[@]}" study create --out "$study" --model "$model" --bench "$bench"
step states "load + calibrate + layer states" -- "$cli" "${opts[@]}" states --study "$study"
step plan-evaluation "load + calibrate + prune + score one plan" -- \
  "$cli" "${opts[@]}" baseline --study "$study" --method uniform --evals 1
step prune-export-s0.5 "prune + save at s = 0.5" -- \
  "$cli" "${opts[@]}" prune "$model" --sparsity 0.5 --importance magnitude --out "$results/pruned"
step grpo-iteration-G4 "one iteration, 4 plans" -- \
  "$cli" "${opts[@]}" train --study "$study" --iterations 1 --group 4 --prefs-per-iter 1 --query-grid 0
 
step query "policy only, no model" -- "$cli" query --study "$study" --pref 0.6,0.4,0
step lora-20-steps "20 LoRA steps + merge + score" -- \
  "$cli" "${opts[@]}" finetune --study "$study" --trial 1 --steps 20 --batch 4 --out "$results/finetuned" \
 

# Prompt-prefix sharing on the full POPE set (6 questions per image in each
# split): the dense model scored with and without it (--json: vision
# seconds, prompt tokens, tokens in shared prefixes).
step eval-full-shared "dense, full sets, shared prefixes" -- \
  "$cli" "${opts[@]}" --json eval "$model" "$bench" --subset full --cache-dir none
step eval-full-whole "dense, full sets, every prompt whole" -- \
  "$cli" "${opts[@]}" --json eval "$model" "$bench" --subset full --cache-dir none --shared-prefix-cost 0

# Throughput of the dense scoring: questions of the search subset per second
# and the share of peak FLOP/s (language model only).
if [[ -s "$results/info.log" && -s "$results/study-create.seconds" ]]; then
  python3 - "$results" "$peak_tflops" <<'EOF' | tee -a "$table" || true
import json, sys
results, peak = sys.argv[1], float(sys.argv[2])
text = open(f"{results}/info.log").read()
info = json.loads(text[text.index("{"):])
params = info["parameters"]["language_model"]
image_tokens = info.get("image_features")
if not isinstance(image_tokens, int):
    image_tokens = 256  # Qwen2.5-VL: dynamic; a 448-px image
questions = 600  # default search subset: 3 x 100 POPE + 300 ScienceQA
tokens = questions * (image_tokens + 60)
seconds = float(open(f"{results}/study-create.seconds").read())
flops = 2.0 * params * tokens
print(f"dense scoring: {questions / seconds:.1f} questions/s including the load; at most "
      f"{flops / 1e12:.1f} TFLOP ({params / 1e9:.2f} B language weights x {tokens} tokens): "
      f"{100 * flops / seconds / (peak * 1e12):.1f}% of {peak:.0f} TFLOP/s")
EOF
fi
exit $status
