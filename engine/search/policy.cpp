#include "search/policy.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hipp {

torch::Tensor beta_log_prob(const torch::Tensor& alpha, const torch::Tensor& beta, const torch::Tensor& x, double lo,
                            double hi) {
  auto u = ((x - lo) / (hi - lo)).clamp(1e-12, 1 - 1e-12);
  return (alpha - 1) * torch::log(u) + (beta - 1) * torch::log1p(-u) + torch::lgamma(alpha + beta) -
         torch::lgamma(alpha) - torch::lgamma(beta) - std::log(hi - lo);
}

torch::Tensor dirichlet_log_prob(const torch::Tensor& k, const torch::Tensor& x) {
  return torch::lgamma(k.sum()) - torch::lgamma(k).sum() + ((k - 1) * torch::log(x.clamp_min(1e-300))).sum();
}

torch::Tensor beta_entropy(const torch::Tensor& a, const torch::Tensor& b, double lo, double hi) {
  const auto log_beta = torch::lgamma(a) + torch::lgamma(b) - torch::lgamma(a + b);
  return log_beta - (a - 1) * torch::digamma(a) - (b - 1) * torch::digamma(b) + (a + b - 2) * torch::digamma(a + b) +
         std::log(hi - lo);
}

torch::Tensor dirichlet_entropy(const torch::Tensor& k) {
  const auto k0 = k.sum();
  const auto n = static_cast<double>(k.numel());
  const auto log_b = torch::lgamma(k).sum() - torch::lgamma(k0);
  return log_b + (k0 - n) * torch::digamma(k0) - ((k - 1) * torch::digamma(k)).sum();
}

namespace {

torch::Tensor preference_tensor(const Preference& w) { return torch::tensor({w[0], w[1], w[2]}, torch::kFloat64); }

torch::Tensor sample_beta(const torch::Tensor& alpha, const torch::Tensor& beta) {
  const auto a = at::_standard_gamma(alpha.detach());
  const auto b = at::_standard_gamma(beta.detach());
  return (a / (a + b)).clamp(1e-6, 1 - 1e-6);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

int64_t encoder_inputs(const PolicyConfig& c) {
  return c.state_dim + 3 + (c.preference_products ? 3 * c.state_dim : 0);
}

}  // namespace

HippPolicyImpl::HippPolicyImpl(const PolicyConfig& config) : config_(config) {
  if (config.state_dim < 1) throw Error("policy: the layer state needs at least one feature");
  if (!(config.s_min >= 0 && config.s_min < config.s_max && config.s_max < 1))
    throw Error("policy: the sparsity range must satisfy 0 <= s_min < s_max < 1");
  const int64_t H = config.hidden;
  encoder =
      register_module("encoder", torch::nn::Sequential(torch::nn::Linear(encoder_inputs(config), H), torch::nn::Tanh(),
                                                       torch::nn::Linear(H, H), torch::nn::Tanh()));
  budget_head = register_module(
      "budget_head", torch::nn::Sequential(torch::nn::Linear(H + 3, H), torch::nn::Tanh(), torch::nn::Linear(H, 2)));
  // Hierarchical: one concentration per layer from (h_l, g, s, w). Flat: a
  // Beta (alpha, beta) per layer from (h_l, g, w).
  allocation_head =
      register_module("allocation_head", torch::nn::Sequential(torch::nn::Linear(2 * H + 4, H), torch::nn::Tanh(),
                                                               torch::nn::Linear(H, config.hierarchical ? 1 : 2)));
  if (config.compression_head) {
    if (!config.hierarchical) throw Error("policy: the compression head needs the hierarchical policy");
    torch::nn::Linear out(H, 1);
    {
      torch::NoGradGuard no_grad;  // no residual until a polish fits one
      out->weight.zero_();
      out->bias.zero_();
    }
    compression_head = register_module("compression_head",
                                       torch::nn::Sequential(torch::nn::Linear(2 * H + 4, H), torch::nn::Tanh(), out));
    for (auto& p : compression_head->parameters()) p.set_requires_grad(false);
  }
  to(torch::kFloat64);
}

std::pair<torch::Tensor, torch::Tensor> HippPolicyImpl::encode(const torch::Tensor& states, const torch::Tensor& w) {
  if (states.dim() != 2 || states.size(1) != config_.state_dim)
    throw Error("policy: expected layer states [L, " + std::to_string(config_.state_dim) + "]");
  const auto L = states.size(0);
  const auto s = states.to(torch::kFloat64);
  auto x = torch::cat({s, w.unsqueeze(0).expand({L, 3})}, 1);
  if (config_.preference_products)  // [L, 3 * state_dim]: w_k * state_l, k-major
    x = torch::cat({x, (w.view({1, 3, 1}) * s.unsqueeze(1)).reshape({L, -1})}, 1);
  auto h = encoder->forward(x);
  return {h, h.mean(0)};
}

std::pair<torch::Tensor, torch::Tensor> HippPolicyImpl::budget_parameters(const torch::Tensor& states,
                                                                          const Preference& pref) {
  const auto w = preference_tensor(pref);
  auto [h, g] = encode(states, w);
  auto out = torch::softplus(budget_head->forward(torch::cat({g, w}))) + 1.0;  // unimodal Beta
  return {out[0], out[1]};
}

torch::Tensor HippPolicyImpl::concentration(const torch::Tensor& states, const Preference& pref, double sparsity) {
  const auto w = preference_tensor(pref);
  auto [h, g] = encode(states, w);
  const auto L = h.size(0);
  const double s_unit = (sparsity - config_.s_min) / (config_.s_max - config_.s_min);
  auto x = torch::cat(
      {h, g.unsqueeze(0).expand({L, -1}), torch::full({L, 1}, s_unit, torch::kFloat64), w.unsqueeze(0).expand({L, 3})},
      1);
  auto out = allocation_head->forward(x);
  if (compression_head) out = out + w[2] * compression_head->forward(x);
  if (config_.hierarchical) return torch::softplus(out.squeeze(1)) + config_.min_concentration;
  return torch::softplus(out) + 1.0;  // flat: [L, 2] Beta parameters per layer
}

PlanDraw HippPolicyImpl::sample(const torch::Tensor& states, const Preference& w, std::optional<double> fixed) {
  PlanDraw plan;
  if (!config_.hierarchical) {
    if (fixed)
      throw Error("the flat ablation samples its own sparsity; a fixed sparsity needs the hierarchical policy");
    auto ab = concentration(states, w, config_.s_min);
    auto x = sample_beta(ab.select(1, 0), ab.select(1, 1));
    auto r = x * config_.r_max;
    plan.ratios = to_vector(r);
    // The plan keeps the study's sparsity range, as every other method's
    // does: a mean ratio outside it is clipped (the sampled ratios, and so
    // the log-probability, stay as drawn).
    plan.sparsity = std::clamp(r.mean().item<double>(), config_.s_min, config_.s_max);
    plan.allocation = to_vector(r / r.sum());
    plan.log_prob = log_prob(states, w, plan, fixed);
    return plan;
  }
  if (fixed) {
    plan.sparsity = *fixed;
  } else {
    auto [alpha, beta] = budget_parameters(states, w);
    plan.sparsity = config_.s_min + sample_beta(alpha, beta).item<double>() * (config_.s_max - config_.s_min);
  }
  auto k = concentration(states, w, plan.sparsity);
  auto a = at::_sample_dirichlet(k.detach()).clamp_min(1e-12);
  a = a / a.sum();
  plan.allocation = to_vector(a);
  plan.log_prob = log_prob(states, w, plan, fixed);
  return plan;
}

PlanDraw HippPolicyImpl::query(const torch::Tensor& states, const Preference& w, std::optional<double> fixed) {
  torch::NoGradGuard no_grad;
  PlanDraw plan;
  if (!config_.hierarchical) {
    auto ab = concentration(states, w, config_.s_min);
    auto r = ab.select(1, 0) / (ab.select(1, 0) + ab.select(1, 1)) * config_.r_max;
    if (fixed) r = (r * (*fixed / r.mean().item<double>())).clamp_max(config_.r_max);
    plan.ratios = to_vector(r);
    plan.sparsity = fixed ? *fixed : std::clamp(r.mean().item<double>(), config_.s_min, config_.s_max);
    plan.allocation = to_vector(r / r.sum());
    return plan;
  }
  if (fixed) {
    plan.sparsity = *fixed;
  } else {
    auto [alpha, beta] = budget_parameters(states, w);
    plan.sparsity = config_.s_min + (alpha / (alpha + beta)).item<double>() * (config_.s_max - config_.s_min);
  }
  auto k = concentration(states, w, plan.sparsity);
  plan.allocation = to_vector(k / k.sum());
  return plan;
}

torch::Tensor HippPolicyImpl::log_prob(const torch::Tensor& states, const Preference& w, const PlanDraw& plan,
                                       std::optional<double> fixed) {
  if (!config_.hierarchical) {
    auto ab = concentration(states, w, config_.s_min);
    auto r = torch::tensor(plan.ratios, torch::kFloat64);
    return beta_log_prob(ab.select(1, 0), ab.select(1, 1), r, 0.0, config_.r_max).sum();
  }
  auto lp = torch::zeros({}, torch::kFloat64);
  if (!fixed) {
    auto [alpha, beta] = budget_parameters(states, w);
    lp = lp + beta_log_prob(alpha, beta, torch::tensor(plan.sparsity, torch::kFloat64), config_.s_min, config_.s_max);
  }
  auto k = concentration(states, w, plan.sparsity);
  return lp + dirichlet_log_prob(k, torch::tensor(plan.allocation, torch::kFloat64));
}

torch::Tensor HippPolicyImpl::budget_log_prob(const torch::Tensor& states, const Preference& w, double sparsity) {
  if (!config_.hierarchical) throw Error("the flat ablation has no budget head");
  auto [alpha, beta] = budget_parameters(states, w);
  return beta_log_prob(alpha, beta, torch::tensor(sparsity, torch::kFloat64), config_.s_min, config_.s_max);
}

torch::Tensor HippPolicyImpl::entropy(const torch::Tensor& states, const Preference& w, std::optional<double> fixed) {
  if (!config_.hierarchical) {
    auto ab = concentration(states, w, config_.s_min);
    return beta_entropy(ab.select(1, 0), ab.select(1, 1), 0.0, config_.r_max).sum();
  }
  auto total = torch::zeros({}, torch::kFloat64);
  double s = fixed ? *fixed : 0;
  if (!fixed) {
    auto [alpha, beta] = budget_parameters(states, w);
    total = total + beta_entropy(alpha, beta, config_.s_min, config_.s_max);
    s = config_.s_min + (alpha / (alpha + beta)).item<double>() * (config_.s_max - config_.s_min);
  }
  return total + dirichlet_entropy(concentration(states, w, s));
}

}  // namespace hipp
