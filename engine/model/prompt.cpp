#include "model/prompt.h"

namespace hipp {

std::string llava_prompt(const std::string& question, bool with_image, const PromptOptions& options) {
  std::string prompt;
  if (options.system_prompt)
    prompt +=
        "A chat between a curious human and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the human's questions. ";
  prompt += "USER: ";
  if (with_image) prompt += std::string(kImagePlaceholder) + "\n";
  return prompt + question + " ASSISTANT:";
}

PromptFormat prompt_format(const LlavaConfig& config) {
  PromptFormat f;
  f.image_token = config.image_token_index;
  if (config.is_qwen()) {
    f.style = PromptFormat::Style::QwenChat;
    f.image_start = config.vision_start_token_id;
    f.image_end = config.vision_end_token_id;
  }
  return f;
}

std::string chat_prompt(const PromptFormat& format, const std::string& question, bool with_image,
                        const PromptOptions& options) {
  if (format.style == PromptFormat::Style::Vicuna) return llava_prompt(question, with_image, options);
  return std::string("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n") +
         (with_image ? kImagePlaceholder : "") + question + "<|im_end|>\n<|im_start|>assistant\n";
}

std::string answer_suffix(const PromptFormat& format) {
  return format.style == PromptFormat::Style::QwenChat ? "<|im_end|>\n" : "";
}

std::string followup_prompt(const PromptFormat& format, const std::string& question) {
  if (format.style == PromptFormat::Style::QwenChat)
    return "<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n";
  return "USER: " + question + " ASSISTANT:";
}

std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, int64_t image_token_index,
                                     int64_t image_features) {
  PromptFormat format;
  format.image_token = image_token_index;
  return tokenize_prompt(tokenizer, prompt, format, image_features);
}

std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, const PromptFormat& format,
                                     int64_t image_features) {
  std::vector<int64_t> ids;
  if (tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  const std::string placeholder = kImagePlaceholder;
  size_t start = 0;
  while (true) {
    const size_t at = prompt.find(placeholder, start);
    const std::string segment = prompt.substr(start, at == std::string::npos ? std::string::npos : at - start);
    if (!segment.empty()) {
      auto pieces = tokenizer.encode(segment);
      ids.insert(ids.end(), pieces.begin(), pieces.end());
    }
    if (at == std::string::npos) break;
    if (format.image_start >= 0) ids.push_back(format.image_start);
    ids.insert(ids.end(), static_cast<size_t>(image_features), format.image_token);
    if (format.image_end >= 0) ids.push_back(format.image_end);
    start = at + placeholder.size();
  }
  return ids;
}

}  // namespace hipp
