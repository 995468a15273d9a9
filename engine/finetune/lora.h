#pragma once
// LoRA adapters on the language model's projections (METHOD.md section 7):
// y = W x + (alpha / r) B A dropout(x), A [r, in] small random, B [out, r]
// zero, so a fresh adapter leaves the model's outputs unchanged. The base
// weights are frozen; only A and B learn. Merging folds (alpha / r) B A into
// W and removes the adapters, which gives a plain model for export.
#include <string>
#include <vector>

#include "model/llava.h"
#include "model/tensor_io.h"

namespace hipp {

struct LoraOptions {
  int64_t rank = 8;
  double alpha = 16;
  double dropout = 0.05;
  // Projection names inside each decoder layer.
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  uint64_t seed = 1;
};

// The projection names LoRA may target.
const std::vector<std::string>& lora_target_names();

// Attaches fresh adapters to every target projection of every decoder layer
// (a projection pruned to width zero gets none) and freezes every model
// parameter. Throws on an unknown target or a non-positive rank.
void attach_lora(LlavaModel& model, const LoraOptions& options);

// The adapters, named "<projection parameter prefix>.lora_A" / ".lora_B"
// (e.g. "language_model.model.layers.0.self_attn.q_proj.lora_A"), in a fixed order.
NamedTensors lora_tensors(LlavaModel& model);

// Copies saved adapter values into the attached adapters; names and shapes
// must match exactly (the error names the first difference).
void load_lora_tensors(LlavaModel& model, const NamedTensors& saved, const std::string& where);

// W += (alpha / r) B A for every adapter, then removes them.
void merge_lora(LlavaModel& model);
// Removes the adapters without merging.
void remove_lora(LlavaModel& model);

}  // namespace hipp
