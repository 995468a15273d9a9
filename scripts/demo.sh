#!/usr/bin/env bash
# One command for a newcomer: installs what this machine lacks, builds, and
# runs hipp-prune on a model it makes (a random-initialised LLaVA of the demo
# model's shape): inspect it, then ask it a question about an image.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packaging/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

cli=build/app/cli/hipp-prune
model=${HIPP_DEMO_MODEL:-${XDG_CACHE_HOME:-$HOME/.cache}/hipp-prune/random-tiny}
if [[ ! -f "$model/config.json" ]]; then
  echo "demo: writing a random tiny LLaVA to $model" >&2
  "$cli" --seed 1 random-model --preset tiny "$model"
fi
"$cli" info "$model"
echo
echo "USER: <image> Is there a dog in the image?  (untrained weights: expect noise)"
"$cli" ask "$model" --image data/examples/gradient.png \
  --question "Is there a dog in the image?" --max-new-tokens 8
