#pragma once
// Turning an image and a question into model inputs, and greedy answers.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/image.h"
#include "model/llava.h"
#include "model/prompt.h"

namespace hipp {

struct GenerateOptions {
  int64_t max_new_tokens = 32;
};

// Greedy decoding from `prompt_ids` (image positions already expanded) until
// EOS or max_new_tokens. Returns the new token ids. Recomputes the whole
// prefix each step: simple and exact, fine for short answers.
// `grids`: the images' patch grids (Qwen2.5-VL's positions need them).
std::vector<int64_t> generate_greedy(LlavaModel& model, const std::vector<int64_t>& prompt_ids,
                                     const torch::Tensor& image_features, const std::vector<PatchGrid>& grids,
                                     int64_t eos_id, const GenerateOptions& options = {});

}  // namespace hipp
