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

// Preprocessed pixels as a [1, 3, H, W] float32 tensor.
torch::Tensor pixels_from_image(const Image& image, const PreprocessorConfig& config);

struct GenerateOptions {
  int64_t max_new_tokens = 32;
};

// Greedy decoding from `prompt_ids` (image positions already expanded) until
// EOS or max_new_tokens. Returns the new token ids. Recomputes the whole
// prefix each step: simple and exact, fine for short answers.
std::vector<int64_t> generate_greedy(LlavaModel& model, const std::vector<int64_t>& prompt_ids,
                                     const torch::Tensor& image_features, int64_t eos_id,
                                     const GenerateOptions& options = {});

}  // namespace hipp
