#pragma once
// Writes a pruned model as a Hugging Face-layout folder: safetensors with the
// real (sliced) shapes, config.json with per-layer widths, the source
// folder's tokenizer and preprocessor files, and blueprint.json. The folder is
// assembled under a temporary name and renamed into place, so a failed or
// interrupted export leaves nothing half-written. A fine-tuned model also
// records its fine-tuning (settings, steps, data) as finetune.json.
#include <string>

#include <nlohmann/json.hpp>

#include "model/llava.h"
#include "prune/blueprint.h"

namespace hipp {

void export_pruned_model(LlavaModel& pruned, const Blueprint& blueprint, const std::string& source_dir,
                         const std::string& out_dir, const nlohmann::json& finetune = nullptr);

}  // namespace hipp
