#pragma once
// Parameter and FLOP counts from a config alone (pruned configs carry their
// per-layer widths), per decoder layer and for the whole VLM. Torch-free.
//
// FLOPs count one multiply-add as 2 and cover one forward pass over a
// sequence of `tokens` positions (image tokens included): every linear layer,
// attention scores and their weighted sum (full T x T, as a batched
// forward computes them), the lm_head at the last position only (one-pass
// scoring), and the vision tower + projector for one image.
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "prune/budget.h"
#include "prune/blueprint.h"

namespace hipp {

struct DecoderLayerCost {
  int64_t attention_params = 0, mlp_params = 0;
  double flops = 0;
  int64_t params() const { return attention_params + mlp_params; }
};

struct ModelCost {
  std::vector<DecoderLayerCost> layers;
  int64_t embedding_params = 0;  // embed_tokens + lm_head + final norm
  int64_t vision_params = 0, projector_params = 0;
  double decoder_flops = 0, head_flops = 0, vision_flops = 0;
  int64_t decoder_params() const;
  int64_t language_params() const { return decoder_params() + embedding_params; }
  int64_t total_params() const { return language_params() + vision_params + projector_params; }
  double language_flops() const { return decoder_flops + head_flops; }
  double total_flops() const { return language_flops() + vision_flops; }
};

ModelCost model_cost(const LlavaConfig& config, int64_t tokens);

// The prunable units of every decoder layer for a structure type: MLP
// channels (3 x hidden parameters each) or KV-head groups (their query heads'
// q/o slices plus the group's k/v slices).
std::vector<PrunableLayer> prunable_layers(const LlavaConfig& config, Structure structure);

}  // namespace hipp
