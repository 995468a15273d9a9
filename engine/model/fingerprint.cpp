#include "model/fingerprint.h"

#include "core/hash.h"

namespace hipp {

std::string model_fingerprint(LlavaModel& model) {
  ContentHash hash;
  auto config = llava_config_to_json(model->config());
  config.erase("torch_dtype");
  hash.add(config.dump());
  for (const auto& p : model->named_parameters()) {
    hash.add(p.key());
    auto values = p.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    hash.add(values.data_ptr(), static_cast<size_t>(values.numel()) * sizeof(float));
  }
  return hash.hex();
}

}  // namespace hipp
