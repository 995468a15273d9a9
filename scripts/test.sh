#!/usr/bin/env bash
# One command for every test: installs what this machine lacks, builds
# everything, and runs the whole suite through ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packaging/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release
