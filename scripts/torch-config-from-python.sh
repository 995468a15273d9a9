#!/usr/bin/env bash
# Writes a CMake package (TorchConfig.cmake) for the LibTorch inside a Python
# torch installation (a CUDA wheel included), so that the project, the app
# included, builds against it instead of Debian's CPU-only LibTorch:
#
#   scripts/torch-config-from-python.sh OUT_DIR [PYTHON]
#   HIPP_TORCH_DIR=OUT_DIR cmake --preset cuda && cmake --build --preset cuda
#
# The package names the wheel's headers and libraries directly (torch's own
# package config wants a full CUDA toolkit layout). libtorch_cuda is linked
# even though nothing calls it by name, so that CUDA registers; libstdc++
# comes before the torch libraries, because libtorch.so exports
# std::filesystem functions of its own and a program's
# std::filesystem::remove_all resolved there crashes.
set -euo pipefail
out=${1:?usage: torch-config-from-python.sh OUT_DIR [PYTHON]}
python=${2:-python3}
read -r torch_dir torch_abi torch_version cuda < <("$python" -c \
  'import os, torch; print(os.path.dirname(torch.__file__), int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.__version__, torch.version.cuda or "none")') ||
  { echo "torch-config-from-python: $python cannot import torch" >&2; exit 1; }
lib="$torch_dir/lib"
[[ -f "$lib/libtorch.so" ]] || { echo "torch-config-from-python: no libtorch.so in $lib" >&2; exit 1; }
libs="-Wl,--no-as-needed;stdc++"
for cuda_lib in libtorch_cuda.so libc10_cuda.so; do
  [[ -f "$lib/$cuda_lib" ]] && libs="$libs;$lib/$cuda_lib"
done
libs="$libs;-Wl,--as-needed;$lib/libtorch.so;$lib/libtorch_cpu.so;$lib/libc10.so;-Wl,-rpath,$lib"
mkdir -p "$out"
{
  echo 'add_library(hipp_cuda_torch INTERFACE IMPORTED)'
  echo 'set_target_properties(hipp_cuda_torch PROPERTIES'
  echo "  INTERFACE_INCLUDE_DIRECTORIES \"$torch_dir/include;$torch_dir/include/torch/csrc/api/include\""
  echo "  INTERFACE_COMPILE_DEFINITIONS \"_GLIBCXX_USE_CXX11_ABI=$torch_abi\""
  echo "  INTERFACE_LINK_LIBRARIES \"$libs\")"
  echo 'set(TORCH_LIBRARIES hipp_cuda_torch)'
  echo "set(TORCH_INCLUDE_DIRS \"$torch_dir/include\")"
  echo 'set(Torch_FOUND TRUE)'
} >"$out/TorchConfig.cmake"
echo "torch $torch_version (CUDA $cuda, cxx11 abi $torch_abi) at $torch_dir: wrote $out/TorchConfig.cmake"
