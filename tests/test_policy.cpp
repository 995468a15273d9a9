#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "prune/budget.h"
#include "search/grpo.h"
#include "search/policy.h"

namespace hipp {
namespace {

torch::Tensor toy_states(int64_t layers = 4, int64_t features = 6) {
  torch::manual_seed(3);
  return torch::randn({layers, features}, torch::kFloat64);
}

PolicyConfig toy_config(bool hierarchical = true) {
  PolicyConfig c;
  c.state_dim = 6;
  c.hidden = 16;
  c.hierarchical = hierarchical;
  return c;
}

TEST(PolicyMath, BetaAndDirichletLogProbabilitiesMatchClosedForms) {
  // Beta(2, 3) on [0, 1] at 0.4: 12 x 0.4 x 0.6^2 = 1.728.
  auto lp = beta_log_prob(torch::tensor(2.0, torch::kFloat64), torch::tensor(3.0, torch::kFloat64),
                          torch::tensor(0.4, torch::kFloat64), 0.0, 1.0);
  EXPECT_NEAR(lp.item<double>(), std::log(1.728), 1e-12);
  // Rescaled to [0.1, 0.7]: the density divides by the width 0.6.
  lp = beta_log_prob(torch::tensor(2.0, torch::kFloat64), torch::tensor(3.0, torch::kFloat64),
                     torch::tensor(0.1 + 0.4 * 0.6, torch::kFloat64), 0.1, 0.7);
  EXPECT_NEAR(lp.item<double>(), std::log(1.728 / 0.6), 1e-12);
  // Dir(1, 1, 1) is uniform on the simplex: density 2! = 2 everywhere.
  auto d = dirichlet_log_prob(torch::ones({3}, torch::kFloat64), torch::tensor({0.2, 0.3, 0.5}, torch::kFloat64));
  EXPECT_NEAR(d.item<double>(), std::log(2.0), 1e-12);
  // Dir(2, 3) at (0.4, 0.6) is Beta(2, 3) at 0.4.
  d = dirichlet_log_prob(torch::tensor({2.0, 3.0}, torch::kFloat64), torch::tensor({0.4, 0.6}, torch::kFloat64));
  EXPECT_NEAR(d.item<double>(), std::log(1.728), 1e-12);
  // Entropies: Beta(1,1) on [0,1] is 0; Dir(1,1,1) is -log 2.
  EXPECT_NEAR(
      beta_entropy(torch::tensor(1.0, torch::kFloat64), torch::tensor(1.0, torch::kFloat64), 0, 1).item<double>(), 0.0,
      1e-12);
  EXPECT_NEAR(dirichlet_entropy(torch::ones({3}, torch::kFloat64)).item<double>(), -std::log(2.0), 1e-12);
}

TEST(Policy, SampleLogProbIsTheSumOfItsHeads) {
  auto states = toy_states();
  HippPolicy policy(toy_config());
  const Preference w{0.5, 0.3, 0.2};
  torch::manual_seed(11);
  const auto plan = policy->sample(states, w);
  auto [alpha, beta] = policy->budget_parameters(states, w);
  auto k = policy->concentration(states, w, plan.sparsity);
  const double expected =
      beta_log_prob(alpha, beta, torch::tensor(plan.sparsity, torch::kFloat64), 0.1, 0.7).item<double>() +
      dirichlet_log_prob(k, torch::tensor(plan.allocation, torch::kFloat64)).item<double>();
  EXPECT_NEAR(plan.log_prob.item<double>(), expected, 1e-9);
  EXPECT_NEAR(policy->log_prob(states, w, plan).item<double>(), expected, 1e-9);
  // With a fixed sparsity only the allocation counts.
  const auto fixed = policy->sample(states, w, 0.5);
  EXPECT_DOUBLE_EQ(fixed.sparsity, 0.5);
  auto k5 = policy->concentration(states, w, 0.5);
  EXPECT_NEAR(fixed.log_prob.item<double>(),
              dirichlet_log_prob(k5, torch::tensor(fixed.allocation, torch::kFloat64)).item<double>(), 1e-9);
}

TEST(Policy, SampledPlansSatisfyTheBudgetMappingAndQueryIsDeterministic) {
  auto states = toy_states();
  for (bool hierarchical : {true, false}) {
    HippPolicy policy(toy_config(hierarchical));
    std::vector<PrunableLayer> layers(4, {352, 384});
    torch::manual_seed(5);
    for (int i = 0; i < 50; ++i) {
      const auto plan = policy->sample(states, draw_preference(0.2));
      // Both kinds keep the sparsity range [s_min, s_max].
      EXPECT_GE(plan.sparsity, 0.1);
      EXPECT_LE(plan.sparsity, 0.7);
      double total = 0;
      for (double a : plan.allocation) total += a;
      EXPECT_NEAR(total, 1.0, 1e-9);
      const auto budget = map_budget(plan.sparsity, plan.allocation, layers);
      EXPECT_LE(std::llabs(budget.removed_params - budget.target_removed_params), 384);
      EXPECT_TRUE(std::isfinite(plan.log_prob.item<double>()));
    }
    const Preference w{0.2, 0.2, 0.6};
    const auto q1 = policy->query(states, w), q2 = policy->query(states, w);
    EXPECT_EQ(q1.allocation, q2.allocation);
    EXPECT_EQ(q1.sparsity, q2.sparsity);
  }
}

TEST(Grpo, GateReturnAndAdvantages) {
  EXPECT_LT(stability_gate(0.005, 0.05, 0.25), 0.01);  // a layer collapsed
  EXPECT_GT(stability_gate(0.6, 0.05, 0.25), 0.99);    // a mild plan
  EXPECT_NEAR(stability_gate(0.05, 0.05, 0.25), 0.5, 1e-12);
  EXPECT_NEAR(plan_return({0.5, 0.3, 0.2}, {0.9, 0.8, 0.5}, 1.0, 0.1), 0.45 + 0.24 + 0.1, 1e-12);
  EXPECT_NEAR(plan_return({1, 0, 0}, {0.9, 0, 0}, std::exp(-2.0), 0.1), 0.9 - 0.2, 1e-12);
  const auto a = group_advantages({1.0, 2.0, 3.0}, {1.0, 1.0, 0.0});
  EXPECT_NEAR(a[0], -1.0 / std::sqrt(2.0 / 3.0), 1e-6);
  EXPECT_NEAR(a[1], 0.0, 1e-9);
  EXPECT_EQ(a[2], 0.0);  // gated out
  const auto flow = retained_flow({{1, 1, 2}, {4, 0}}, {{0, 2}, {1}});
  EXPECT_NEAR(flow[0], 0.75, 1e-12);
  EXPECT_NEAR(flow[1], 0.0, 1e-12);
  const auto kept = summarise_flow({0.25, 1.0, 0.5});
  EXPECT_NEAR(kept.geo, 0.5, 1e-12);  // (0.25 * 1 * 0.5)^(1/3)
  EXPECT_EQ(kept.min, 0.25);
  const auto emptied = summarise_flow(flow);  // a layer with no flow left: floored, not zero or NaN
  EXPECT_GT(emptied.geo, 0.0);
  EXPECT_LT(emptied.geo, 1e-149);
  EXPECT_EQ(emptied.min, 0.0);
  EXPECT_EQ(summarise_flow({}).geo, 1.0);
  const auto grid = preference_grid(15);
  EXPECT_GE(grid.size(), 15u);
  for (const auto& w : grid) EXPECT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-12);
}

// A toy GRPO run: `iterations` updates, each over `groups` groups of `size`
// plans; every group takes its preference and fixed sparsity from `draw`, and
// each plan's return is `reward(w, plan)`.
void train_toy(HippPolicy& policy, const torch::Tensor& states, const GrpoSettings& settings, int iterations,
               int groups, int size, const std::function<std::pair<Preference, std::optional<double>>()>& draw,
               const std::function<double(const Preference&, const PlanDraw&)>& reward) {
  torch::optim::Adam optimizer(policy->parameters(), torch::optim::AdamOptions(settings.lr));
  for (int iteration = 0; iteration < iterations; ++iteration) {
    std::vector<Episode> episodes;
    for (int b = 0; b < groups; ++b) {
      const auto [w, s] = draw();
      std::vector<double> returns;
      std::vector<Episode> group;
      for (int g = 0; g < size; ++g) {
        Episode e = sample_episode(policy, states, w, s);
        returns.push_back(reward(w, e.plan));
        group.push_back(std::move(e));
      }
      const auto advantages = group_advantages(returns, std::vector<double>(returns.size(), 1.0));
      for (size_t i = 0; i < group.size(); ++i) {
        group[i].advantage = advantages[i];
        episodes.push_back(std::move(group[i]));
      }
    }
    grpo_update(policy, optimizer, states, episodes, settings);
  }
}

// A toy objective: the reward prefers plans that spare layer 0 (a small
// allocation share for it), or, with the sign flipped, that prune it hardest.
// GRPO updates must move the policy's mean plan the rewarded way.
double allocation_of_layer0_after_training(double sign, double* before) {
  auto states = toy_states();
  torch::manual_seed(1);
  HippPolicy policy(toy_config());
  GrpoSettings settings;
  settings.lr = 1e-2;
  settings.entropy_coef = 0;
  const Preference w{0.4, 0.4, 0.2};
  *before = policy->query(states, w, 0.5).allocation[0];
  train_toy(
      policy, states, settings, 5, 1, 16,
      [&] {
        return std::pair<Preference, std::optional<double>>{w, 0.5};
      },
      [sign](const Preference&, const PlanDraw& plan) { return sign * plan.allocation[0]; });
  return policy->query(states, w, 0.5).allocation[0];
}

TEST(Grpo, UpdatesLearnToSpareALayer) {
  double before = 0;
  const double spared = allocation_of_layer0_after_training(-1.0, &before);
  EXPECT_LT(spared, 0.8 * before) << "before " << before << " after " << spared;
  const double pruned = allocation_of_layer0_after_training(+1.0, &before);
  EXPECT_GT(pruned, 1.2 * before) << "before " << before << " after " << pruned;
}

TEST(Grpo, GroupSparsityIsFixedForTheGivenShare) {
  torch::manual_seed(5);
  int fixed = 0;
  for (int i = 0; i < 400; ++i) {
    EXPECT_FALSE(draw_group_sparsity(0.0, 0.1, 0.7).has_value());
    const auto always = draw_group_sparsity(1.0, 0.1, 0.7);
    ASSERT_TRUE(always.has_value());
    EXPECT_GE(*always, 0.1);
    EXPECT_LE(*always, 0.7);
    fixed += draw_group_sparsity(0.5, 0.1, 0.7).has_value();
  }
  EXPECT_GT(fixed, 150);
  EXPECT_LT(fixed, 250);
}

TEST(Grpo, SettingsKeepTheFixedShareAndReadOldRunsAsNone) {
  GrpoSettings s;
  s.fixed_share = 0.25;
  EXPECT_DOUBLE_EQ(grpo_settings_from_json(grpo_settings_to_json(s), "test").fixed_share, 0.25);
  auto old = grpo_settings_to_json(s);
  old.erase("fixed_share");  // a run stored before the setting existed
  EXPECT_DOUBLE_EQ(grpo_settings_from_json(old, "test").fixed_share, 0.0);
  old["fixed_share"] = 1.5;
  EXPECT_THROW(grpo_settings_from_json(old, "test"), Error);
}

TEST(Grpo, SettingsKeepTheObjectiveScaleAndReadOldRunsAsDense) {
  GrpoSettings s;
  s.spread_scaled = false;
  EXPECT_FALSE(grpo_settings_from_json(grpo_settings_to_json(s), "test").spread_scaled);
  s.spread_scaled = true;
  auto old = grpo_settings_to_json(s);
  EXPECT_EQ(old["objective_scale"], "spread");
  EXPECT_TRUE(grpo_settings_from_json(old, "test").spread_scaled);
  old.erase("objective_scale");  // a run stored before the setting existed
  EXPECT_FALSE(grpo_settings_from_json(old, "test").spread_scaled);
  old["objective_scale"] = "range";
  EXPECT_THROW(grpo_settings_from_json(old, "test"), Error);
}

TEST(Grpo, SettingsKeepTheStabilityReferenceAndReadOldRunsAsAbsolute) {
  GrpoSettings s;
  for (auto r : {StabilityReference::Uniform, StabilityReference::Absolute}) {
    s.stability_reference = r;
    EXPECT_EQ(grpo_settings_from_json(grpo_settings_to_json(s), "test").stability_reference, r);
  }
  s.stability_reference = StabilityReference::Uniform;
  auto old = grpo_settings_to_json(s);
  EXPECT_EQ(old["stability_reference"], "uniform");
  old.erase("stability_reference");  // a run stored before the setting existed
  EXPECT_EQ(grpo_settings_from_json(old, "test").stability_reference, StabilityReference::Absolute);
  old["stability_reference"] = "split";
  EXPECT_THROW(grpo_settings_from_json(old, "test"), Error);
  // The budget polish, likewise.
  s.budget_polish = 40;
  auto polished = grpo_settings_to_json(s);
  EXPECT_EQ(grpo_settings_from_json(polished, "test").budget_polish, 40);
  polished.erase("budget_polish");
  EXPECT_EQ(grpo_settings_from_json(polished, "test").budget_polish, 0);
  polished["budget_polish"] = -1;
  EXPECT_THROW(grpo_settings_from_json(polished, "test"), Error);
  // What the polish fits: stored; a run from before the setting polished the budget head alone.
  for (auto t : {PolishTarget::Budget, PolishTarget::Plan}) {
    s.polish = t;
    EXPECT_EQ(grpo_settings_from_json(grpo_settings_to_json(s), "test").polish, t);
  }
  auto target = grpo_settings_to_json(s);
  EXPECT_EQ(target["polish"], "plan");
  target.erase("polish");
  EXPECT_EQ(grpo_settings_from_json(target, "test").polish, PolishTarget::Budget);
  target["polish"] = "allocation";
  EXPECT_THROW(grpo_settings_from_json(target, "test"), Error);
}

TEST(Grpo, SpreadWeightsBuyEachObjectivePerUnitOfItsSpread) {
  // Robustness moves 0.01 across these plans, utility 0.1, compression 0.2.
  const std::vector<Objectives> plans{{0.99, 0.8, 0.3}, {1.00, 0.9, 0.5}, {0.98, 0.7, 0.1}};
  const auto spread = objective_spread(plans);
  EXPECT_NEAR(spread[0], 0.01, 1e-12);
  EXPECT_NEAR(spread[1], 0.1, 1e-12);
  EXPECT_NEAR(spread[2], 0.2, 1e-12);
  // An objective that has not moved is floored, never zero.
  const auto still = objective_spread({{1, 0.5, 0.3}, {1, 0.6, 0.3}}, 0.005);
  EXPECT_DOUBLE_EQ(still[0], 0.005);
  EXPECT_DOUBLE_EQ(still[2], 0.005);
  EXPECT_DOUBLE_EQ(objective_spread({{1, 1, 1}})[1], 0.005);  // one plan: no spread yet

  // Equal spreads give the preference back.
  const Preference w{0.7, 0.3, 0.0};
  const auto same = spread_weights(w, {0.1, 0.1, 0.1});
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(same[k], w[k], 1e-12);
  // A plan that keeps one point of robustness for five of utility: under
  // w . o a 0.7 robustness weight still prefers the utility; per unit of
  // spread the robustness-leaning preference buys the robust plan.
  const Objectives robust{1.00, 0.75, 0.5}, useful{0.99, 0.80, 0.5};
  EXPECT_LT(plan_return(w, robust, 1, 0), plan_return(w, useful, 1, 0));
  const auto weighed = spread_weights(w, spread);
  EXPECT_GT(plan_return(weighed, robust, 1, 0), plan_return(weighed, useful, 1, 0));
  // ... and the utility-leaning one still the useful plan.
  const auto other = spread_weights({0.3, 0.7, 0.0}, spread);
  EXPECT_LT(plan_return(other, robust, 1, 0), plan_return(other, useful, 1, 0));
  EXPECT_THROW(spread_weights(w, {0.0, 0.1, 0.1}), Error);
}

// A toy trade-off at a fixed sparsity, two layers: robustness lives in
// layer 0 (the less of the budget it takes, the better), utility in layer 1,
// and the budget must go to one or the other. Trained on groups at fixed
// sparsities under random preferences, the policy must spare layer 0 for a
// robustness-leaning w and layer 1 for a utility-leaning one: the
// preference, not only the sparsity, moves the plan.
TEST(Grpo, FixedSparsityGroupsTeachThePreference) {
  auto states = toy_states(2);
  torch::manual_seed(2);
  HippPolicy policy(toy_config());
  GrpoSettings settings;
  settings.lr = 1e-2;
  settings.entropy_coef = 0;
  train_toy(
      policy, states, settings, 80, 4, 8,
      [] {
        return std::pair<Preference, std::optional<double>>{draw_preference(0.3), draw_group_sparsity(1.0, 0.1, 0.7)};
      },
      [](const Preference& w, const PlanDraw& plan) { return -w[0] * plan.allocation[0] - w[1] * plan.allocation[1]; });
  const auto robust = policy->query(states, {1, 0, 0}, 0.5).allocation;
  const auto useful = policy->query(states, {0, 1, 0}, 0.5).allocation;
  EXPECT_LT(robust[0], 0.3) << robust[0];
  EXPECT_LT(useful[1], 0.3) << useful[1] << " robust " << robust[0] << "," << robust[1];
}

TEST(Grpo, RelabelledGroupsRankTheSamePlansUnderEachPreference) {
  auto states = toy_states();
  torch::manual_seed(4);
  HippPolicy policy(toy_config());
  GrpoSettings settings;
  settings.gate = false;
  const Preference robust_w{1, 0, 0}, useful_w{0, 1, 0};
  std::vector<Episode> group;
  for (int i = 0; i < 3; ++i) group.push_back(sample_episode(policy, states, robust_w, 0.4));
  std::vector<ScoredPlan> scores(3);
  scores[0].objectives = {1.0, 0.7, 0.4};  // the robust plan
  scores[1].objectives = {0.9, 0.9, 0.4};  // the useful plan
  scores[2].failed = true;
  const auto plans = group;  // copies, to compare log-probabilities with
  double return_sum = 0;
  const auto episodes =
      group_episodes(policy, states, std::move(group), scores, settings, {1, 1, 1}, {useful_w}, &return_sum);
  ASSERT_EQ(episodes.size(), 6u);
  // The relabelled copies first: the same plans under the other preference,
  // ranked by it, with their log-probabilities under it.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(episodes[i].w, useful_w);
    EXPECT_EQ(episodes[i].fixed_sparsity, std::optional<double>(0.4));
    EXPECT_EQ(episodes[i].plan.allocation, plans[i].plan.allocation);
    EXPECT_NEAR(episodes[i].old_log_prob, policy->log_prob(states, useful_w, plans[i].plan, 0.4).item<double>(), 1e-12);
    EXPECT_EQ(episodes[3 + i].w, robust_w);
    EXPECT_DOUBLE_EQ(episodes[3 + i].old_log_prob, plans[i].old_log_prob);
  }
  EXPECT_GT(episodes[4].advantage, 0);                      // under (0, 1, 0) the useful plan leads
  EXPECT_GT(episodes[3].advantage, episodes[4].advantage);  // under (1, 0, 0) the robust one
  EXPECT_GT(episodes[1].advantage, episodes[0].advantage);
  EXPECT_LT(episodes[2].advantage, episodes[0].advantage);  // a failed plan is last under both
  EXPECT_LT(episodes[5].advantage, episodes[4].advantage);
  // Only the group's own preference counts towards the reported return.
  EXPECT_NEAR(return_sum, 1.0 + 0.9 - 1.0, 1e-12);
  // Without relabelling the group's own episodes alone, as before.
  EXPECT_EQ(group_episodes(policy, states, plans, scores, settings, {1, 1, 1}, {}).size(), 3u);
  EXPECT_THROW(group_episodes(policy, states, plans, {scores[0]}, settings, {1, 1, 1}, {}), Error);
}

TEST(Grpo, TheUniformReferenceRanksByHowTheBudgetIsSpent) {
  auto states = toy_states();
  torch::manual_seed(6);
  HippPolicy policy(toy_config());
  GrpoSettings settings;
  settings.gate = false;
  settings.lambda_stab = 1.0;
  const Preference w{0.5, 0.5, 0.0};
  auto episodes_with = [&](StabilityReference r, std::vector<Episode> g, const std::vector<ScoredPlan>& scores) {
    settings.stability_reference = r;
    return group_episodes(policy, states, std::move(g), scores, settings, {1, 1, 1}, {});
  };
  // Free sparsity, equal objectives: plan 0 keeps the most flow of its own,
  // plan 2 the most against the uniform plan of its sparsity.
  std::vector<Episode> group;
  for (int i = 0; i < 3; ++i) group.push_back(sample_episode(policy, states, w, std::nullopt));
  std::vector<ScoredPlan> scores(3);
  for (auto& score : scores) score.objectives = {0.9, 0.8, 0.3};
  scores[0].rho_geo = 0.9, scores[0].rho_uniform = 0.95;
  scores[1].rho_geo = 0.6, scores[1].rho_uniform = 0.6;
  scores[2].rho_geo = 0.5, scores[2].rho_uniform = 0.4;
  const auto absolute = episodes_with(StabilityReference::Absolute, group, scores);
  const auto uniform = episodes_with(StabilityReference::Uniform, group, scores);
  ASSERT_EQ(absolute.size(), 3u);
  ASSERT_EQ(uniform.size(), 3u);
  EXPECT_GT(absolute[0].advantage, absolute[2].advantage);  // its own flow: plan 0 first
  EXPECT_LT(uniform[0].advantage, uniform[2].advantage);    // against uniform: plan 2 first
  // At one sparsity the reference is one constant and cancels: both rank alike.
  std::vector<Episode> fixed;
  for (int i = 0; i < 3; ++i) fixed.push_back(sample_episode(policy, states, w, 0.4));
  for (auto& score : scores) score.rho_uniform = 0.7;
  const auto fixed_uniform = episodes_with(StabilityReference::Uniform, fixed, scores);
  const auto fixed_absolute = episodes_with(StabilityReference::Absolute, fixed, scores);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(fixed_uniform[i].advantage, fixed_absolute[i].advantage, 1e-9);
}

TEST(Grpo, SettingsKeepRelabellingReplayAndPolicyInputsAndReadOldRunsAsNone) {
  const auto defaults = small_budget_grpo_settings();
  EXPECT_EQ(defaults.relabel, 4);
  EXPECT_EQ(defaults.replay, 8);
  EXPECT_EQ(defaults.budget_polish, 1000);
  EXPECT_EQ(defaults.polish, PolishTarget::Plan);
  EXPECT_EQ(GrpoSettings{}.budget_polish, 0);  // METHOD.md's settings (--large-groups) have none
  EXPECT_TRUE(defaults.preference_products);
  const auto json = grpo_settings_to_json(defaults);
  const auto back = grpo_settings_from_json(json, "test");
  EXPECT_EQ(back.relabel, 4);
  EXPECT_EQ(back.replay, 8);
  EXPECT_TRUE(back.preference_products);
  auto old = json;  // a run stored before the settings existed
  old.erase("relabel");
  old.erase("replay");
  old.erase("preference_products");
  EXPECT_EQ(grpo_settings_from_json(old, "test").relabel, 0);
  EXPECT_EQ(grpo_settings_from_json(old, "test").replay, 0);
  EXPECT_FALSE(grpo_settings_from_json(old, "test").preference_products);
  auto bad = old;
  bad["relabel"] = -1;
  EXPECT_THROW(grpo_settings_from_json(bad, "test"), Error);
  bad = old;
  bad["replay"] = 65;
  EXPECT_THROW(grpo_settings_from_json(bad, "test"), Error);
  EXPECT_EQ(GrpoSettings{}.relabel, 0);  // METHOD.md's settings
  EXPECT_EQ(GrpoSettings{}.replay, 0);
  EXPECT_FALSE(GrpoSettings{}.preference_products);
}

TEST(Grpo, ReplayedGroupsRankStudyPlansUnderFreshPreferences) {
  auto states = toy_states();
  torch::manual_seed(3);
  HippPolicy policy(toy_config());
  GrpoSettings settings;
  settings.group = 3;
  settings.gate = false;
  std::vector<ReplayPlan> pool(5);
  for (size_t i = 0; i < pool.size(); ++i) {
    pool[i].sparsity = 0.2 + 0.1 * static_cast<double>(i);
    pool[i].allocation = {0.25, 0.25, 0.25, 0.25};
    pool[i].score.objectives = {1.0 - 0.1 * static_cast<double>(i), 0.5, pool[i].sparsity};
  }
  pool[4].allocation = {0.5, 0.5, 0.0, 0.0};  // two untouched layers
  torch::manual_seed(11);
  const auto episodes = replay_episodes(policy, states, pool, settings, {1, 1, 1}, 2);
  ASSERT_EQ(episodes.size(), 6u);
  for (size_t g = 0; g < 2; ++g) {
    std::vector<double> sparsities;
    double advantage_sum = 0;
    for (size_t i = 3 * g; i < 3 * g + 3; ++i) {
      const auto& e = episodes[i];
      EXPECT_EQ(e.w, episodes[3 * g].w);           // one preference per group
      EXPECT_FALSE(e.fixed_sparsity.has_value());  // the budget head learns from replay too
      EXPECT_NEAR(std::accumulate(e.plan.allocation.begin(), e.plan.allocation.end(), 0.0), 1.0, 1e-12);
      for (double a : e.plan.allocation) EXPECT_GE(a, 1e-6 / (1 + 4e-6));
      EXPECT_TRUE(std::isfinite(e.old_log_prob));
      EXPECT_NEAR(e.old_log_prob, policy->log_prob(states, e.w, e.plan, std::nullopt).item<double>(), 1e-12);
      sparsities.push_back(e.plan.sparsity);
      advantage_sum += e.advantage;
      // Ranked under the group's preference: the better plan has the larger advantage.
      for (size_t j = 3 * g; j < 3 * g + 3; ++j) {
        const auto& o =
            pool[static_cast<size_t>(std::lround((episodes[j].plan.sparsity - 0.2) / 0.1))].score.objectives;
        const auto& mine = pool[static_cast<size_t>(std::lround((e.plan.sparsity - 0.2) / 0.1))].score.objectives;
        const double r_j = plan_return(e.w, o, 1, 0), r_i = plan_return(e.w, mine, 1, 0);
        if (r_i > r_j + 1e-9) {
          EXPECT_GT(e.advantage, episodes[j].advantage);
        }
      }
    }
    std::sort(sparsities.begin(), sparsities.end());
    EXPECT_EQ(std::adjacent_find(sparsities.begin(), sparsities.end()), sparsities.end());  // distinct plans
    EXPECT_NEAR(advantage_sum, 0.0, 1e-9);
  }
  // Two groups, two preferences drawn.
  EXPECT_NE(episodes[0].w, episodes[3].w);
  // A pool smaller than a group, or no replay asked: nothing.
  EXPECT_TRUE(replay_episodes(policy, states, {pool[0], pool[1]}, settings, {1, 1, 1}, 2).empty());
  EXPECT_TRUE(replay_episodes(policy, states, pool, settings, {1, 1, 1}, 0).empty());
}

TEST(Policy, PreferenceProductsWidenTheEncoderOnly) {
  auto states = toy_states();
  auto config = toy_config();
  HippPolicy plain(config);
  config.preference_products = true;
  HippPolicy products(config);
  auto first_weight = [](HippPolicy& p) { return p->named_parameters()["encoder.0.weight"].sizes().vec(); };
  EXPECT_EQ(first_weight(plain), (std::vector<int64_t>{16, 6 + 3}));
  EXPECT_EQ(first_weight(products), (std::vector<int64_t>{16, 6 + 3 + 18}));
  const auto plan = products->query(states, {0.2, 0.5, 0.3}, 0.4).allocation;
  EXPECT_EQ(plan.size(), 4u);
  EXPECT_NEAR(std::accumulate(plan.begin(), plan.end(), 0.0), 1.0, 1e-9);
}

TEST(Policy, TheCompressionHeadStartsSilentLearnsNothingByDefaultAndScalesWithTheCompressionWeight) {
  auto states = toy_states();
  auto config = toy_config();
  torch::manual_seed(11);
  HippPolicy plain(config);
  config.compression_head = true;
  torch::manual_seed(11);
  HippPolicy with_head(config);
  // Until a polish fits it the head adds nothing: every plan is the plain policy's.
  for (const Preference& w : {Preference{0.2, 0.5, 0.3}, Preference{0, 0, 1}})
    EXPECT_TRUE(torch::equal(plain->concentration(states, w, 0.4), with_head->concentration(states, w, 0.4)));
  size_t head_params = 0;
  for (const auto& p : with_head->named_parameters())
    if (p.key().rfind("compression_head.", 0) == 0) {
      ++head_params;
      EXPECT_FALSE(p.value().requires_grad()) << p.key();
    }
  EXPECT_EQ(head_params, 4u);
  // Once it is not zero, it moves a plan by w_comp: none on the edge w_comp = 0.
  {
    torch::NoGradGuard no_grad;
    with_head->named_parameters()["compression_head.2.bias"].fill_(0.7);
    with_head->named_parameters()["compression_head.2.weight"].normal_();
  }
  EXPECT_TRUE(torch::equal(plain->concentration(states, {0.3, 0.7, 0}, 0.4),
                           with_head->concentration(states, {0.3, 0.7, 0}, 0.4)));
  EXPECT_FALSE(torch::allclose(plain->concentration(states, {0.2, 0.5, 0.3}, 0.4),
                               with_head->concentration(states, {0.2, 0.5, 0.3}, 0.4)));
  // A checkpoint's round trip keeps the head's values and leaves it out of every gradient.
  torch::serialize::OutputArchive out;
  with_head->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  HippPolicy reloaded(config);
  torch::serialize::InputArchive in;
  std::istringstream read(bytes.str());
  in.load_from(read);
  reloaded->load(in);
  EXPECT_TRUE(torch::equal(reloaded->concentration(states, {0.2, 0.5, 0.3}, 0.4),
                           with_head->concentration(states, {0.2, 0.5, 0.3}, 0.4)));
  for (const auto& p : reloaded->named_parameters()) {
    if (p.key().rfind("compression_head.", 0) == 0) {
      EXPECT_FALSE(p.value().requires_grad()) << p.key();
    }
  }
  // The flat ablation has no allocation to correct.
  config.hierarchical = false;
  EXPECT_THROW(HippPolicy{config}, Error);
}

// Layer states of the toy trade-off: feature 0 says whether a layer is in
// the seeing half (the first) or the knowing half, the rest is noise.
torch::Tensor seeing_knowing_states(int64_t layers) {
  torch::manual_seed(7);
  auto states = torch::randn({layers, 6}, torch::kFloat64) * 0.3;
  for (int64_t l = 0; l < layers; ++l) states[l][0] = l < layers / 2 ? 1.0 : -1.0;
  return states;
}

// A fresh policy of the toy's shape with `settings`' network choices.
HippPolicy policy_with(const GrpoSettings& settings, uint64_t seed) {
  torch::manual_seed(seed);
  auto config = toy_config();
  config.hidden = settings.hidden;
  config.preference_products = settings.preference_products;
  return HippPolicy(config);
}

// The demo's trade-off in small: 8 layers, the first half seeing (the more
// of the budget they take, the less robustness), the second half knowing
// (the same for utility), layer states that say which is which. With train's
// defaults (relabelling, preference products) twelve iterations of 8 plans,
// the budget of a demo run, must already give a robustness-leaning plan that
// spares the seeing half and a utility-leaning one that spares the knowing
// half.
TEST(Grpo, TrainDefaultsLearnThePreferenceWithinTwelveIterations) {
  constexpr int64_t L = 8;
  const auto states = seeing_knowing_states(L);
  auto seeing_share = [](const std::vector<double>& a) { return std::accumulate(a.begin(), a.begin() + L / 2, 0.0); };
  const auto settings = small_budget_grpo_settings();
  for (uint64_t seed : {1, 2}) {
    HippPolicy policy = policy_with(settings, seed);
    torch::optim::Adam optimizer(policy->parameters(), torch::optim::AdamOptions(settings.lr));
    for (int iteration = 0; iteration < 12; ++iteration) {
      std::vector<Episode> episodes;
      for (int b = 0; b < settings.prefs_per_iter; ++b) {
        const auto w = draw_preference(settings.corner_prob);
        const double s = 0.1 + 0.6 * torch::rand({1}, torch::kFloat64).item<double>();
        std::vector<Episode> group;
        std::vector<ScoredPlan> scores;
        for (int g = 0; g < settings.group; ++g) {
          Episode e = sample_episode(policy, states, w, s);
          const double a = seeing_share(e.plan.allocation);
          ScoredPlan score;
          score.objectives = {1 - s * a, 1 - s * (1 - a), s};
          scores.push_back(score);
          group.push_back(std::move(e));
        }
        std::vector<Preference> relabels;
        for (int k = 0; k < settings.relabel; ++k) relabels.push_back(draw_preference(settings.corner_prob));
        for (auto& e : group_episodes(policy, states, std::move(group), scores, settings, {1, 1, 1}, relabels))
          episodes.push_back(std::move(e));
      }
      grpo_update(policy, optimizer, states, episodes, settings);
    }
    const double robust = seeing_share(policy->query(states, {1, 0, 0}, 0.5).allocation);
    const double useful = seeing_share(policy->query(states, {0, 1, 0}, 0.5).allocation);
    EXPECT_LT(robust, 0.4) << "seed " << seed << ": robust " << robust << ", useful " << useful;
    EXPECT_GT(useful, 0.6) << "seed " << seed << ": robust " << robust << ", useful " << useful;
  }
}

// The budget head and the compression weight: on the same toy, each layer
// pruned at r loses r^2 of its half (seeing or knowing), and compression is
// what the plan removes. The best plan for a compression-heavy preference
// removes far more than the best for a utility-heavy one. With train's
// defaults (replayed groups included) twelve iterations must already put
// the two queried sparsities apart; without replay the budget head has
// barely moved (checked: 0.03 and 0.11 for seeds 1 and 2).
TEST(Grpo, ReplayTeachesTheBudgetHeadTheCompressionWeightWithinTwelveIterations) {
  constexpr int64_t L = 8;
  const auto states = seeing_knowing_states(L);
  auto objectives = [](double s, const std::vector<double>& a) {
    double seeing = 0, knowing = 0, removed = 0;
    for (int64_t l = 0; l < L; ++l) {
      const double r = std::min(0.9, s * L * a[static_cast<size_t>(l)]);
      (l < L / 2 ? seeing : knowing) += r * r / (L / 2);
      removed += r / L;
    }
    return Objectives{1 - 0.3 * seeing, 1 - knowing, removed};
  };
  const auto settings = small_budget_grpo_settings();
  for (uint64_t seed : {1, 2}) {
    HippPolicy policy = policy_with(settings, seed);
    torch::optim::Adam optimizer(policy->parameters(), torch::optim::AdamOptions(settings.lr));
    std::vector<ReplayPlan> pool;
    auto evaluate = [&](double s, const std::vector<double>& a) {
      ReplayPlan p;
      p.sparsity = s;
      p.allocation = a;
      p.score.objectives = objectives(s, a);
      pool.push_back(p);
      return p.score;
    };
    for (int k = 0; k < 16; ++k) {  // the plans a study holds before training
      auto a = at::_standard_gamma(torch::ones({L}, torch::kFloat64));
      a = a / a.sum();
      evaluate(0.1 + 0.6 * torch::rand({1}, torch::kFloat64).item<double>(),
               std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + L));
    }
    for (int iteration = 0; iteration < 12; ++iteration) {
      std::vector<Episode> episodes;
      for (int b = 0; b < settings.prefs_per_iter; ++b) {
        const auto w = draw_preference(settings.corner_prob);
        const auto fixed = draw_group_sparsity(settings.fixed_share, 0.1, 0.7);
        std::vector<Episode> group;
        std::vector<ScoredPlan> scores;
        for (int g = 0; g < settings.group; ++g) {
          Episode e = sample_episode(policy, states, w, fixed);
          scores.push_back(evaluate(e.plan.sparsity, e.plan.allocation));
          group.push_back(std::move(e));
        }
        std::vector<Preference> relabels;
        for (int k = 0; k < settings.relabel; ++k) relabels.push_back(draw_preference(settings.corner_prob));
        for (auto& e : group_episodes(policy, states, std::move(group), scores, settings, {1, 1, 1}, relabels))
          episodes.push_back(std::move(e));
      }
      for (auto& e : replay_episodes(policy, states, pool, settings, {1, 1, 1}, settings.replay))
        episodes.push_back(std::move(e));
      grpo_update(policy, optimizer, states, episodes, settings);
    }
    const double compact = policy->query(states, {0.1, 0.1, 0.8}).sparsity;
    const double useful = policy->query(states, {0.1, 0.8, 0.1}).sparsity;
    EXPECT_GT(compact - useful, 0.2) << "seed " << seed << ": s " << compact << " for (0.1, 0.1, 0.8), " << useful
                                     << " for (0.1, 0.8, 0.1)";
  }
}

}  // namespace
}  // namespace hipp
