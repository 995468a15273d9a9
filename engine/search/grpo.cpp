#include "search/grpo.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

const char* stability_reference_name(StabilityReference r) {
  switch (r) {
    case StabilityReference::Absolute:
      return "absolute";
    case StabilityReference::Uniform:
      return "uniform";
  }
  return "absolute";
}

StabilityReference parse_stability_reference(const std::string& text, const std::string& where) {
  for (auto r : {StabilityReference::Absolute, StabilityReference::Uniform})
    if (text == stability_reference_name(r)) return r;
  throw Error(where + ": stability_reference must be \"absolute\" or \"uniform\", not \"" + text + "\"");
}

const char* polish_target_name(PolishTarget t) {
  switch (t) {
    case PolishTarget::Budget:
      return "budget";
    case PolishTarget::Plan:
      return "plan";
  }
  return "budget";
}

PolishTarget parse_polish_target(const std::string& text, const std::string& where) {
  for (auto t : {PolishTarget::Budget, PolishTarget::Plan})
    if (text == polish_target_name(t)) return t;
  throw Error(where + ": polish must be \"budget\" or \"plan\", not \"" + text + "\"");
}

GrpoSettings small_budget_grpo_settings() {
  GrpoSettings s;
  s.group = 4;
  s.prefs_per_iter = 2;
  s.lr = 3e-3;
  s.relabel = 4;
  s.replay = 8;
  s.preference_products = true;
  s.budget_polish = 1000;
  s.polish = PolishTarget::Plan;
  return s;
}

nlohmann::json grpo_settings_to_json(const GrpoSettings& s) {
  return {{"iterations", s.iterations},
          {"group", s.group},
          {"prefs_per_iter", s.prefs_per_iter},
          {"clip", s.clip},
          {"epochs", s.epochs},
          {"lr", s.lr},
          {"entropy_coef", s.entropy_coef},
          {"kl_coef", s.kl_coef},
          {"lambda_stab", s.lambda_stab},
          {"tau", s.tau},
          {"temperature", s.temperature},
          {"corner_prob", s.corner_prob},
          {"fixed_share", s.fixed_share},
          {"hidden", s.hidden},
          {"seed", s.seed},
          {"vision_state", s.vision_state},
          {"gate", s.gate},
          {"hierarchical", s.hierarchical},
          {"objective_scale", s.spread_scaled ? "spread" : "dense"},
          {"relabel", s.relabel},
          {"replay", s.replay},
          {"preference_products", s.preference_products},
          {"stability_reference", stability_reference_name(s.stability_reference)},
          {"budget_polish", s.budget_polish},
          {"polish", polish_target_name(s.polish)}};
}

GrpoSettings grpo_settings_from_json(const nlohmann::json& j, const std::string& where) {
  GrpoSettings s;
  s.iterations = static_cast<int>(optional_field<int64_t>(j, "iterations", s.iterations, where));
  s.group = static_cast<int>(optional_field<int64_t>(j, "group", s.group, where));
  s.prefs_per_iter = static_cast<int>(optional_field<int64_t>(j, "prefs_per_iter", s.prefs_per_iter, where));
  s.clip = optional_field<double>(j, "clip", s.clip, where);
  s.epochs = static_cast<int>(optional_field<int64_t>(j, "epochs", s.epochs, where));
  s.lr = optional_field<double>(j, "lr", s.lr, where);
  s.entropy_coef = optional_field<double>(j, "entropy_coef", s.entropy_coef, where);
  s.kl_coef = optional_field<double>(j, "kl_coef", s.kl_coef, where);
  s.lambda_stab = optional_field<double>(j, "lambda_stab", s.lambda_stab, where);
  s.tau = optional_field<double>(j, "tau", s.tau, where);
  s.temperature = optional_field<double>(j, "temperature", s.temperature, where);
  s.corner_prob = optional_field<double>(j, "corner_prob", s.corner_prob, where);
  s.fixed_share = optional_field<double>(j, "fixed_share", 0.0, where);  // absent: a run from before it existed
  s.hidden = optional_field<int64_t>(j, "hidden", s.hidden, where);
  s.seed = static_cast<uint64_t>(optional_field<int64_t>(j, "seed", static_cast<int64_t>(s.seed), where));
  s.vision_state = optional_field<bool>(j, "vision_state", s.vision_state, where);
  s.gate = optional_field<bool>(j, "gate", s.gate, where);
  s.hierarchical = optional_field<bool>(j, "hierarchical", s.hierarchical, where);
  // A run stored before the setting existed weighed the objectives as METHOD.md does.
  const auto scale = optional_field<std::string>(j, "objective_scale", "dense", where);
  if (scale != "dense" && scale != "spread")
    throw Error(where + ": objective_scale must be \"dense\" or \"spread\", not \"" + scale + "\"");
  s.spread_scaled = scale == "spread";
  s.preference_products = optional_field<bool>(j, "preference_products", false, where);
  s.relabel = static_cast<int>(optional_field<int64_t>(j, "relabel", 0, where));  // absent: a run from before it
  s.replay = static_cast<int>(optional_field<int64_t>(j, "replay", 0, where));    // absent: a run from before it
  // A run stored before the setting existed measured the plan's own flow.
  s.stability_reference =
      parse_stability_reference(optional_field<std::string>(j, "stability_reference", "absolute", where), where);
  s.budget_polish = static_cast<int>(optional_field<int64_t>(j, "budget_polish", 0, where));  // absent: before it
  // A run stored before the setting existed polished the budget head alone.
  s.polish = parse_polish_target(optional_field<std::string>(j, "polish", "budget", where), where);
  if (s.budget_polish < 0 || s.budget_polish > 10000) throw Error(where + ": budget_polish must lie in [0, 10000]");
  if (s.group < 2) throw Error(where + ": a group needs at least 2 plans");
  if (s.prefs_per_iter < 1 || s.iterations < 0 || s.epochs < 1) throw Error(where + ": invalid GRPO sizes");
  if (s.relabel < 0 || s.relabel > 64) throw Error(where + ": relabel must lie in [0, 64]");
  if (s.replay < 0 || s.replay > 64) throw Error(where + ": replay must lie in [0, 64]");
  if (!(s.fixed_share >= 0 && s.fixed_share <= 1)) throw Error(where + ": fixed_share must lie in [0, 1]");
  return s;
}

double stability_gate(double rho_min, double tau, double temperature) {
  const double x = (std::log(std::max(rho_min, 1e-300)) - std::log(tau)) / temperature;
  return 1.0 / (1.0 + std::exp(-x));
}

double plan_return(const Preference& w, const Objectives& o, double rho_geo, double lambda_stab) {
  return w[0] * o.robustness + w[1] * o.utility + w[2] * o.compression +
         lambda_stab * std::log(std::max(rho_geo, 1e-300));
}

std::array<double, 3> objective_spread(const std::vector<Objectives>& points, double floor) {
  std::array<double, 3> spread{floor, floor, floor};
  if (points.size() < 2) return spread;
  const double n = static_cast<double>(points.size());
  for (size_t k = 0; k < 3; ++k) {
    auto value = [k](const Objectives& o) { return k == 0 ? o.robustness : k == 1 ? o.utility : o.compression; };
    double mean = 0;
    for (const auto& o : points) mean += value(o) / n;
    double var = 0;
    for (const auto& o : points) var += (value(o) - mean) * (value(o) - mean);
    spread[k] = std::max(floor, std::sqrt(var / (n - 1)));
  }
  return spread;
}

Preference spread_weights(const Preference& w, const std::array<double, 3>& spread) {
  for (double s : spread)
    if (!(s > 0)) throw Error("objective spreads must be positive");
  double sigma_w = 0;
  for (size_t k = 0; k < 3; ++k) sigma_w += w[k] * spread[k];
  Preference out{};
  for (size_t k = 0; k < 3; ++k) out[k] = w[k] * sigma_w / spread[k];
  return out;
}

double return_flow(const ScoredPlan& score, bool vs_uniform) {
  return vs_uniform && score.rho_uniform > 0 ? score.rho_geo / score.rho_uniform : score.rho_geo;
}

bool reads_uniform_flow(const GrpoSettings& settings) {
  return settings.stability_reference == StabilityReference::Uniform ||
         (settings.budget_polish > 0 && settings.polish == PolishTarget::Budget);
}

std::vector<double> group_advantages(const std::vector<double>& returns, const std::vector<double>& gates, double eps) {
  if (returns.size() != gates.size()) throw Error("advantages: returns and gates differ in length");
  if (returns.empty()) return {};
  const double n = static_cast<double>(returns.size());
  const double mean = std::accumulate(returns.begin(), returns.end(), 0.0) / n;
  double var = 0;
  for (double r : returns) var += (r - mean) * (r - mean);
  const double sd = std::sqrt(var / n);
  std::vector<double> out;
  for (size_t i = 0; i < returns.size(); ++i) out.push_back(gates[i] * (returns[i] - mean) / (sd + eps));
  return out;
}

std::vector<double> retained_flow(const std::vector<std::vector<double>>& flow,
                                  const std::vector<std::vector<int64_t>>& kept) {
  if (flow.size() != kept.size()) throw Error("retained flow: layer counts differ");
  std::vector<double> out;
  for (size_t l = 0; l < flow.size(); ++l) {
    const double total = std::accumulate(flow[l].begin(), flow[l].end(), 0.0);
    double kept_flow = 0;
    for (int64_t j : kept[l]) kept_flow += flow[l].at(static_cast<size_t>(j));
    out.push_back(total > 0 ? kept_flow / total : 1.0);
  }
  return out;
}

FlowKept summarise_flow(const std::vector<double>& rho) {
  FlowKept out;
  if (rho.empty()) return out;
  double log_sum = 0;
  for (double r : rho) {
    log_sum += std::log(std::max(r, 1e-300));
    out.min = std::min(out.min, r);
  }
  out.geo = std::exp(log_sum / static_cast<double>(rho.size()));
  return out;
}

Episode sample_episode(HippPolicy& policy, const torch::Tensor& states, const Preference& w,
                       std::optional<double> fixed_sparsity) {
  Episode e;
  e.w = w;
  e.fixed_sparsity = fixed_sparsity;
  e.plan = policy->sample(states, w, fixed_sparsity);
  e.old_log_prob = e.plan.log_prob.item<double>();
  return e;
}

std::vector<Episode> group_episodes(HippPolicy& policy, const torch::Tensor& states, std::vector<Episode> group,
                                    const std::vector<ScoredPlan>& scores, const GrpoSettings& settings,
                                    const std::array<double, 3>& spread, const std::vector<Preference>& relabels,
                                    double* return_sum) {
  if (group.size() != scores.size()) throw Error("GRPO: a group's plans and scores differ in number");
  std::vector<Episode> out;
  if (group.empty()) return out;
  const bool vs_uniform = settings.stability_reference == StabilityReference::Uniform;
  auto advantages_under = [&](const Preference& w, bool own) {
    const Preference weights = settings.spread_scaled ? spread_weights(w, spread) : w;
    std::vector<double> returns, gates;
    for (const auto& score : scores) {
      if (score.failed) {
        returns.push_back(-1.0);  // below any evaluated plan's return
        gates.push_back(1.0);
      } else {
        returns.push_back(plan_return(weights, score.objectives, return_flow(score, vs_uniform), settings.lambda_stab));
        gates.push_back(settings.gate ? stability_gate(score.rho_min, settings.tau, settings.temperature) : 1.0);
      }
      if (own && return_sum) *return_sum += returns.back();
    }
    return group_advantages(returns, gates);
  };
  const auto own = advantages_under(group.front().w, true);
  for (const auto& w : relabels) {
    const auto advantages = advantages_under(w, false);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < group.size(); ++i) {
      Episode e;
      e.w = w;
      e.fixed_sparsity = group[i].fixed_sparsity;
      e.plan = group[i].plan;
      e.old_log_prob = policy->log_prob(states, w, e.plan, e.fixed_sparsity).item<double>();
      e.advantage = advantages[i];
      out.push_back(std::move(e));
    }
  }
  for (size_t i = 0; i < group.size(); ++i) {
    group[i].advantage = own[i];
    out.push_back(std::move(group[i]));
  }
  return out;
}

std::vector<Episode> replay_episodes(HippPolicy& policy, const torch::Tensor& states,
                                     const std::vector<ReplayPlan>& pool, const GrpoSettings& settings,
                                     const std::array<double, 3>& spread, int count) {
  std::vector<Episode> out;
  const auto group_size = static_cast<int64_t>(settings.group);
  if (count <= 0 || static_cast<int64_t>(pool.size()) < group_size) return out;
  for (int r = 0; r < count; ++r) {
    const Preference w = draw_preference(settings.corner_prob);
    const auto picks = torch::randperm(static_cast<int64_t>(pool.size()), torch::kInt64).slice(0, 0, group_size);
    std::vector<Episode> group;
    std::vector<ScoredPlan> scores;
    torch::NoGradGuard no_grad;
    for (int64_t g = 0; g < group_size; ++g) {
      const auto& replayed = pool[static_cast<size_t>(picks[g].item<int64_t>())];
      Episode e;
      e.w = w;
      e.plan.sparsity = replayed.sparsity;
      double total = 0;
      for (double a : replayed.allocation) total += std::max(a, 1e-6);
      for (double a : replayed.allocation) e.plan.allocation.push_back(std::max(a, 1e-6) / total);
      e.plan.ratios = replayed.ratios;
      e.old_log_prob = policy->log_prob(states, w, e.plan, std::nullopt).item<double>();
      group.push_back(std::move(e));
      scores.push_back(replayed.score);
    }
    for (auto& e : group_episodes(policy, states, std::move(group), scores, settings, spread, {}))
      out.push_back(std::move(e));
  }
  return out;
}

UpdateStats grpo_update(HippPolicy& policy, torch::optim::Optimizer& optimizer, const torch::Tensor& states,
                        const std::vector<Episode>& episodes, const GrpoSettings& s, HippPolicy* initial) {
  UpdateStats stats;
  if (episodes.empty()) return stats;
  const double n = static_cast<double>(episodes.size());
  for (int epoch = 0; epoch < s.epochs; ++epoch) {
    optimizer.zero_grad();
    auto loss = torch::zeros({}, torch::kFloat64);
    double clipped = 0, entropy_sum = 0, kl_sum = 0;
    for (const auto& e : episodes) {
      auto lp = policy->log_prob(states, e.w, e.plan, e.fixed_sparsity);
      auto ratio = torch::exp(lp - e.old_log_prob);
      auto unclipped = ratio * e.advantage;
      auto bounded = ratio.clamp(1 - s.clip, 1 + s.clip) * e.advantage;
      loss = loss - torch::min(unclipped, bounded) / n;
      const double r = ratio.item<double>();
      clipped += (r < 1 - s.clip || r > 1 + s.clip) ? 1 : 0;
      if (s.entropy_coef > 0) {
        auto h = policy->entropy(states, e.w, e.fixed_sparsity);
        loss = loss - s.entropy_coef * h / n;
        entropy_sum += h.item<double>();
      }
      if (initial && s.kl_coef > 0) {
        torch::Tensor reference;
        {
          torch::NoGradGuard no_grad;
          reference = (*initial)->log_prob(states, e.w, e.plan, e.fixed_sparsity);
        }
        auto kl = lp - reference;  // sample estimate of KL(pi || pi_0)
        loss = loss + s.kl_coef * kl / n;
        kl_sum += kl.item<double>();
      }
    }
    loss.backward();
    torch::nn::utils::clip_grad_norm_(policy->parameters(), 1.0);
    optimizer.step();
    stats.loss = loss.item<double>();
    stats.entropy = entropy_sum / n;
    stats.kl = kl_sum / n;
    stats.clip_fraction = clipped / n;
  }
  return stats;
}

std::optional<double> draw_group_sparsity(double fixed_share, double s_min, double s_max) {
  if (fixed_share <= 0) return std::nullopt;  // no draw: the stream of a run without fixed groups is unchanged
  const double u = torch::rand({1}, torch::kFloat64).item<double>();
  if (!(u < fixed_share)) return std::nullopt;
  return s_min + torch::rand({1}, torch::kFloat64).item<double>() * (s_max - s_min);
}

Preference draw_preference(double corner_prob) {
  auto u = torch::rand({1}, torch::kFloat64).item<double>();
  if (u < corner_prob) {
    const int corner = static_cast<int>(torch::randint(0, 3, {1}, torch::kInt64).item<int64_t>());
    Preference w{0, 0, 0};
    w[static_cast<size_t>(corner)] = 1;
    return w;
  }
  auto g = at::_standard_gamma(torch::ones({3}, torch::kFloat64));
  g = g / g.sum();
  return {g[0].item<double>(), g[1].item<double>(), g[2].item<double>()};
}

std::vector<Preference> preference_grid(int count) {
  // The smallest triangular grid with at least `count` points: (n+1)(n+2)/2.
  int n = 1;
  while ((n + 1) * (n + 2) / 2 < count) ++n;
  std::vector<Preference> grid;
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n - i; ++j)
      grid.push_back({static_cast<double>(i) / n, static_cast<double>(j) / n, static_cast<double>(n - i - j) / n});
  return grid;
}

}  // namespace hipp
