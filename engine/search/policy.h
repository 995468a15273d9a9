#pragma once
// The HiPP policy (METHOD.md section 4, docs/policy.md): given the per-layer
// states and a preference w = (robustness, utility, compression), one call
// emits a whole plan: a global sparsity s from a Beta head on [s_min, s_max]
// and a layer allocation from a Dirichlet head conditioned on s.
//   log pi(plan) = log Beta(s) + log Dir(a | s)
// A query (no sampling) takes the Beta mean and the Dirichlet mean. With a
// fixed target sparsity only the allocation is sampled. The flat ablation
// samples per-layer ratios directly (one Beta per layer on [0, r_max]) and
// derives s and the allocation from them.
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "study/store.h"

namespace hipp {

struct PolicyConfig {
  int64_t state_dim = 0;  // features per layer (layer_features width)
  int64_t hidden = 64;
  double s_min = 0.1, s_max = 0.7;
  double r_max = 0.9;        // flat ablation: the per-layer ratio range
  bool hierarchical = true;  // false = the flat ablation
  // Also feed each layer's encoder the products w_k * state_l (3 x state_dim
  // more inputs): a plan that answers the preference layer by layer ("spare
  // the layers with a high visual sensitivity when w_rob is high") is then a
  // linear function of the input, where with w and the state side by side
  // the network must first learn their product (docs/method-choices.md).
  bool preference_products = false;
  // Hierarchical only: an allocation residual weighted by the compression
  // weight (each layer's concentration before its softplus gains
  // w_comp * compression_head(h_l, g, s, w)), zero until
  // a plan polish fits it (GrpoSettings::polish) and never trained by GRPO:
  // every plan with w_comp = 0 stays as GRPO left it.
  bool compression_head = false;
  double min_concentration = 1e-2;
};

struct PlanDraw {
  double sparsity = 0;
  std::vector<double> allocation;  // on the simplex
  std::vector<double> ratios;      // flat ablation only: the sampled per-layer ratios
  torch::Tensor log_prob;          // scalar, differentiable
};

class HippPolicyImpl : public torch::nn::Module {
 public:
  explicit HippPolicyImpl(const PolicyConfig& config);
  const PolicyConfig& config() const { return config_; }

  // `states` [L, state_dim], `w` [3]. Draws with the global torch generator
  // (torch::manual_seed makes runs reproducible).
  PlanDraw sample(const torch::Tensor& states, const Preference& w, std::optional<double> fixed_sparsity = {});
  // The mean plan.
  PlanDraw query(const torch::Tensor& states, const Preference& w, std::optional<double> fixed_sparsity = {});
  // log pi of a given plan under the current parameters (PPO re-evaluation).
  torch::Tensor log_prob(const torch::Tensor& states, const Preference& w, const PlanDraw& plan,
                         std::optional<double> fixed_sparsity = {});
  // Entropy of the plan distribution for this state and preference (the
  // allocation's at the Beta mean sparsity), for the entropy bonus.
  torch::Tensor entropy(const torch::Tensor& states, const Preference& w, std::optional<double> fixed_sparsity = {});
  // The budget head alone: log p(s) of the sparsity's Beta (hierarchical
  // policy only); log_prob(plan) = budget_log_prob(s) + log_prob(plan, s).
  torch::Tensor budget_log_prob(const torch::Tensor& states, const Preference& w, double sparsity);

  // Distribution parameters, exposed for tests: Beta (alpha, beta) and the
  // Dirichlet concentration given s.
  std::pair<torch::Tensor, torch::Tensor> budget_parameters(const torch::Tensor& states, const Preference& w);
  torch::Tensor concentration(const torch::Tensor& states, const Preference& w, double sparsity);

 private:
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& states, const torch::Tensor& w);
  PolicyConfig config_;
  torch::nn::Sequential encoder{nullptr}, budget_head{nullptr}, allocation_head{nullptr}, compression_head{nullptr};
};
TORCH_MODULE(HippPolicy);

// Closed forms, for the heads and their tests.
// Beta on [lo, hi]: log density of x.
torch::Tensor beta_log_prob(const torch::Tensor& alpha, const torch::Tensor& beta, const torch::Tensor& x, double lo,
                            double hi);
torch::Tensor dirichlet_log_prob(const torch::Tensor& concentration, const torch::Tensor& x);
torch::Tensor beta_entropy(const torch::Tensor& alpha, const torch::Tensor& beta, double lo, double hi);
torch::Tensor dirichlet_entropy(const torch::Tensor& concentration);

}  // namespace hipp
