#!/usr/bin/env bash
# Downloads (does not install) the Debian 12 packages that
# scripts/device/cuda-check.sh unpacks on a GPU machine without network:
# the libraries and headers hipp-prune builds against, LibTorch excepted
# (that machine's Python torch provides it). Run on a Debian 12 machine.
#
#   scripts/device/fetch-debs.sh [DIR]      (default .deps/debs)
set -euo pipefail
dir="${1:-.deps/debs}"
mkdir -p "$dir"
cd "$dir"
apt-get download \
  nlohmann-json3-dev libcli11-dev libstb-dev libstb0 libsqlite3-dev libsqlite3-0 \
  libpagmo-dev libpagmo8 libboost1.74-dev libboost-serialization1.74-dev libboost-serialization1.74.0 \
  libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5 libeigen3-dev \
  sentencepiece libsentencepiece0 libprotobuf-lite32
echo "fetch-debs: $(ls ./*.deb | wc -l) packages in $dir" >&2
