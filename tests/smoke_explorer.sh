#!/usr/bin/env bash
# Real-window smoke test: builds a micro demo and a small study with the
# command line, opens it in hipp-explorer under a virtual X server, selects
# the best point and saves a screenshot, which must be a non-trivial PNG.
#   smoke_explorer.sh HIPP_EXPLORER HIPP_PRUNE WORK_DIR
set -euo pipefail
explorer=$1 cli=$2 work=$3
rm -rf "$work"
mkdir -p "$work/home"
export HOME="$work/home" XDG_CACHE_HOME="$work/home/cache"
"$cli" demo --preset micro --steps 5 --pope-images 3 --sqa-problems 6 --out "$work/demo" > "$work/demo.log" 2>&1
"$cli" study create --model "$work/demo/model" --bench "$work/demo/bench" --out "$work/study.sqlite" \
  --pope-per-split 6 --sqa 6 --calibration-samples 6 > "$work/study.log" 2>&1
"$cli" baseline --study "$work/study.sqlite" --method random --evals 6 --cache-dir none > "$work/baseline.log" 2>&1
# A 1280x720 screen: the window (the screenshot is the window) must fit it.
xvfb-run -a -s "-screen 0 1280x720x24" "$explorer" "$work/study.sqlite" --screenshot "$work/explorer.png"
size=$(stat -c %s "$work/explorer.png")
head -c 4 "$work/explorer.png" | od -An -c | grep -q "P   N   G" || { echo "not a PNG"; exit 1; }
if (( size < 20000 )); then echo "screenshot too small ($size bytes)"; exit 1; fi
width=$(od -An -tu1 -j16 -N4 "$work/explorer.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
height=$(od -An -tu1 -j20 -N4 "$work/explorer.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
if (( width > 1280 || height > 720 )); then echo "window ${width}x${height} does not fit a 1280x720 screen"; exit 1; fi
echo "screenshot: $work/explorer.png ($size bytes, ${width}x${height})"
# A corrupt study file is a reported failure, not a crash.
echo "this is not a study" > "$work/corrupt.sqlite"
set +e
xvfb-run -a -s "-screen 0 1280x720x24" "$explorer" "$work/corrupt.sqlite" --screenshot "$work/corrupt.png" \
  > "$work/corrupt.log" 2>&1
code=$?
set -e
if (( code != 1 )); then echo "corrupt study: exit $code, expected 1"; cat "$work/corrupt.log"; exit 1; fi
grep -q "Open study failed" "$work/corrupt.log" || { echo "corrupt study: no failure message"; cat "$work/corrupt.log"; exit 1; }
echo "corrupt study: reported ($(grep -m1 'Open study failed' "$work/corrupt.log"))"
