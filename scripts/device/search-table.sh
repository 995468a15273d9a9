#!/usr/bin/env bash
# The search-quality table (bench/search_quality.cpp) on a larger machine:
# builds bench_search there (scripts/device/cuda-build.sh) and runs one
# process per (budget, seed, method), as many side by side as the machine has
# cores, each on one CPU thread or on the GPU, every one stopped at the
# deadline. Rows (method budget seed hypervolume) land in rows.txt; each
# process's full output (HiPP's controllability and matched-sparsity tables
# included) in its own log. `bench_search --combine rows.txt` prints the
# table.
#
#   scripts/device/search-table.sh [--budgets "256 512"] [--seeds 3]
#       [--methods "hipp uniform owl random nsga2"] [--device cuda|cpu]
#       [--deadline S] [-- EXTRA bench_search ARGUMENTS]
#
# Results in /tmp/hipp-cuda/results, packed into $OUT/results.tar.gz when OUT
# is set. PREBUILT=build uses a build folder of this machine instead (a dry
# run before spending device time).
set -euo pipefail

budgets="256 512"
seeds=3
methods="hipp uniform owl random nsga2"
device=cuda
deadline=540
extra=()
while (($#)); do
  case "$1" in
    --budgets) budgets="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --methods) methods="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --deadline) deadline="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "search-table: unknown argument $1" >&2; exit 2 ;;
  esac
done

results=/tmp/hipp-cuda/results
mkdir -p "$results"
pack() { [[ -n "${OUT:-}" ]] && tar czf "$OUT/results.tar.gz" -C "$results" . || true; }
trap pack EXIT
log() { echo "search-table [$(date +%T)]: $*" >&2; }
if [[ -n "${PREBUILT:-}" ]]; then
  build=$PREBUILT  # a build folder made here already (a dry run on this machine)
else
  # shellcheck source=scripts/device/cuda-build.sh
  source "$(dirname "$0")/cuda-build.sh"
  cuda_build bench_search
fi

bs="$build/bench/bench_search"
model=data/demo/model
bench=data/demo/bench
[[ -f "$model/config.json" && -d "$bench" ]] || { log "no committed demo at data/demo"; exit 1; }
left=$((deadline - SECONDS - 10))
((left > 30)) || { log "no time left after the build ($SECONDS s gone)"; exit 1; }
log "running on $device, each run stopped after $left s; extra arguments: ${extra[*]:-none}"

# Largest budgets first, so the longest runs start early.
jobs_file="$results/jobs.txt"
: >"$jobs_file"
for n in $(printf '%s\n' $budgets | sort -rn); do
  for seed in $(seq 1 "$seeds"); do
    for m in $methods; do echo "$n $seed $m" >>"$jobs_file"; done
  done
done
log "$(wc -l <"$jobs_file") runs, $(nproc) at a time"

run_one() {
  local n=$1 seed=$2 m=$3
  local name="$m-$n-$seed"
  local end=$((START + DEADLINE_AT))
  local remaining=$((end - $(date +%s)))
  ((remaining > 5)) || { echo "skipped: deadline" >"$RESULTS/$name.log"; return 0; }
  timeout "$remaining" "$BS" data/demo/model data/demo/bench "$n" --seeds 1 --first-seed "$seed" --methods "$m" \
    --device "$DEVICE" --threads 1 --rows "$RESULTS/rows-$name.txt" $EXTRA >"$RESULTS/$name.log" 2>&1 ||
    echo "exit status $?" >>"$RESULTS/$name.log"
}
export -f run_one
export BS="$bs" RESULTS="$results" DEVICE="$device" START=$(date +%s) DEADLINE_AT=$left EXTRA="${extra[*]:-}"
xargs -P "$(nproc)" -L 1 bash -c 'run_one "$@"' _ <"$jobs_file" || true
cat "$results"/rows-*.txt >"$results/rows.txt" 2>/dev/null || true
# A warm machine keeps earlier calls' rows: the table covers them all.
log "$(cat "$results"/rows-*.txt 2>/dev/null | wc -l) runs finished on this machine so far ($(wc -l <"$jobs_file") started by this call)"
"$bs" --combine "$results/rows.txt" | tee "$results/table.txt" >&2 || true
