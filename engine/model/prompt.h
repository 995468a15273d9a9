#pragma once
// The LLaVA-1.5 conversation prompt and its tokenization. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace hipp {

inline constexpr const char* kImagePlaceholder = "<image>";

struct PromptOptions {
  bool system_prompt = false;  // prepend the vicuna_v1 system sentence
};

// The label of a position that carries no loss (the prompt, padding), as
// Hugging Face's trainers use it.
inline constexpr int64_t kIgnoreLabel = -100;

// "USER: <image>\n{question} ASSISTANT:" (no "<image>\n" when with_image is false).
std::string llava_prompt(const std::string& question, bool with_image, const PromptOptions& options = {});

// BOS, then the text pieces, with each "<image>" replaced by
// `image_features` copies of `image_token_index` (the positions the vision
// features fill).
std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, int64_t image_token_index,
                                     int64_t image_features);

}  // namespace hipp
