// A ScienceQA folder: problems.json and pid_splits.json. The input holds
// both, separated by the first NUL byte (pid_splits.json first).
#include <algorithm>

#include "core/error.h"
#include "data/scienceqa.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = std::find(data, data + size, uint8_t{0});
  const size_t first = static_cast<size_t>(nul - data);
  hipp::fuzz::write_input("pid_splits.json", data, first);
  hipp::fuzz::write_input("problems.json", nul == data + size ? data + size : nul + 1,
                          nul == data + size ? 0 : size - first - 1);
  try {
    const auto dataset = hipp::read_scienceqa(hipp::fuzz::work_dir());
    for (const auto& [name, pids] : dataset.splits)
      for (const auto& p : dataset.split(name)) {
        (void)hipp::sqa_prompt_text(p);
        if (p.has_image()) (void)dataset.image_path(p);
      }
  } catch (const hipp::Error&) {
  }
  return 0;
}
