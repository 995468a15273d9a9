#include "model/generate.h"

namespace hipp {

std::vector<int64_t> generate_greedy(LlavaModel& model, const std::vector<int64_t>& prompt_ids,
                                     const torch::Tensor& image_features, const std::vector<PatchGrid>& grids,
                                     int64_t eos_id, const GenerateOptions& options) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = prompt_ids;
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    LlavaInputs inputs;
    inputs.input_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    inputs.image_features = image_features;
    inputs.image_grids = grids;
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
