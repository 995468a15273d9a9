#pragma once
// What a model folder holds, read from config.json and the safetensors
// headers alone (no weights are loaded). Torch-free.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"

namespace hipp {

struct ModelSummary {
  std::string dir;
  LlavaConfig config;
  size_t files = 0;                       // safetensors files
  std::map<std::string, int64_t> dtypes;  // stored dtype -> tensor count
  int64_t language_model_params = 0;
  int64_t vision_tower_params = 0;
  int64_t projector_params = 0;
  std::vector<int64_t> decoder_layer_params;
  int64_t total_params() const { return language_model_params + vision_tower_params + projector_params; }
};

ModelSummary summarize_model_folder(const std::string& dir);
nlohmann::json summary_to_json(const ModelSummary& summary);
// Human-readable multi-line description with a per-layer table.
std::string summary_to_text(const ModelSummary& summary);

}  // namespace hipp
