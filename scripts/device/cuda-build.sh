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

  # LibTorch as Python's torch ships it: headers, shared libraries. A minimal
  # package config instead of torch's own (which wants a full CUDA toolkit
  # layout); libtorch_cuda is linked unconditionally so that CUDA registers,
  # and libstdc++ before it: libtorch.so exports std::filesystem functions of
  # its own, and std::filesystem::remove_all resolved there crashes.
  local torch_dir torch_abi torch_version
  read -r torch_dir torch_abi torch_version < <(python3 -c \
    'import os, torch; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.__version__)')
  log "torch $torch_version at $torch_dir (cxx11 abi $torch_abi), cuda available in python: $(python3 -c 'import torch; print(torch.cuda.is_available())')"
  mkdir -p "$work/torch-config"
  {
    echo 'add_library(hipp_cuda_torch INTERFACE IMPORTED)'
    echo 'set_target_properties(hipp_cuda_torch PROPERTIES'
    echo "  INTERFACE_INCLUDE_DIRECTORIES \"$torch_dir/include;$torch_dir/include/torch/csrc/api/include\""
    echo "  INTERFACE_COMPILE_DEFINITIONS \"_GLIBCXX_USE_CXX11_ABI=$torch_abi\""
    echo "  INTERFACE_LINK_LIBRARIES \"-Wl,--no-as-needed;stdc++;$torch_dir/lib/libtorch_cuda.so;$torch_dir/lib/libc10_cuda.so;-Wl,--as-needed;$torch_dir/lib/libtorch.so;$torch_dir/lib/libtorch_cpu.so;$torch_dir/lib/libc10.so;-Wl,-rpath,$torch_dir/lib\")"
    echo 'set(TORCH_LIBRARIES hipp_cuda_torch)'
    echo "set(TORCH_INCLUDE_DIRS \"$torch_dir/include\")"
    echo 'set(Torch_FOUND TRUE)'
  } >"$work/torch-config/TorchConfig.cmake"

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
