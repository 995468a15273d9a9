#!/usr/bin/env bash
# Times a 1024x1024 float matmul in LibTorch and fails loudly when the speed is
# that of the reference BLAS (libopenblas0-openmp missing or shadowed).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/check.cpp" <<'CPP'
#include <torch/torch.h>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
int main() {
  torch::manual_seed(0);
  auto a = torch::randn({1024, 1024});
  auto b = torch::randn({1024, 1024});
  auto c = torch::mm(a, b);  // warm-up
  const int repeats = 10;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) c = torch::mm(a, b);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
  double gflops = 2.0 * 1024 * 1024 * 1024 / seconds / 1e9;
  std::string blas = "unknown";
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    auto pos = line.find("/libblas.so");
    if (pos == std::string::npos) pos = line.find("/libopenblas");
    if (pos != std::string::npos) { blas = line.substr(line.find('/')); break; }
  }
  std::printf("%.2f %s\n", gflops, blas.c_str());
}
CPP
torch_include=/usr/include/torch/csrc/api/include
g++ -std=c++17 -O1 -w -I"$torch_include" "$work/check.cpp" -o "$work/check" \
  -ltorch -ltorch_cpu -lc10 -Wl,--no-as-needed -lgomp
read -r gflops blas < <("$work/check")
real_blas=$(readlink -f "$blas" 2>/dev/null || echo "$blas")
echo "check-blas: 1024x1024 float matmul at ${gflops} GFLOP/s, BLAS ${real_blas}" >&2
# The reference BLAS manages ~1-3 GFLOP/s here; OpenBLAS tens or more per core.
if awk -v g="$gflops" 'BEGIN { exit !(g < 8.0) }'; then
  echo "check-blas: ERROR: LibTorch runs at reference-BLAS speed." >&2
  echo "check-blas: install libopenblas0-openmp (not libopenblas0-pthread) and check" >&2
  echo "check-blas: 'update-alternatives --display libblas.so.3-x86_64-linux-gnu'." >&2
  exit 1
fi
echo "check-blas: OK" >&2
