# Sourced by the scripts in scripts/device: builds targets of this project on
# a GPU machine against the CUDA LibTorch of its Python torch, with the Debian
# 12 libraries unpacked from .deb files (scripts/device/fetch-debs.sh, folder
# DEBS, default .deps/debs) into a private prefix, never into /.
#
#   source scripts/device/cuda-build.sh
#   cuda_build TARGET ...    (sets $build; exports PATH and LD_LIBRARY_PATH)
#
# The caller provides $results (a folder for the logs) and a `log` function.

cuda_build() {
  root=$(pwd)
  local debs="${DEBS:-$root/.deps/debs}"
  work=/tmp/hipp-cuda
  local prefix=$work/deps
  build=$work/build
  mkdir -p "$prefix" "$results"
  log "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
  g++ --version | head -1 >&2
  [[ -d "$debs" ]] || { echo "cuda-build: no .deb folder at $debs" >&2; return 1; }
  for f in "$debs"/*.deb; do dpkg -x "$f" "$prefix"; done
  # pagmo's package files name /usr outright: point them at the prefix.
  sed -i "s#\"/usr#\"$prefix/usr#g" "$prefix"/usr/lib/x86_64-linux-gnu/cmake/pagmo/*.cmake
  log "unpacked $(ls "$debs" | wc -l) packages into $prefix"

  # LibTorch as Python's torch ships it (scripts/torch-config-from-python.sh:
  # headers and libraries named directly, libtorch_cuda linked so that CUDA
  # registers, libstdc++ before torch).
  local torch_line
  torch_line=$("$root/scripts/torch-config-from-python.sh" "$work/torch-config") || return 1
  log "$torch_line"
  log "cuda available in python: $(python3 -c 'import torch; print(torch.cuda.is_available())')"

  local arch_lib="$prefix/usr/lib/x86_64-linux-gnu"
  local bench=OFF
  [[ " $* " == *" bench_"* ]] && bench=ON
  log "configuring"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DHIPP_BUILD_APP=OFF -DHIPP_BUILD_TESTS=OFF -DHIPP_BUILD_BENCH=$bench -DHIPP_USE_CCACHE=OFF \
    -DTorch_DIR="$work/torch-config" -DCMAKE_PREFIX_PATH="$prefix/usr" \
    -DCMAKE_BUILD_RPATH="$arch_lib" >"$results/configure.log" 2>&1 ||
    { tail -40 "$results/configure.log" >&2; return 1; }
  log "building $* ($(nproc) jobs)"
  cmake --build "$build" --target "$@" -j "$(nproc)" >"$results/build.log" 2>&1 ||
    { grep -m 20 -A 6 "error" "$results/build.log" >&2; return 1; }
  log "built"

  # spm_train (the tokenizer trainer) through a wrapper in the work folder
  # that gives it its libraries.
  mkdir -p "$work/bin"
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$arch_lib" "$prefix/usr/bin/spm_train" >"$work/bin/spm_train"
  chmod +x "$work/bin/spm_train"
  export PATH="$work/bin:$PATH"
  # The run path covers the project's own libraries, not theirs (boost for pagmo).
  export LD_LIBRARY_PATH="$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
