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

std::vector<int64_t> tokenize_prompt(const Tokenizer& tokenizer, const std::string& prompt, int64_t image_token_index,
                                     int64_t image_features) {
  std::vector<int64_t> ids = {tokenizer.bos_id()};
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
    ids.insert(ids.end(), static_cast<size_t>(image_features), image_token_index);
    start = at + placeholder.size();
  }
  return ids;
}

}  // namespace hipp
