#!/usr/bin/env bash
# Hostile input, replayed: every case of the adversarial run behind issue 20
# (docs/fuzzing.md, "Adversary") against the built command line, plus a few
# new ones. Each case must end with exit 1 or 2 (or 0 where the work is
# legitimate), never a signal or a hang, print one "hipp-prune: ..." line
# naming its cause, leave no debris (*.tmp, *.partial-*) and change no file
# it was not asked to write. Prints one line per case and a summary; exits 1
# when any case fails.
#
#   scripts/adversary.sh [HIPP_PRUNE]     (default: build/app/cli/hipp-prune)
#
# About 30 s on 2 cores (a micro demo is built first).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CLI=$(realpath "${1:-build/app/cli/hipp-prune}")
[[ -x $CLI ]] || { echo "adversary: $CLI is not built (cmake --build build)" >&2; exit 2; }
W=$(mktemp -d /tmp/hipp-adversary.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
failures=0
cases=0

# snapshot DIR: names, sizes and checksums of every file below DIR.
snapshot() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }

# check NAME EXPECTED_CODES WATCH_DIR COMMAND...
#   EXPECTED_CODES: e.g. "1 2" or "0"; WATCH_DIR: a folder whose files must
#   not change ("-" for none). The command runs under bash with a 60 s limit.
#   With EXPECT_MESSAGE set (EXPECT_MESSAGE=text check ...), the error line
#   must contain that text.
check() {
  local name=$1 codes=$2 watch=$3
  shift 3
  local before="" after="" code why=""
  cases=$((cases + 1))
  [[ $watch != - ]] && before=$(snapshot "$watch")
  timeout -s KILL 60 bash -c "$*" > out.log 2>&1
  code=$?
  [[ $watch != - ]] && after=$(snapshot "$watch")
  if [[ $code == 137 ]]; then
    why="killed after 60 s (hang)"
  elif ((code > 128)); then
    why="ended by signal $((code - 128))"
  elif [[ " $codes " != *" $code "* ]]; then
    why="exit $code, expected $codes"
  elif [[ $code != 0 ]] && ! grep -q '^hipp-prune: ' out.log; then
    why="no 'hipp-prune: ...' line"
  elif [[ $code != 0 ]] && [[ $(grep -c '^hipp-prune: ' out.log) -gt 1 ]]; then
    why="more than one error line"
  elif [[ -n ${EXPECT_MESSAGE:-} ]] && ! grep '^hipp-prune: ' out.log | grep -qF "$EXPECT_MESSAGE"; then
    why="the error line does not say '$EXPECT_MESSAGE'"
  elif [[ $before != "$after" ]]; then
    why="changed files in $watch"
  elif [[ -n $(find "$W" \( -name '*.tmp' -o -name '*.partial-*' \) -print -quit) ]]; then
    why="debris: $(find "$W" \( -name '*.tmp' -o -name '*.partial-*' \) | head -1)"
  fi
  if [[ -n $why ]]; then
    failures=$((failures + 1))
    printf 'FAIL  %-58s %s\n' "$name" "$why"
    sed 's/^/      | /' out.log | tail -5
  else
    printf 'ok    %-58s exit %s  %s\n' "$name" "$code" "$(grep -m1 '^hipp-prune: ' out.log | cut -c1-90)"
  fi
  find "$W" \( -name '*.tmp' -o -name '*.partial-*' \) -prune -exec rm -rf {} +
}

echo "adversary: $CLI, work folder $W"
"$CLI" demo --out demo --preset micro --steps 3 --batch 4 --pope-images 3 --sqa-problems 6 > setup.log 2>&1 &&
  "$CLI" study create --model demo/model --bench demo/bench --out study.sqlite --pope-per-split 6 --sqa 6 \
    --calibration-samples 4 >> setup.log 2>&1 &&
  "$CLI" baseline --study study.sqlite --method uniform --evals 2 --cache-dir none >> setup.log 2>&1 ||
  { cat setup.log; echo "adversary: setup failed" >&2; exit 2; }
M=demo/model
B=demo/bench

# 1. A file-size limit is a clean error, with no debris, for every writer.
check "ulimit -f: prune" "1" demo "ulimit -f 40; '$CLI' prune $M --sparsity 0.3 --importance magnitude --out x"
check "ulimit -f: export --model" "1" demo "ulimit -f 40; '$CLI' export --study study.sqlite --trial 1 --model xm --cache-dir none"
check "ulimit -f: eval --answers-dir" "0 1" demo "ulimit -f 1; '$CLI' eval $M $B --cache-dir none --answers-dir ans"
cp study.sqlite study-copy.sqlite
EXPECT_MESSAGE="File too large" check "ulimit -f: baseline (the study keeps its trials)" "1" demo \
  "ulimit -f 1; '$CLI' baseline --study study-copy.sqlite --method random --evals 40 --cache-dir none"
check "  ... and the study still reads" "0" - "'$CLI' front --study study-copy.sqlite"

# 2. Absurd sizes are refused before anything is allocated.
mkdir -p huge && cp $M/* huge/
python3 - huge/config.json << 'EOF'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["text_config"]["num_hidden_layers"] = 1000000000
json.dump(c, open(p, "w"))
EOF
check "num_hidden_layers 1e9: info" "1" huge "'$CLI' info huge"
check "finetune --rank 1000000" "1 2" demo "'$CLI' finetune --study study.sqlite --trial 1 --rank 1000000 --steps 1 --out ft"

# 3. Readers do not write.
mkdir -p other && python3 -c "import sqlite3; c = sqlite3.connect('other/notes.sqlite'); c.execute('create table t(a)'); c.commit()"
check "study list: a folder with another SQLite file" "0 1" other "'$CLI' study list other"
: > empty.sqlite
mkdir -p zero && mv empty.sqlite zero/
check "study show: a zero-byte file" "1" zero "'$CLI' study show zero/empty.sqlite"
check "front: a zero-byte file" "1" zero "'$CLI' front --study zero/empty.sqlite"
check "front: a file that is not a study" "1" other "'$CLI' front --study other/notes.sqlite"

# 4. A damaged feature cache is recomputed, not trusted.
"$CLI" eval $M $B --cache-dir cache > /dev/null 2>&1
for f in $(find cache -type f); do head -c 100 /dev/urandom > "$f"; done
check "eval with a damaged feature cache" "0" - "[ -n \"\$(find cache -type f)\" ] && '$CLI' eval $M $B --cache-dir cache"

# 5. Silent garbage becomes an error.
mkdir -p nan && cp $M/* nan/
python3 - nan/model.safetensors << 'EOF'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
name = next(k for k, v in h.items() if k != "__metadata__" and v["dtype"] == "F32" and "mlp" in k)
start = 8 + n + h[name]["data_offsets"][0]
b[start:start + 4] = struct.pack("<f", float("nan"))
open(p, "wb").write(b)
EOF
check "eval: a NaN weight" "1" nan "'$CLI' eval nan $B --cache-dir none"
check "prune: a NaN weight" "1" nan "'$CLI' prune nan --sparsity 0.3 --importance magnitude --out xn"
for field in "rope_theta=0" "rms_norm_eps=-1"; do
  mkdir -p "cfg-$field" && cp $M/* "cfg-$field/"
  python3 - "cfg-$field/config.json" "$field" << 'EOF'
import json, sys
p, kv = sys.argv[1], sys.argv[2]; k, v = kv.split("=")
c = json.load(open(p)); c["text_config"][k] = float(v); json.dump(c, open(p, "w"))
EOF
  check "info: $field" "1" "cfg-$field" "'$CLI' info 'cfg-$field'"
done
mkdir -p emptypope && cp -r $B/* emptypope/
: > emptypope/pope/coco_pope_random.json
check "eval: an empty POPE split" "1" emptypope "'$CLI' eval $M emptypope --cache-dir none"
mkdir -p emptysqa && cp -r $B/* emptysqa/
python3 - emptysqa/scienceqa/pid_splits.json << 'EOF'
import json, sys
p = sys.argv[1]; s = json.load(open(p)); s["test"] = []; json.dump(s, open(p, "w"))
EOF
check "study create: an empty ScienceQA test split" "1" emptysqa \
  "'$CLI' study create --model $M --bench emptysqa --out empty-sqa.sqlite"

# 6. Hangs: FIFOs are refused, threads are capped.
for file in config.json model.safetensors; do
  mkdir -p "fifo-$file" && cp $M/* "fifo-$file/" && rm "fifo-$file/$file" && mkfifo "fifo-$file/$file"
  check "a FIFO as $file" "1" - "'$CLI' eval 'fifo-$file' $B --cache-dir none"
done
check "--threads 1000 (a warning, the work runs)" "0" demo "'$CLI' --threads 1000 eval $M $B --cache-dir none"

# 7. No silent overwrite, no reading outside the benchmark.
echo '{"keep": true}' > keep.json
mkdir -p kept && mv keep.json kept/
check "export --blueprint onto an existing file" "1" kept "'$CLI' export --study study.sqlite --trial 1 --blueprint kept/keep.json"
mkdir -p escape && cp -r $B/* escape/
python3 - escape/pope/coco_pope_random.json << 'EOF'
import json, sys
p = sys.argv[1]; lines = open(p).read().splitlines()
q = json.loads(lines[0]); q["image"] = "../../../../../etc/hostname"; lines[0] = json.dumps(q)
open(p, "w").write("\n".join(lines) + "\n")
EOF
check "a POPE image path with ../" "1" escape "'$CLI' eval $M escape --cache-dir none"

# 8. Smaller ones.
check "--sparsity NaN" "2" demo "'$CLI' prune $M --sparsity nan --out xs"
mkdir -p dirweights && cp $M/* dirweights/ && rm dirweights/model.safetensors && mkdir dirweights/model.safetensors
check "model.safetensors is a directory" "1" dirweights "'$CLI' eval dirweights $B --cache-dir none"
check "a truncated safetensors header" "1" - \
  "mkdir -p trunc && cp $M/* trunc/ && head -c 20 $M/model.safetensors > trunc/model.safetensors && '$CLI' eval trunc $B --cache-dir none"

echo "adversary: $((cases - failures)) of $cases cases held"
((failures == 0))
