// How fast GRPO teaches the policy the preference (docs/policy.md,
// "Controllability"), on a toy study whose front is known: 8 layers, the
// first half "seeing" (pruning them costs robustness), the second half
// "knowing" (pruning them costs utility); a layer pruned at ratio r loses
// r^2 of its part, so at a fixed sparsity the robustness-leaning plan spares
// the seeing half and the utility-leaning plan the knowing half. Plans are
// scored with Gaussian noise, as a search subset scores them. No model is
// involved: the bench measures the learning rule, not a study.
//
//   bench_controllability [--iterations 12,20,50] [--relabel 0,2,4] [--seeds 3]
//                         [--replay R] [--noise SD] [--group G] [--prefs B] [--lr LR]
//                         [--spread-scaled true|false] [--products true|false]
//                         [--epochs MU] [--entropy C] [--fixed-share F] [--details]
//                         [--threads N]
//
// The training loop is `train`'s, with train's defaults (G = 4, B = 2, lr
// 3e-3, half the groups at a fixed sparsity, 4 relabels, 8 replayed groups,
// preference products, objectives as METHOD.md weighs them), after 32 random
// plans as a study may hold (replay draws on them too). After each
// listed iteration count the policy is queried along w = (x, 1 - x, 0), x =
// 0, 0.1, ..., 1, at s = 0.3 and s = 0.5; the table gives Spearman(x,
// robustness) and Spearman(x, utility) of the noise-free objectives (issue
// 16's bar: >= 0.8 and <= -0.5), and how much of the best possible
// robustness swing the two ends of the path reach. The last three columns
// measure amortisation the way bench_amortisation does on a study: for 10
// fixed preferences from Dir(1, 1, 1), the policy's plan (one query, its own
// sparsity) against the best of 64 random plans (s uniform on the range,
// Dir(1, ..., 1) allocations) by the noise-free w . o; the mean and smallest
// ratio, and how many preferences reach 0.98.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/rank_correlation.h"
#include "core/threads.h"
#include "search/grpo.h"

using namespace hipp;

namespace {

constexpr int kLayers = 8;
constexpr double kRMax = 0.9;

// Robustness, utility and compression of a plan (s, allocation), noise-free.
Objectives toy_objectives(double sparsity, const std::vector<double>& allocation) {
  double seeing = 0, knowing = 0, removed = 0;
  for (int l = 0; l < kLayers; ++l) {
    const double r = std::min(kRMax, sparsity * kLayers * allocation[static_cast<size_t>(l)]);
    (l < kLayers / 2 ? seeing : knowing) += r * r / (kLayers / 2);
    removed += r / kLayers;
  }
  // Compression is what the plan removes, as a study measures it: a layer's
  // share beyond r_max is not removed.
  return {1.0 - 0.3 * seeing, 1.0 - 1.0 * knowing, removed};
}

torch::Tensor toy_states() {
  // Per layer: a vision-sensitivity feature (high in the seeing half), its
  // depth, and four features of noise.
  torch::manual_seed(7);
  auto states = torch::randn({kLayers, 6}, torch::kFloat64) * 0.3;
  for (int l = 0; l < kLayers; ++l) {
    states[l][0] = l < kLayers / 2 ? 1.0 : -1.0;
    states[l][1] = static_cast<double>(l) / (kLayers - 1);
  }
  return states;
}

std::vector<double> parse_list(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stod(item));
  if (out.empty()) throw Error("an empty list: '" + text + "'");
  return out;
}

bool parse_bool(const std::string& option, const std::string& value) {
  if (value == "true") return true;
  if (value == "false") return false;
  throw Error(option + " takes true or false, not '" + value + "'");
}

struct PathScore {
  double rho_rob = 0, rho_util = 0, swing = 0;
};

PathScore score_path(HippPolicy& policy, const torch::Tensor& states, double sparsity) {
  torch::NoGradGuard no_grad;
  std::vector<double> xs, rob, util;
  for (int k = 0; k <= 10; ++k) {
    const double x = k / 10.0;
    const auto plan = policy->query(states, {x, 1 - x, 0}, sparsity);
    const auto o = toy_objectives(plan.sparsity, plan.allocation);
    xs.push_back(x);
    rob.push_back(o.robustness);
    util.push_back(o.utility);
  }
  // The widest robustness swing at this sparsity: all pruning on the knowing
  // half against all of it on the seeing half (each within r_max).
  std::vector<double> on_knowing(kLayers, 0), on_seeing(kLayers, 0);
  for (int l = 0; l < kLayers; ++l) (l < kLayers / 2 ? on_seeing : on_knowing)[static_cast<size_t>(l)] = 2.0 / kLayers;
  const double widest =
      toy_objectives(sparsity, on_knowing).robustness - toy_objectives(sparsity, on_seeing).robustness;
  return {spearman(xs, rob), spearman(xs, util), (rob.back() - rob.front()) / widest};
}

struct AmortisationScore {
  double mean = 0, smallest = 0;
  int reached = 0;
};

double scalarised(const Preference& w, const Objectives& o) {
  return w[0] * o.robustness + w[1] * o.utility + w[2] * o.compression;
}

// Its own random stream: the training's draws stay as they were.
AmortisationScore score_amortisation(HippPolicy& policy, const torch::Tensor& states, const PolicyConfig& config,
                                     bool details) {
  torch::NoGradGuard no_grad;
  std::mt19937_64 random(20261205);
  std::gamma_distribution<double> gamma(1.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  AmortisationScore out;
  out.smallest = 1e300;
  constexpr int kPrefs = 10, kRandomPlans = 64;
  for (int k = 0; k < kPrefs; ++k) {
    Preference w{};
    double total = 0;
    for (double& x : w) total += (x = gamma(random));
    for (double& x : w) x /= total;
    const auto plan = policy->query(states, w);
    const double mine = scalarised(w, toy_objectives(plan.sparsity, plan.allocation));
    double best = -1e300, best_s = 0;
    for (int n = 0; n < kRandomPlans; ++n) {
      const double s = config.s_min + unit(random) * (config.s_max - config.s_min);
      std::vector<double> a(kLayers);
      double sum = 0;
      for (double& x : a) sum += (x = gamma(random));
      for (double& x : a) x /= sum;
      const double r = scalarised(w, toy_objectives(s, a));
      if (r > best) best = r, best_s = s;
    }
    const double ratio = mine / best;
    if (details)
      std::printf("    w %.2f / %.2f / %.2f: policy s %.3f, w.o %.4f; best random s %.3f, w.o %.4f; ratio %.3f\n", w[0],
                  w[1], w[2], plan.sparsity, mine, best_s, best, ratio);
    out.mean += ratio / kPrefs;
    out.smallest = std::min(out.smallest, ratio);
    out.reached += ratio >= 0.98;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    use_threads(1);
    int seeds = 3;
    bool details = false;
    double noise = 0.005;
    GrpoSettings settings = small_budget_grpo_settings();
    std::vector<double> checkpoints{12, 20, 50}, relabels{static_cast<double>(settings.relabel)};
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw Error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--iterations")
        checkpoints = parse_list(next());
      else if (a == "--relabel")
        relabels = parse_list(next());
      else if (a == "--seeds")
        seeds = std::stoi(next());
      else if (a == "--noise")
        noise = std::stod(next());
      else if (a == "--group")
        settings.group = std::stoi(next());
      else if (a == "--prefs")
        settings.prefs_per_iter = std::stoi(next());
      else if (a == "--lr")
        settings.lr = std::stod(next());
      else if (a == "--spread-scaled")
        settings.spread_scaled = parse_bool(a, next());
      else if (a == "--products")
        settings.preference_products = parse_bool(a, next());
      else if (a == "--epochs")
        settings.epochs = std::stoi(next());
      else if (a == "--replay")
        settings.replay = std::stoi(next());
      else if (a == "--details")
        details = true;
      else if (a == "--entropy")
        settings.entropy_coef = std::stod(next());
      else if (a == "--fixed-share")
        settings.fixed_share = std::stod(next());
      else if (a == "--threads")
        use_threads(std::stoi(next()));
      else
        throw Error("unknown option " + a + " (see the comment at the top of bench/controllability.cpp)");
    }
    std::sort(checkpoints.begin(), checkpoints.end());
    const auto states = toy_states();
    std::printf(
        "toy study: %d layers, noise sd %.4f, G %d, B %d, lr %g, %d epochs, %d replayed groups, %s objectives, %s\n",
        kLayers, noise, settings.group, settings.prefs_per_iter, settings.lr, settings.epochs, settings.replay,
        settings.spread_scaled ? "spread" : "dense",
        settings.preference_products ? "preference products" : "no preference products");
    std::printf("%8s %10s %5s %14s %14s %10s %14s %14s %10s %11s %11s %9s\n", "relabel", "iterations", "seed",
                "rho(x,rob)@.3", "rho(x,util)@.3", "swing@.3", "rho(x,rob)@.5", "rho(x,util)@.5", "swing@.5",
                "amort mean", "amort min", ">=0.98");
    for (double relabel : relabels) {
      settings.relabel = static_cast<int>(relabel);
      std::vector<std::vector<double>> sums(checkpoints.size(), std::vector<double>(9, 0));
      for (int seed = 1; seed <= seeds; ++seed) {
        torch::manual_seed(static_cast<uint64_t>(seed));
        PolicyConfig config;
        config.state_dim = states.size(1);
        config.hidden = settings.hidden;
        config.preference_products = settings.preference_products;
        HippPolicy policy(config);
        torch::optim::Adam optimizer(policy->parameters(), torch::optim::AdamOptions(settings.lr));
        std::vector<Objectives> seen;
        std::vector<ReplayPlan> pool;
        auto evaluate = [&](double s, const std::vector<double>& allocation) {
          auto o = toy_objectives(s, allocation);
          o.robustness += noise * torch::randn({1}, torch::kFloat64).item<double>();
          o.utility += noise * torch::randn({1}, torch::kFloat64).item<double>();
          seen.push_back(o);
          ReplayPlan plan;
          plan.sparsity = s;
          plan.allocation = allocation;
          plan.score.objectives = o;
          pool.push_back(plan);
          return o;
        };
        for (int k = 0; k < 32; ++k) {  // the study's random plans
          const double s =
              config.s_min + torch::rand({1}, torch::kFloat64).item<double>() * (config.s_max - config.s_min);
          auto a = at::_standard_gamma(torch::ones({kLayers}, torch::kFloat64));
          a = a / a.sum();
          evaluate(s, std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + kLayers));
        }
        size_t next_checkpoint = 0;
        for (int iteration = 1; next_checkpoint < checkpoints.size(); ++iteration) {
          std::vector<std::vector<Episode>> groups;
          std::vector<std::vector<ScoredPlan>> scores;
          for (int b = 0; b < settings.prefs_per_iter; ++b) {
            const auto w = draw_preference(settings.corner_prob);
            const auto fixed = draw_group_sparsity(settings.fixed_share, config.s_min, config.s_max);
            groups.emplace_back();
            scores.emplace_back();
            for (int g = 0; g < settings.group; ++g) {
              Episode e = sample_episode(policy, states, w, fixed);
              ScoredPlan score;
              score.objectives = evaluate(e.plan.sparsity, e.plan.allocation);
              scores.back().push_back(score);
              groups.back().push_back(std::move(e));
            }
          }
          const auto spread = settings.spread_scaled ? objective_spread(seen) : std::array<double, 3>{1, 1, 1};
          std::vector<Episode> episodes;
          for (size_t b = 0; b < groups.size(); ++b) {
            std::vector<Preference> extra;
            for (int k = 0; k < settings.relabel; ++k) extra.push_back(draw_preference(settings.corner_prob));
            for (auto& e : group_episodes(policy, states, std::move(groups[b]), scores[b], settings, spread, extra))
              episodes.push_back(std::move(e));
          }
          for (auto& e : replay_episodes(policy, states, pool, settings, spread, settings.replay))
            episodes.push_back(std::move(e));
          grpo_update(policy, optimizer, states, episodes, settings);
          if (iteration == static_cast<int>(checkpoints[next_checkpoint])) {
            const auto at3 = score_path(policy, states, 0.3);
            const auto at5 = score_path(policy, states, 0.5);
            const auto amortisation = score_amortisation(policy, states, config, details);
            std::printf("%8d %10d %5d %14.2f %14.2f %10.2f %14.2f %14.2f %10.2f %11.3f %11.3f %9d\n", settings.relabel,
                        iteration, seed, at3.rho_rob, at3.rho_util, at3.swing, at5.rho_rob, at5.rho_util, at5.swing,
                        amortisation.mean, amortisation.smallest, amortisation.reached);
            const double values[9] = {
                at3.rho_rob,       at3.rho_util,          at3.swing,
                at5.rho_rob,       at5.rho_util,          at5.swing,
                amortisation.mean, amortisation.smallest, static_cast<double>(amortisation.reached)};
            for (int v = 0; v < 9; ++v) sums[next_checkpoint][static_cast<size_t>(v)] += values[v] / seeds;
            ++next_checkpoint;
          }
        }
      }
      for (size_t c = 0; c < checkpoints.size(); ++c) {
        const auto& m = sums[c];
        std::printf("%8d %10d %5s %14.2f %14.2f %10.2f %14.2f %14.2f %10.2f %11.3f %11.3f %9.1f\n", settings.relabel,
                    static_cast<int>(checkpoints[c]), "mean", m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_controllability: %s\n", e.what());
    return 1;
  }
}
