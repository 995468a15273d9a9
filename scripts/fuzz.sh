#!/usr/bin/env bash
# Builds the parser fuzz targets (fuzz/, clang + libFuzzer + ASan + UBSan)
# and runs each for a fixed time from its seed corpus (fuzz/corpus/<target>,
# the adversarial cases included). Usage:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default 300 s, all seven)
# New inputs that libFuzzer finds go to build-fuzz/corpus/<target>; a crash
# leaves build-fuzz/crash-* (the input that reproduces it) and a non-zero exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(safetensors config blueprint pope scienceqa tokenizer tokenizer_json)
HIPP_FUZZ=1 HIPP_NO_GUI=1 packaging/install-deps.sh  # clang and libFuzzer besides the usual packages
cmake -S fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j2
failed=0
for t in "${targets[@]}"; do
  [[ -x build-fuzz/fuzz_$t ]] || { echo "fuzz: no target '$t'" >&2; exit 2; }
  mkdir -p "build-fuzz/corpus/$t"
  echo "== fuzz_$t for ${seconds} s"
  # Leaks are reported (detect_leaks=1); -rss_limit_mb bounds a single input's memory.
  if ! (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "./fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="crash-$t-" "corpus/$t" "../fuzz/corpus/$t" 2>"fuzz-$t.log"); then
    echo "fuzz: fuzz_$t failed; see build-fuzz/fuzz-$t.log and build-fuzz/crash-$t-*" >&2
    tail -30 "build-fuzz/fuzz-$t.log" >&2
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "build-fuzz/fuzz-$t.log" | tr '\n' ' '
    echo
  fi
done
exit $failed
