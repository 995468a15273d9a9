#!/usr/bin/env bash
# One command for every test: installs what this machine lacks, builds
# everything, and runs the whole suite through ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packaging/install-deps.sh
# HIPP_WERROR=ON (set by CI) turns warnings into errors.
cmake --preset release -DHIPP_WERROR="${HIPP_WERROR:-OFF}" >/dev/null
cmake --build --preset release
ctest --preset release
