#!/usr/bin/env bash
# Builds hipp-prune against the CUDA LibTorch of a machine's Python torch and
# runs the engine on the GPU: the demo (train + evaluate), eval, prune, a
# study with a baseline, one GRPO iteration and a policy query, all with
# --device cuda. Then, optionally, several demo trainings side by side (one
# per line of a sweep file: extra `hipp-prune demo` arguments).
#
# For a machine with a GPU, torch for Python and a compiler, but without
# Debian's packages and without network: the libraries hipp-prune needs come
# as Debian 12 .deb files in DEBS (default .deps/debs, fetched beforehand on
# a Debian 12 machine with scripts/device/fetch-debs.sh) and are unpacked
# into a private prefix, never into /.
#
#   scripts/device/cuda-check.sh [--sweep FILE] [--deadline S]
#
# Logs and reports land in /tmp/hipp-cuda/results, packed into
# $OUT/results.tar.gz when OUT is set.
#
# --deadline: seconds after the script's start by which every sweep run must
# have ended (each is stopped then; its last progress line still shows how far
# it got).
set -euo pipefail

sweep=""
deadline=540
results=/tmp/hipp-cuda/results
while (($#)); do
  case "$1" in
    --sweep) sweep="$2"; shift 2 ;;
    --deadline) deadline="$2"; shift 2 ;;
    *) echo "cuda-check: unknown argument $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$results"
# Everything comes back as one archive when the caller gives an OUT folder.
pack() { [[ -n "${OUT:-}" ]] && tar czf "$OUT/results.tar.gz" -C "$results" . || true; }
trap pack EXIT
log() { echo "cuda-check [$(date +%T)]: $*" >&2; }
# shellcheck source=scripts/device/cuda-build.sh
source "$(dirname "$0")/cuda-build.sh"
cuda_build hipp-prune

hp="$build/app/cli/hipp-prune"

# Where a step crashes, a backtrace (cuda-gdb also debugs host code).
debugger=$(command -v cuda-gdb || ls /usr/local/cuda*/bin/cuda-gdb 2>/dev/null | head -1 || true)
backtrace() {
  [[ -n "$debugger" ]] || { log "no debugger for a backtrace"; return 0; }
  log "backtrace of: $*"
  timeout 120 "$debugger" -batch -ex run -ex bt --args "$@" 2>&1 | grep -v "^\[New Thread\|^\[Thread" | tail -40 || true
}
log "micro demo on the cpu"
if ! "$hp" --device cpu demo --preset micro --out "$work/micro-cpu" --pope-images 8 --sqa-problems 24 --steps 20 >"$results/micro-cpu.log" 2>&1; then
  tail -5 "$results/micro-cpu.log" >&2
  backtrace "$hp" --device cpu demo --preset micro --out "$work/micro-cpu-bt" --pope-images 8 --sqa-problems 24 --steps 20 >&2
fi

# The engine on the GPU, end to end on the micro preset (seconds).
micro=$work/micro
rm -rf "$micro"
step() { log "$1"; shift; "$@" || { log "failed: $*"; exit 1; }; }
(
  step "micro demo on cuda" "$hp" --device cuda demo --preset micro --out "$micro" --pope-images 8 --sqa-problems 24 --steps 60
  step "eval on cuda" "$hp" --device cuda eval "$micro/model" "$micro/bench" --subset full --cache-dir none
  step "prune on cuda" "$hp" --device cuda prune "$micro/model" --calibration "$micro/bench" --sparsity 0.5 --out "$micro/pruned" --cache-dir none
  step "eval of the pruned model on cuda" "$hp" --device cuda eval "$micro/pruned" "$micro/bench" --subset full --cache-dir none
  step "study + uniform baseline on cuda" "$hp" --device cuda study create --out "$micro/study.sqlite" --model "$micro/model" --bench "$micro/bench" --pope-per-split 12 --sqa 12
  step "baseline" "$hp" --device cuda baseline --study "$micro/study.sqlite" --method uniform --evals 3 --cache-dir none
  step "one GRPO iteration on cuda" "$hp" --device cuda train --study "$micro/study.sqlite" --iterations 1 --group 2 --prefs-per-iter 1 --query-grid 0 --cache-dir none
  step "policy query on cuda" "$hp" --device cuda query --study "$micro/study.sqlite" --pref 0.6,0.2,0.2 --evaluate --cache-dir none
  step "front" "$hp" front --study "$micro/study.sqlite"
) >"$results/micro.log" 2>&1 && log "engine on cuda: all steps passed" || {
  log "engine on cuda: a step failed"
  tail -30 "$results/micro.log" >&2
  if [[ ! -d "$micro/model" ]]; then
    backtrace "$hp" --device cuda demo --preset micro --out "$work/micro-bt" --pope-images 8 --sqa-problems 24 --steps 20 >&2
    sweep=""  # the demo itself fails on the GPU: no sweep
  fi
}

# Demo trainings side by side on the one GPU.
if [[ -n "$sweep" ]]; then
  sweep_timeout=$((deadline - SECONDS - 15))
  ((sweep_timeout > 30)) || { log "sweep: no time left ($SECONDS s gone)"; exit 0; }
  log "sweep: each run gets $sweep_timeout s"
  jobs_dir="$results/sweep"
  mkdir -p "$jobs_dir"
  n=0
  while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    n=$((n + 1))
    name="run$n"
    echo "$line" >"$jobs_dir/$name.args"
    # shellcheck disable=SC2086
    (timeout "$sweep_timeout" "$hp" --device "${SWEEP_DEVICE:-cuda}" --threads 1 --json demo --out "$work/sweep/$name" $line \
      >"$jobs_dir/$name.json" 2>"$jobs_dir/$name.log"; echo $? >"$jobs_dir/$name.rc") &
  done <"$sweep"
  log "sweep: $n demo runs started"
  wait
  log "sweep: done"
  for f in "$jobs_dir"/*.args; do
    r=${f%.args}
    python3 - "$r" <<'PY' >&2 || true
import json, os, sys
r = sys.argv[1]
args = open(r + ".args").read().strip()
rc = open(r + ".rc").read().strip() if os.path.exists(r + ".rc") else "?"
try:
    j = json.load(open(r + ".json"))
    t = j["test"]; s = t["scienceqa"]; b = j["blank_images"]
    pope = " ".join(f"{k[:3]} {v['f1']:.3f}/{v['yes_ratio']:.2f}" for k, v in t["pope"].items())
    blank = max(v["accuracy"] for v in b["pope"].values())
    print(f"{r.split('/')[-1]} rc {rc} [{args}] POPE mean {t['pope_mean_f1']:.3f} ({pope}) blank {blank:.2f} "
          f"SQA {s['accuracy']:.3f} img {s['image_accuracy']:.3f} txt {s['text_accuracy']:.3f} train {j['train_seconds']:.0f}s")
except Exception as e:
    last = open(r + ".log").read().strip().splitlines()[-1:] or [""]
    print(f"{r.split('/')[-1]} rc {rc} [{args}] no result: {last[0][:200]}")
PY
  done
fi
