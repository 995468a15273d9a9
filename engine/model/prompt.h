#pragma once
// Conversation prompts and their tokenization: LLaVA-1.5's vicuna_v1 layout
// and Qwen2.5-VL's chat template. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
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

// How a model's prompts are written: its conversation layout and the tokens
// an image fills. prompt_format() is the one place that decides it from the
// model's config.
struct PromptFormat {
  enum class Style { Vicuna, QwenChat };
  Style style = Style::Vicuna;
  int64_t image_token = -1;  // one per image feature
  int64_t image_start = -1;  // before an image's tokens; -1 = none
  int64_t image_end = -1;    // after them; -1 = none
};
PromptFormat prompt_format(const LlavaConfig& config);

// One question turn up to where the answer starts: vicuna_v1's
// "USER: <image>\n{question} ASSISTANT:", or Qwen's chat template with its
// default system message, "<|im_start|>user\n<image>{question}<|im_end|>\n
// <|im_start|>assistant\n". "<image>" marks where the image goes.
std::string chat_prompt(const PromptFormat& format, const std::string& question, bool with_image,
                        const PromptOptions& options = {});
// What follows an answer in a conversation: vicuna's EOS (as a token, added
// by the caller) or Qwen's "<|im_end|>\n".
std::string answer_suffix(const PromptFormat& format);
// The opening of a later turn (vicuna: "USER: ... ASSISTANT:"; Qwen:
// "<|im_start|>user\n...<|im_end|>\n<|im_start|>assistant\n").
std::string followup_prompt(const PromptFormat& format, const std::string& question);

// BOS (when the tokenizer has one), then the text pieces, with each "<image>" replaced by
// `image_features` copies of `image_token_index` (the positions the vision
// features fill).
std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, int64_t image_token_index,
                                     int64_t image_features);
// The same with the format's image tokens: each "<image>" becomes
// image_start, `image_features` image tokens, image_end. BOS only when the
// tokenizer has one.
std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, const PromptFormat& format,
                                     int64_t image_features);

}  // namespace hipp
