#pragma once
// The per-layer state the HiPP policy reads (METHOD.md section 3,
// docs/study.md): position, weight norms, down_proj-input statistics,
// visual sensitivity and SynFlow-style channel flow, one row per decoder
// layer, computed once per model + calibration set and stored in the study.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/llava.h"
#include "prune/importance.h"

namespace hipp {

struct LayerState {
  int64_t layer = 0;
  double position = 0;                               // l / (L - 1)
  Structure structure = Structure::MlpChannels;      // stored as 0 / 1, a feature as 0.0 / 1.0
  double gate_norm = 0, up_norm = 0, down_norm = 0;  // Frobenius norms
  double token_norm_mean = 0, token_norm_std = 0;    // down_proj input token norms
  double outlier_ratio = 0;                          // share of channels with importance > 5x the layer mean
  std::array<double, 5> low_mass{};                  // importance share of the lowest 10/30/50/70/90% of channels
  double vision_mass = 0;                            // m_l: text-query attention mass on image keys
  double vision_flow_gain = 0;                       // g_l: rollout image-to-text flow gained at this layer
  double synflow_share = 0;                          // the layer's share of the model's total channel flow
};

inline constexpr std::array<double, 5> kLowMassShares{0.1, 0.3, 0.5, 0.7, 0.9};

// SynFlow channel flow of one MLP: (sum_i |Wg[j,i]|) (sum_i |Wu[j,i]|) (sum_k |Wd[k,j]|).
std::vector<double> synflow_channel_flow(LlamaMlp& mlp);

// Share of the total importance held by the lowest `share` of the channels.
double low_importance_mass(std::vector<double> importance, double share);

// States of every decoder layer. `importance` = per-channel wanda-sp scores.
std::vector<LayerState> compute_layer_states(LlavaModel& model, const CalibrationStats& stats,
                                             const std::vector<std::vector<double>>& importance,
                                             Structure structure = Structure::MlpChannels);

nlohmann::json layer_states_to_json(const std::vector<LayerState>& states);
std::vector<LayerState> layer_states_from_json(const nlohmann::json& json, const std::string& where);

// The policy's input: one feature vector per layer, every feature z-scored
// across layers (a constant feature becomes 0). Without vision, the two
// visual-sensitivity features are left out (the ablation).
std::vector<std::vector<double>> layer_features(const std::vector<LayerState>& states, bool with_vision = true);
std::vector<std::string> layer_feature_names(bool with_vision = true);

}  // namespace hipp
