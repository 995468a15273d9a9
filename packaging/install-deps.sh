#!/usr/bin/env bash
# Installs every Debian 12 package hipp-prune needs. Safe to run again: apt-get
# skips what is already there. Ends by checking that LibTorch multiplies
# matrices at optimized-BLAS speed (the reference BLAS is ~40x slower).
#
#   packaging/install-deps.sh            build + runtime + test packages
#   HIPP_NO_GUI=1 packaging/install-deps.sh   skip Qt and QCustomPlot
#   HIPP_FUZZ=1 packaging/install-deps.sh     also clang and libFuzzer (scripts/fuzz.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libtorch-dev libopenblas0-openmp
  libsqlite3-dev libgtest-dev libgmock-dev
  sentencepiece
  nlohmann-json3-dev libcli11-dev libstb-dev
  libpagmo-dev
  libpq-dev postgresql
)
gui_packages=(
  qt6-base-dev libqcustomplot-dev libqcustomplot2.1-qt6 xvfb xauth
)
if [[ "${HIPP_NO_GUI:-0}" != "1" ]]; then
  packages+=("${gui_packages[@]}")
fi
if [[ "${HIPP_FUZZ:-0}" == "1" ]]; then
  packages+=(clang libclang-rt-14-dev)
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install-deps: all ${#packages[@]} packages present" >&2
fi

# The pthread OpenBLAS fights LibTorch's OpenMP threads; keep it out.
if dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
  echo "install-deps: removing libopenblas0-pthread (conflicts with OpenMP LibTorch)" >&2
  "${sudo_cmd[@]}" apt-get remove -y -qq libopenblas0-pthread >/dev/null
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
"$here/check-blas.sh"
