#!/usr/bin/env bash
# The robustness-utility bar of docs/policy.md, checked from outside the
# policy code: trains the policy with `train`'s defaults on a fresh study of
# a model (the committed demo by default), asks it for the plan of
# w = (x, 1 - x, 0), x = 0, 0.1, ..., 1, at one sparsity, and scores each
# plan itself: `prune --allocation` (the plan's blueprint, replayed with the
# study's calibration) and `eval --subset full`. Uniform pruning at the same
# sparsity is scored the same way. Prints one row per plan, then
#   Spearman(x, POPE mean F1) (goal >= 0.8), Spearman(x, ScienceQA) (<= -0.5),
#   the robustness-leaning plan's POPE F1 over uniform (>= +2 points) and the
#   utility-leaning plan's ScienceQA over the robustness-leaning one (>= +2),
# and exits 0 when all four hold, 1 when one does not.
#
#   scripts/check-tradeoff-bar.sh [--model DIR] [--bench DIR] [--work DIR]
#       [--study STUDY.sqlite] [--sparsity 0.5] [--points 11] [--seed N]
#       [--pope-per-split 300]
#
# The fresh study's search subset has 300 POPE questions per split (as
# scripts/demo.sh makes it; `study create`'s default is 100) and 300
# ScienceQA problems. --study uses a study that already has a trained policy
# (no creation, no training). --seed trains with that seed (train's default:
# 1). About 14 minutes on 2 cores with the demo (7 of them training).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cli=${HIPP_PRUNE:-$root/build/app/cli/hipp-prune}
model=$root/data/demo/model
bench=$root/data/demo/bench
work=/tmp/hipp-tradeoff-bar
study=
sparsity=0.5
points=11
train_seed=()
pope_per_split=300
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --study) study=$2; shift 2 ;;
    --sparsity) sparsity=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --seed) train_seed=(--seed "$2"); shift 2 ;;
    --pope-per-split) pope_per_split=$2; shift 2 ;;
    *) echo "check-tradeoff-bar: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$cli" ]] || { echo "check-tradeoff-bar: $cli not built (cmake --build --preset release)" >&2; exit 2; }
((points >= 2)) || { echo "check-tradeoff-bar: --points must be at least 2" >&2; exit 2; }
mkdir -p "$work"
log() { echo "check-tradeoff-bar: $*" >&2; }

if [[ -z "$study" ]]; then
  study=$work/study.sqlite
  rm -f "$study"
  log "study create ($model, $bench)"
  "$cli" study create --model "$model" --bench "$bench" --out "$study" --pope-per-split "$pope_per_split" --sqa 300 \
    >"$work/create.log" 2>&1
  log "train (defaults)"
  "$cli" "${train_seed[@]}" train --study "$study" >"$work/train.log" 2>&1
fi
"$cli" --json study show "$study" >"$work/study.json"
# The study's calibration, so that a replayed blueprint finds the channels it chose.
read -r samples seed < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["settings"]["calibration"]
print(c["samples"], c["seed"])' "$work/study.json")

score() {  # NAME PRUNE-ARGS...: prune, then eval on the full sets, into $work/NAME.json
  local name=$1
  shift
  rm -rf "$work/$name"
  "$cli" --seed "$seed" prune "$model" --out "$work/$name" --calibration "$bench" --calibration-samples "$samples" \
    "$@" >"$work/$name.prune.log" 2>&1 || { tail -3 "$work/$name.prune.log" >&2; exit 1; }
  "$cli" --json eval "$work/$name" "$bench" --subset full >"$work/$name.json" 2>"$work/$name.eval.log" ||
    { tail -3 "$work/$name.eval.log" >&2; exit 1; }
  rm -rf "${work:?}/$name"
}

log "uniform at s = $sparsity"
score uniform --sparsity "$sparsity" --allocation uniform
for ((k = 0; k < points; ++k)); do
  x=$(python3 -c "print(round($k / ($points - 1), 6))")
  log "w = ($x, 1 - $x, 0)"
  "$cli" --json query --study "$study" --pref "$x,$(python3 -c "print(round(1 - $x, 6))"),0" --sparsity "$sparsity" |
    python3 -c 'import json, sys; json.dump(json.load(sys.stdin)["blueprint"], open(sys.argv[1], "w"))' \
      "$work/plan-$k.blueprint.json"
  score "plan-$k" --allocation "$work/plan-$k.blueprint.json"
done

python3 - "$work" "$points" <<'EOF'
import json, sys

work, points = sys.argv[1], int(sys.argv[2])

def scores(name):
    r = json.load(open(f"{work}/{name}.json"))
    return r["pope_mean_f1"], r["scienceqa"]["accuracy"]

def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out

def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb) if va > 0 and vb > 0 else 0.0

xs, pope, sqa = [], [], []
print(f"{'w = (x, 1-x, 0)':>16} {'POPE mean F1':>13} {'ScienceQA':>10}")
for k in range(points):
    x = k / (points - 1)
    p, s = scores(f"plan-{k}")
    xs.append(x), pope.append(p), sqa.append(s)
    print(f"{x:>16.2f} {p:>13.4f} {s:>10.4f}")
up, us = scores("uniform")
print(f"{'uniform':>16} {up:>13.4f} {us:>10.4f}")
checks = [
    ("Spearman(x, POPE) >= 0.8", spearman(xs, pope), spearman(xs, pope) >= 0.8),
    ("Spearman(x, ScienceQA) <= -0.5", spearman(xs, sqa), spearman(xs, sqa) <= -0.5),
    ("robust plan's POPE over uniform >= +2 points", 100 * (pope[-1] - up), 100 * (pope[-1] - up) >= 2),
    ("utility plan's ScienceQA over robust >= +2 points", 100 * (sqa[0] - sqa[-1]), 100 * (sqa[0] - sqa[-1]) >= 2),
]
print()
for name, value, ok in checks:
    print(f"{name:<52} {value:+8.3f}  {'met' if ok else 'NOT met'}")
sys.exit(0 if all(ok for _, _, ok in checks) else 1)
EOF
