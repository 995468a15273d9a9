#include "state/layer_state.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

std::vector<double> synflow_channel_flow(LlamaMlp& mlp) {
  torch::NoGradGuard no_grad;
  auto g = mlp->gate_proj->weight.detach().to(torch::kCPU, torch::kFloat64).abs().sum(1);
  auto u = mlp->up_proj->weight.detach().to(torch::kCPU, torch::kFloat64).abs().sum(1);
  auto d = mlp->down_proj->weight.detach().to(torch::kCPU, torch::kFloat64).abs().sum(0);
  auto flow = (g * u * d).contiguous();
  return std::vector<double>(flow.data_ptr<double>(), flow.data_ptr<double>() + flow.numel());
}

double low_importance_mass(std::vector<double> importance, double share) {
  if (importance.empty()) return 0.0;
  std::sort(importance.begin(), importance.end());
  const double total = std::accumulate(importance.begin(), importance.end(), 0.0);
  if (total <= 0) return 0.0;
  const auto count = static_cast<size_t>(std::llround(share * static_cast<double>(importance.size())));
  return std::accumulate(importance.begin(), importance.begin() + static_cast<long>(count), 0.0) / total;
}

std::vector<LayerState> compute_layer_states(LlavaModel& model, const CalibrationStats& stats,
                                             const std::vector<std::vector<double>>& importance, Structure structure) {
  auto& layers = model->language_model->model->layers;
  const size_t L = layers.size();
  if (stats.layers.size() != L || importance.size() != L)
    throw Error("layer states: calibration statistics and importance must cover every decoder layer");
  torch::NoGradGuard no_grad;
  std::vector<LayerState> out(L);
  std::vector<double> flow_totals(L);
  double flow_all = 0;
  double previous_flow = 0;
  for (size_t l = 0; l < L; ++l) {
    auto& s = out[l];
    auto& mlp = layers[l]->mlp;
    s.layer = static_cast<int64_t>(l);
    s.position = L > 1 ? static_cast<double>(l) / static_cast<double>(L - 1) : 0.0;
    s.structure = structure;
    s.gate_norm = mlp->gate_proj->weight.detach().to(torch::kFloat64).norm().item<double>();
    s.up_norm = mlp->up_proj->weight.detach().to(torch::kFloat64).norm().item<double>();
    s.down_norm = mlp->down_proj->weight.detach().to(torch::kFloat64).norm().item<double>();
    const auto& a = stats.layers[l];
    if (stats.tokens > 0) {
      const double n = static_cast<double>(stats.tokens);
      s.token_norm_mean = a.token_norm_sum / n;
      s.token_norm_std = std::sqrt(std::max(0.0, a.token_norm_sum_sq / n - s.token_norm_mean * s.token_norm_mean));
    }
    const auto& imp = importance[l];
    const double mean =
        imp.empty() ? 0.0 : std::accumulate(imp.begin(), imp.end(), 0.0) / static_cast<double>(imp.size());
    size_t outliers = 0;
    for (double v : imp) outliers += v > 5.0 * mean ? 1 : 0;
    s.outlier_ratio = imp.empty() ? 0.0 : static_cast<double>(outliers) / static_cast<double>(imp.size());
    for (size_t k = 0; k < kLowMassShares.size(); ++k) s.low_mass[k] = low_importance_mass(imp, kLowMassShares[k]);
    if (stats.vision_samples > 0) {
      const double n = static_cast<double>(stats.vision_samples);
      s.vision_mass = a.vision_mass_sum / n;
      const double flow = a.vision_flow_sum / n;
      s.vision_flow_gain = flow - previous_flow;
      previous_flow = flow;
    }
    const auto flow = synflow_channel_flow(mlp);
    flow_totals[l] = std::accumulate(flow.begin(), flow.end(), 0.0);
    flow_all += flow_totals[l];
  }
  for (size_t l = 0; l < L; ++l) out[l].synflow_share = flow_all > 0 ? flow_totals[l] / flow_all : 0.0;
  return out;
}

nlohmann::json layer_states_to_json(const std::vector<LayerState>& states) {
  auto rows = nlohmann::json::array();
  for (const auto& s : states)
    rows.push_back({{"layer", s.layer},
                    {"position", s.position},
                    {"structure", s.structure == Structure::AttentionHeads ? 1 : 0},
                    {"gate_norm", s.gate_norm},
                    {"up_norm", s.up_norm},
                    {"down_norm", s.down_norm},
                    {"token_norm_mean", s.token_norm_mean},
                    {"token_norm_std", s.token_norm_std},
                    {"outlier_ratio", s.outlier_ratio},
                    {"low_mass", s.low_mass},
                    {"vision_mass", s.vision_mass},
                    {"vision_flow_gain", s.vision_flow_gain},
                    {"synflow_share", s.synflow_share}});
  return rows;
}

std::vector<LayerState> layer_states_from_json(const nlohmann::json& json, const std::string& where) {
  if (!json.is_array()) throw Error(where + ": layer states must be a list");
  std::vector<LayerState> out;
  for (const auto& row : json) {
    LayerState s;
    s.layer = required_field<int64_t>(row, "layer", where);
    s.position = required_field<double>(row, "position", where);
    const auto structure = required_field<int64_t>(row, "structure", where);
    if (structure != 0 && structure != 1)
      throw Error(where + ": structure must be 0 (mlp_channels) or 1 (attention_heads)");
    s.structure = structure == 1 ? Structure::AttentionHeads : Structure::MlpChannels;
    s.gate_norm = required_field<double>(row, "gate_norm", where);
    s.up_norm = required_field<double>(row, "up_norm", where);
    s.down_norm = required_field<double>(row, "down_norm", where);
    s.token_norm_mean = required_field<double>(row, "token_norm_mean", where);
    s.token_norm_std = required_field<double>(row, "token_norm_std", where);
    s.outlier_ratio = required_field<double>(row, "outlier_ratio", where);
    const auto low = required_field<std::vector<double>>(row, "low_mass", where);
    if (low.size() != s.low_mass.size()) throw Error(where + ": low_mass must have 5 entries");
    std::copy(low.begin(), low.end(), s.low_mass.begin());
    s.vision_mass = required_field<double>(row, "vision_mass", where);
    s.vision_flow_gain = required_field<double>(row, "vision_flow_gain", where);
    s.synflow_share = required_field<double>(row, "synflow_share", where);
    out.push_back(s);
  }
  return out;
}

std::vector<std::string> layer_feature_names(bool with_vision) {
  std::vector<std::string> names{"position",        "structure",      "gate_norm",     "up_norm",     "down_norm",
                                 "token_norm_mean", "token_norm_std", "outlier_ratio", "low_mass_10", "low_mass_30",
                                 "low_mass_50",     "low_mass_70",    "low_mass_90"};
  if (with_vision) {
    names.push_back("vision_mass");
    names.push_back("vision_flow_gain");
  }
  names.push_back("synflow_share");
  return names;
}

std::vector<std::vector<double>> layer_features(const std::vector<LayerState>& states, bool with_vision) {
  std::vector<std::vector<double>> rows;
  for (const auto& s : states) {
    std::vector<double> f{s.position,       s.structure == Structure::AttentionHeads ? 1.0 : 0.0,
                          s.gate_norm,      s.up_norm,
                          s.down_norm,      s.token_norm_mean,
                          s.token_norm_std, s.outlier_ratio};
    for (double m : s.low_mass) f.push_back(m);
    if (with_vision) {
      f.push_back(s.vision_mass);
      f.push_back(s.vision_flow_gain);
    }
    f.push_back(s.synflow_share);
    rows.push_back(std::move(f));
  }
  if (rows.empty()) return rows;
  const size_t n = rows.size(), d = rows[0].size();
  for (size_t k = 0; k < d; ++k) {
    double mean = 0, var = 0;
    for (const auto& r : rows) mean += r[k];
    mean /= static_cast<double>(n);
    for (const auto& r : rows) var += (r[k] - mean) * (r[k] - mean);
    const double sd = std::sqrt(var / static_cast<double>(n));
    for (auto& r : rows) r[k] = sd > 1e-12 ? (r[k] - mean) / sd : 0.0;
  }
  return rows;
}

}  // namespace hipp
