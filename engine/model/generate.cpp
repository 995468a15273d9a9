#include "model/generate.h"

namespace hipp {

torch::Tensor pixels_from_image(const Image& image, const PreprocessorConfig& config) {
  auto values = preprocess_image(image, config);
  return torch::from_blob(values.data(), {1, 3, config.crop_height, config.crop_width}, torch::kFloat32).clone();
}

std::vector<int64_t> generate_greedy(LlavaModel& model, const std::vector<int64_t>& prompt_ids,
                                     const torch::Tensor& image_features, int64_t eos_id,
                                     const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = prompt_ids;
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    LlavaInputs inputs;
    inputs.input_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    inputs.image_features = image_features;
    ForwardOptions forward;
    forward.last_position_only = true;
    auto logits = model->forward(inputs, forward);
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    if (next == eos_id) break;
    generated.push_back(next);
    ids.push_back(next);
  }
  return generated;
}

}  // namespace hipp
