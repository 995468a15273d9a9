#pragma once
// Plan-level GRPO (METHOD.md sections 5 and 6, docs/policy.md): the pieces
// that do not need a study, so they can be tested on toy objectives.
//   return     R = w' . o + lambda_stab * log(rho_geo), where w' is w itself
//              (objective_scale "dense", METHOD.md) or w re-weighted by each
//              objective's spread over the study's plans ("spread"), and
//              rho_geo the plan's own or over the uniform plan's at the
//              same sparsity (StabilityReference)
//   gate       sigmoid((log rho_min - log tau) / T), multiplying the advantage
//   advantage  A_i = gate_i * (R_i - mean_group) / (std_group + eps)
//   update     PPO-clip on the plan log-probability, mu epochs, entropy
//              bonus, optional KL to the initial policy, Adam
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "search/policy.h"

namespace hipp {

// What the stability term compares a plan's retained flow with
// (docs/method-choices.md). Absolute (METHOD.md): log(rho_geo) of the plan
// itself, which falls with every channel removed, so the term charges for
// the sparsity as well as for how it is spent, on top of what the
// compression weight pays for sparsity. Uniform: log(rho_geo / rho_geo of
// the uniform plan at the same sparsity), which judges only how the plan
// spends its budget and leaves how much to remove to w. Within a
// fixed-sparsity group both rank the plans alike (the reference is one
// constant there). The gate reads the plan's own rho_min either way.
enum class StabilityReference { Absolute, Uniform };
const char* stability_reference_name(StabilityReference r);
// "absolute" or "uniform"; anything else throws, naming `where`.
StabilityReference parse_stability_reference(const std::string& text, const std::string& where);

// What the polish after the last iteration fits (GrpoSettings::budget_polish,
// docs/method-choices.md), towards the study's best plan for each drawn
// preference. Budget: the budget head alone, towards that plan's sparsity,
// the plan ranked by the return with the stability term over the uniform
// plan's at the same sparsity; every plan at a fixed sparsity stays as
// trained. Plan: the budget head and the policy's compression head (an
// allocation residual weighted by w_comp, PolicyConfig::compression_head),
// towards the whole plan, ranked by the scalarised objectives w' . o alone;
// every plan with w_comp = 0 at a fixed sparsity (the robustness-utility
// edge the curve view reads) stays as trained.
enum class PolishTarget { Budget, Plan };
const char* polish_target_name(PolishTarget t);
// "budget" or "plan"; anything else throws, naming `where`.
PolishTarget parse_polish_target(const std::string& text, const std::string& where);

struct GrpoSettings {
  int iterations = 20;
  int group = 8;           // G plans per preference
  int prefs_per_iter = 4;  // B preferences per iteration
  double clip = 0.2;
  int epochs = 4;  // mu
  double lr = 3e-4;
  double entropy_coef = 1e-3;
  double kl_coef = 0.0;
  double lambda_stab = 0.1;
  double tau = 0.05;  // gate: retained-flow share below which an episode counts as collapsed
  double temperature = 0.25;
  double corner_prob = 0.1;  // share of preferences drawn at the simplex corners
  // Share of the groups sampled at a fixed sparsity (METHOD.md section 3:
  // the budget context), drawn uniformly from the study's range, only the
  // allocation sampled: within such a group every plan removes as much, so
  // the advantages rank allocations by w_rob * robustness + w_util * utility
  // alone, the signal a fixed-sparsity query (the curve, the app's "fix
  // sparsity") needs; in the other groups the sparsity's spread decides most
  // of the return. Runs stored before this setting existed read it as 0.
  double fixed_share = 0.5;
  int64_t hidden = 64;
  uint64_t seed = 1;
  // Ablations, stored with the run.
  bool vision_state = true;  // false: no visual sensitivity in the state
  bool gate = true;          // false: no stability gate
  bool hierarchical = true;  // false: flat per-layer ratios
  // PolicyConfig::preference_products. Runs stored before this setting
  // existed read it as false (their checkpoints have the narrower encoder).
  bool preference_products = false;
  // How the preference weighs the objectives in the return. false ("dense",
  // METHOD.md): w . o with each objective normalised by the dense model only,
  // so an objective that moves little across plans (POPE on the demo: a few
  // points, against tens of ScienceQA points) barely enters any return but at
  // w's corner. true ("spread"): each weight is divided by that objective's
  // spread over the study's evaluated plans (spread_weights), so that w = (x,
  // 1 - x, 0) buys x of the robustness the plans can differ by against 1 - x
  // of the utility (docs/method-choices.md). Runs stored before this setting
  // existed read it as false.
  bool spread_scaled = false;
  // Preference relabelling (docs/method-choices.md): every evaluated group is
  // scored again under this many more preferences, drawn as the groups' own
  // are, and enters the update once per preference. The plans' objectives
  // are known, so a relabelled group costs no evaluation; what it adds is
  // the contrast the preference input needs: the same plans ranked one way
  // for one w and another way for another. Runs stored before this setting
  // existed read it as 0.
  int relabel = 0;
  // Replayed groups (docs/method-choices.md): each iteration adds this many
  // groups of `group` plans drawn from every plan the study has evaluated on
  // its search subset so far (any origin, this run's earlier iterations
  // included), each ranked under a preference drawn as the groups' own are.
  // No new evaluation; free sparsity, so the budget head sees the whole range
  // of s under every kind of preference, where its own samples have long
  // narrowed. Runs stored before this setting existed read it as 0.
  int replay = 0;
  // Runs stored before this setting existed read it as Absolute.
  StabilityReference stability_reference = StabilityReference::Absolute;
  // Polish (docs/method-choices.md): after the last iteration, this many
  // Adam steps on the heads `polish` names (the encoder and the allocation
  // head untouched), each raising the log-probability of the study's best
  // scored plan (PolishTarget) for 32 preferences drawn as the groups' own
  // are. No evaluation. It moves the plan a preference gets to where the
  // study's plans put it, which the absolute stability term holds at a low
  // sparsity and a robustness-leaning allocation. Runs stored before this
  // setting existed read it as 0.
  int budget_polish = 0;
  // What those steps fit (PolishTarget). Runs stored before this setting
  // existed read it as Budget.
  PolishTarget polish = PolishTarget::Budget;
};

// The spread (standard deviation) of each objective over `points`, floored at
// `floor` so that an objective that has not moved yet does not become
// infinitely dear.
std::array<double, 3> objective_spread(const std::vector<Objectives>& points, double floor = 0.005);
// w re-weighted by the spreads: w'_k = w_k * sigma_w / sigma_k with sigma_w =
// sum_k w_k sigma_k (equal spreads give w back; the scale of the return, and
// so the stability term's weight against it, stays that of w . o).
Preference spread_weights(const Preference& w, const std::array<double, 3>& spread);
// METHOD.md's defaults with smaller groups and a larger step (G = 4, B = 2,
// lr = 3e-3), each group relabelled with 4 more preferences, 8 replayed
// groups, preference products in the policy's input, and a plan polish of
// 1000 steps: twelve iterations of 8 plans teach the demo policy what
// METHOD.md's settings do not in a budget of a hundred plans, the
// preference included (docs/policy.md). `train` and the app
// default to these; GrpoSettings{} keeps METHOD.md's values (`train
// --large-groups`).
GrpoSettings small_budget_grpo_settings();
nlohmann::json grpo_settings_to_json(const GrpoSettings& s);
GrpoSettings grpo_settings_from_json(const nlohmann::json& json, const std::string& where);

double stability_gate(double rho_min, double tau, double temperature);
double plan_return(const Preference& w, const Objectives& o, double rho_geo, double lambda_stab);
// Group-relative advantages, each multiplied by its gate.
std::vector<double> group_advantages(const std::vector<double>& returns, const std::vector<double>& gates,
                                     double eps = 1e-8);
// Retained SynFlow share of every layer: flow of the kept channels over the
// layer's total. `kept` = kept channel indices per layer.
std::vector<double> retained_flow(const std::vector<std::vector<double>>& channel_flow,
                                  const std::vector<std::vector<int64_t>>& kept);
// What the return and the gate read of those shares: their geometric mean
// (rho_geo, the stability term) and their minimum (rho_min, the gate).
struct FlowKept {
  double geo = 1, min = 1;
};
FlowKept summarise_flow(const std::vector<double>& rho);

// What one sampled plan scored (failed: its evaluation failed; it ranks below
// every evaluated plan).
struct ScoredPlan {
  bool failed = false;
  Objectives objectives;
  double rho_geo = 1, rho_min = 1;
  double rho_uniform = 1;  // rho_geo of the uniform plan at this plan's sparsity (StabilityReference)
};
// The rho_geo a return reads of a scored plan: its own, or with `vs_uniform`
// its own over the uniform plan's at the same sparsity.
double return_flow(const ScoredPlan& score, bool vs_uniform);
// Whether a run reads the uniform plan's flow: its stability reference is
// uniform, or it ends with a budget polish (which ranks by it).
bool reads_uniform_flow(const GrpoSettings& settings);

struct Episode {
  Preference w{};
  std::optional<double> fixed_sparsity;
  PlanDraw plan;
  double old_log_prob = 0;
  double advantage = 0;
};

struct UpdateStats {
  double loss = 0, entropy = 0, kl = 0, clip_fraction = 0;
};

// One plan drawn from the policy for w (at a fixed sparsity when given), as
// an episode: its old log-probability taken, its advantage still 0.
Episode sample_episode(HippPolicy& policy, const torch::Tensor& states, const Preference& w,
                       std::optional<double> fixed_sparsity);

// The update's episodes from one evaluated group: `group` (plans sampled
// under one preference at one sparsity) with their group-relative
// advantages, then, for each preference in `relabels`, the same plans again
// with that preference, their advantages from the returns under it and
// their old log-probabilities from `policy` under it. `spread` re-weighs
// every preference when settings.spread_scaled. Adds each return under the
// group's own preference to *return_sum when given.
std::vector<Episode> group_episodes(HippPolicy& policy, const torch::Tensor& states, std::vector<Episode> group,
                                    const std::vector<ScoredPlan>& scores, const GrpoSettings& settings,
                                    const std::array<double, 3>& spread, const std::vector<Preference>& relabels,
                                    double* return_sum = nullptr);

// A plan the study evaluated earlier, as replay reads it: its sparsity,
// allocation and per-layer ratios (what the flat ablation draws), and what
// it scored.
struct ReplayPlan {
  double sparsity = 0;
  std::vector<double> allocation, ratios;
  ScoredPlan score;
};

// `count` replayed groups: each of settings.group distinct plans drawn from
// `pool` (none when the pool holds fewer), under a preference drawn with
// draw_preference, with group-relative advantages under it and old
// log-probabilities from `policy` at free sparsity. An allocation entry
// below 1e-6 is raised to it (the plan renormalised), so that a plan with an
// untouched layer does not dominate the update with log(0).
std::vector<Episode> replay_episodes(HippPolicy& policy, const torch::Tensor& states,
                                     const std::vector<ReplayPlan>& pool, const GrpoSettings& settings,
                                     const std::array<double, 3>& spread, int count);

// mu epochs of the PPO-clip surrogate over the episodes (one batch).
UpdateStats grpo_update(HippPolicy& policy, torch::optim::Optimizer& optimizer, const torch::Tensor& states,
                        const std::vector<Episode>& episodes, const GrpoSettings& settings,
                        HippPolicy* initial = nullptr);

// The sparsity a group is sampled at: none (the policy draws it) with
// probability 1 - fixed_share, else uniform on [s_min, s_max].
std::optional<double> draw_group_sparsity(double fixed_share, double s_min, double s_max);
// A preference drawn from Dir(1, 1, 1), or a corner with probability corner_prob.
Preference draw_preference(double corner_prob);
// At least `count` preferences covering the simplex: a triangular grid.
std::vector<Preference> preference_grid(int count);

}  // namespace hipp
