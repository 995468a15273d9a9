#include "prune/cost.h"

#include <algorithm>

namespace hipp {

int64_t ModelCost::decoder_params() const {
  int64_t total = 0;
  for (const auto& l : layers) total += l.params();
  return total;
}

ModelCost model_cost(const LlavaConfig& c, int64_t tokens) {
  ModelCost cost;
  const auto& t = c.text;
  const int64_t D = t.hidden_size, hd = t.head_dim;
  const double T = static_cast<double>(tokens);
  for (const auto& w : t.layers) {
    DecoderLayerCost l;
    const int64_t q = w.num_attention_heads * hd, kv = w.num_key_value_heads * hd;
    l.attention_params = D * q + 2 * D * kv + q * D;
    l.mlp_params = 3 * D * w.intermediate_size + (t.mlp_down_bias ? D : 0);
    const int64_t norms = 2 * D;
    l.attention_params += norms;  // the two RMSNorm weights count with the layer
    if (t.qkv_bias) l.attention_params += q + 2 * kv;
    // Linear layers: 2 FLOPs per weight per token; attention: QK^T and PV.
    l.flops = 2.0 * T * static_cast<double>(D * q + 2 * D * kv + q * D + 3 * D * w.intermediate_size) +
              4.0 * T * T * static_cast<double>(q);
    cost.decoder_flops += l.flops;
    cost.layers.push_back(l);
  }
  cost.embedding_params = (t.tie_word_embeddings ? 1 : 2) * t.vocab_size * D + D;
  cost.head_flops = 2.0 * static_cast<double>(D * t.vocab_size);

  if (c.is_qwen()) {
    // Windowed ViT + patch merger (the merger counts as the projector), for
    // a nominal image.
    const auto& q = c.qwen_vision;
    const int64_t d = q.hidden_size, I = q.intermediate_size, merged = d * q.merge_unit();
    const int64_t per_block = 2 * d + 3 * d * d + 3 * d + d * d + d + 2 * (d * I + I) + I * d + d;
    cost.vision_params = q.patch_dim() * d + q.depth * per_block;
    cost.projector_params = d + merged * merged + merged + merged * q.out_hidden_size + q.out_hidden_size;
    const double N = static_cast<double>(c.nominal_image_tokens() * q.merge_unit());
    const double window = std::min(N, static_cast<double>(q.window_units() * q.window_units() * q.merge_unit()));
    const double full = static_cast<double>(q.fullatt_block_indexes.size());
    const double windowed = static_cast<double>(q.depth) - full;
    cost.vision_flops = 2.0 * N * static_cast<double>(q.patch_dim() * d) +
                        static_cast<double>(q.depth) * 2.0 * N * static_cast<double>(4 * d * d + 3 * d * I) +
                        4.0 * N * static_cast<double>(d) * (windowed * window + full * N) +
                        2.0 * (N / static_cast<double>(q.merge_unit())) *
                            static_cast<double>(merged * merged + merged * q.out_hidden_size);
    return cost;
  }

  const auto& v = c.vision;
  const int64_t Dv = v.hidden_size, N = v.num_patches() + 1;
  const int64_t per_layer = 4 * (Dv * Dv + Dv) + 4 * Dv + 2 * Dv * v.intermediate_size + v.intermediate_size + Dv;
  cost.vision_params = Dv + Dv * v.num_channels * v.patch_size * v.patch_size + N * Dv + 2 * Dv +
                       v.num_hidden_layers * per_layer + 2 * Dv;
  cost.projector_params = Dv * D + D + D * D + D;
  const int64_t used_layers = c.vision_hidden_state_index();
  cost.vision_flops =
      2.0 * static_cast<double>(Dv * v.num_channels * v.patch_size * v.patch_size * (N - 1)) +
      static_cast<double>(used_layers) *
          (2.0 * static_cast<double>(N) * static_cast<double>(4 * Dv * Dv + 2 * Dv * v.intermediate_size) +
           4.0 * static_cast<double>(N * N * Dv)) +
      2.0 * static_cast<double>(c.nominal_image_tokens()) * static_cast<double>(Dv * D + D * D);
  return cost;
}

std::vector<PrunableLayer> prunable_layers(const LlavaConfig& c, Structure structure) {
  std::vector<PrunableLayer> out;
  const int64_t D = c.text.hidden_size, hd = c.text.head_dim;
  for (const auto& w : c.text.layers) {
    PrunableLayer p;
    if (structure == Structure::MlpChannels) {
      p.units = w.intermediate_size;
      p.params_per_unit = 3 * D;
    } else {
      const int64_t q_per_kv = w.num_key_value_heads > 0 ? w.num_attention_heads / w.num_key_value_heads : 1;
      p.units = w.num_key_value_heads;
      p.params_per_unit = 2 * q_per_kv * hd * D + 2 * hd * D;
    }
    out.push_back(p);
  }
  return out;
}

}  // namespace hipp
