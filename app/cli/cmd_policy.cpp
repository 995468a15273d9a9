// Subcommands about the HiPP policy: train (plan-level GRPO on a study) and query.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <tuple>

#include "cli_common.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "search/hipp_trainer.h"
#include "study/pareto.h"
#include "study/selection.h"

namespace hipp::cli {

namespace {

struct PolicyArgs {
  std::string study;
  std::string run;
  std::string cache_dir;
  std::string ablation = "none";
  int iterations = GrpoSettings{}.iterations;
  int group = GrpoSettings{}.group;
  int prefs = GrpoSettings{}.prefs_per_iter;
  int query_grid = 15;
  std::vector<double> query_sparsities;
  double lr = GrpoSettings{}.lr;
  int epochs = GrpoSettings{}.epochs;
  bool small_budget = false;
  // Which of --group, --prefs-per-iter and --lr the command line gave
  // (those override --small-budget's values).
  bool group_given = false, prefs_given = false, lr_given = false;
  std::vector<double> pref;
  double sparsity = -1;
  bool evaluate = false;
};

std::string run_name(const PolicyArgs& args) {
  if (!args.run.empty()) return args.run;
  return args.ablation == "none" ? "hipp" : "hipp-" + args.ablation;
}

void run_train(const PolicyArgs& args, const CommonOptions& common) {
  apply_common(common);
  auto store = open_sqlite_study(args.study);
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir),
                       [](const std::string& line) { progress_line("train: " + line); });
  PlanEvaluator evaluator(session);
  const auto* cancel = install_cancel_handler();
  evaluator.cancel = cancel;
  GrpoSettings settings = args.small_budget ? small_budget_grpo_settings() : GrpoSettings{};
  settings.iterations = args.iterations;
  if (!args.small_budget || args.group_given) settings.group = args.group;
  if (!args.small_budget || args.prefs_given) settings.prefs_per_iter = args.prefs;
  if (!args.small_budget || args.lr_given) settings.lr = args.lr;
  settings.epochs = args.epochs;
  if (common.seed) settings.seed = common.seed;
  settings.vision_state = args.ablation != "no-vision";
  settings.gate = args.ablation != "no-gate";
  settings.hierarchical = args.ablation != "flat";
  HippTrainer trainer(evaluator, *store, settings, run_name(args));
  // A run keeps the settings it started with: an option given now that says
  // otherwise is refused, not silently replaced.
  const auto& kept = trainer.settings();
  for (auto [given, differs, option, value] :
       {std::tuple{args.group_given, kept.group != settings.group, "--group", std::to_string(kept.group)},
        {args.prefs_given, kept.prefs_per_iter != settings.prefs_per_iter, "--prefs-per-iter",
         std::to_string(kept.prefs_per_iter)},
        {args.lr_given, kept.lr != settings.lr, "--lr", std::to_string(kept.lr)}})
    if (given && differs)
      throw Error("run '" + run_name(args) + "' of " + args.study + " was started with " + option + " " + value +
                  "; a resumed run keeps its settings: leave " + option + " out, or start a new run with --run NAME");
  if (trainer.completed_iterations() > 0)
    progress_line("train: resuming run '" + run_name(args) + "' after iteration " +
                  std::to_string(trainer.completed_iterations()));
  trainer.train(
      [](const HippIterationReport& r) {
        char line[200];
        std::snprintf(line, sizeof line,
                      "train: iteration %d/%d, %d evaluations, mean return %.4f, hypervolume %.4f, %.0f s", r.iteration,
                      r.iterations, r.evaluations, r.mean_return, r.hypervolume, r.seconds);
        progress_line(line);
      },
      cancel);
  std::vector<EvalOutcome> queried;
  if (args.query_grid > 0) {
    progress_line("train: evaluating the policy's plans on a grid of preferences");
    queried = trainer.evaluate_query_grid(args.query_grid, args.query_sparsities);
  }
  const double hv = hypervolume(objectives_of(select_trials(store->trials(), {"search", policy_origins()})));
  if (common.json) {
    std::cout << nlohmann::json({{"run", run_name(args)},
                                 {"iterations", trainer.completed_iterations()},
                                 {"queried", queried.size()},
                                 {"hypervolume", hv},
                                 {"settings", grpo_settings_to_json(trainer.settings())}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("run %s: %d iterations, %zu queried plans; hypervolume of all policy plans %.4f\n",
              run_name(args).c_str(), trainer.completed_iterations(), queried.size(), hv);
}

void run_query(const PolicyArgs& args, const CommonOptions& common) {
  apply_common(common);
  if (args.pref.size() != 3) throw Error("--pref needs three numbers: robustness,utility,compression");
  const double total = args.pref[0] + args.pref[1] + args.pref[2];
  if (!(args.pref[0] >= 0 && args.pref[1] >= 0 && args.pref[2] >= 0) || total <= 0)
    throw Error("--pref entries must be non-negative and not all zero");
  const Preference w{args.pref[0] / total, args.pref[1] / total, args.pref[2] / total};
  auto store = open_sqlite_study(args.study);
  if (!study_has_policy(*store, run_name(args)))
    throw Error(args.study + ": no trained policy '" + run_name(args) + "' (run hipp-prune train first)");
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir));
  PlanEvaluator evaluator(session);
  GrpoSettings settings;
  settings.iterations = 0;
  HippTrainer trainer(evaluator, *store, settings, run_name(args));
  std::optional<double> sparsity;
  if (args.sparsity >= 0) sparsity = args.sparsity;
  const auto start = std::chrono::steady_clock::now();
  const auto blueprint = trainer.query(w, sparsity);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::optional<EvalOutcome> outcome;
  if (args.evaluate) outcome = evaluator.evaluate(blueprint, "query", w);
  if (common.json) {
    nlohmann::json j = {{"preference", w}, {"blueprint", blueprint_to_json(blueprint)}, {"policy_ms", ms}};
    if (outcome) {
      j["trial"] = outcome->trial_id;
      j["failed"] = outcome->failed;
      j["objectives"] = {{"robustness", outcome->metrics.objectives.robustness},
                         {"utility", outcome->metrics.objectives.utility},
                         {"compression", outcome->metrics.objectives.compression}};
      j["metrics"] = outcome->metrics.raw;
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::printf("preference (robustness %.2f, utility %.2f, compression %.2f): sparsity %.3f (policy call %.2f ms)\n",
              w[0], w[1], w[2], blueprint.sparsity, ms);
  std::printf("layer  allocation   kept / units  removed\n");
  for (size_t l = 0; l < blueprint.layers(); ++l)
    std::printf("%5zu  %10.4f  %6lld / %-6lld  %5.1f%%\n", l, blueprint.allocation[l],
                static_cast<long long>(blueprint.kept[l]), static_cast<long long>(blueprint.units[l]),
                100.0 * blueprint.ratio(l));
  if (outcome) {
    if (outcome->failed) throw Error("evaluation failed: " + outcome->error);
    const auto& o = outcome->metrics.objectives;
    std::printf("trial %lld%s: robustness %.3f, utility %.3f, compression %.3f (POPE mean F1 %.3f)\n",
                static_cast<long long>(outcome->trial_id), outcome->cached ? " (cached)" : "", o.robustness, o.utility,
                o.compression, outcome->metrics.raw.value("pope_mean_f1", 0.0));
  }
}

}  // namespace

void add_policy_commands(CLI::App& app, CommonOptions& common) {
  auto args = std::make_shared<PolicyArgs>();
  auto* train = app.add_subcommand("train", "train the HiPP policy on a study (plan-level GRPO)");
  train->add_option("--study", args->study, "study file")->required();
  train->add_option("--iterations", args->iterations, "GRPO iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto* group = train->add_option("--group", args->group, "plans sampled per preference (G)")
                    ->check(CLI::Range(2, 1024))
                    ->capture_default_str();
  auto* prefs = train->add_option("--prefs-per-iter", args->prefs, "preferences per iteration (B)")
                    ->check(CLI::PositiveNumber)
                    ->capture_default_str();
  auto* lr =
      train->add_option("--lr", args->lr, "Adam learning rate of the policy (a new run; a resumed run keeps its own)")
          ->check(finite_range(1e-6, 1.0))
          ->capture_default_str();
  train->add_flag("--small-budget", args->small_budget,
                  "groups of 4 for 2 preferences at lr 3e-3 (the app's settings): learns within ~100 plans; "
                  "--group/--prefs-per-iter/--lr still override");
  train->add_option("--epochs", args->epochs, "PPO epochs per batch (mu)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  train->add_option("--ablation", args->ablation, "none, no-vision, no-gate or flat")
      ->check(CLI::IsMember({"none", "no-vision", "no-gate", "flat"}))
      ->capture_default_str();
  train->add_option("--run", args->run, "checkpoint series name (default: hipp, or hipp-<ablation>)");
  train->add_option("--query-grid", args->query_grid, "preferences queried and evaluated after training (0 = none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  train
      ->add_option("--query-sparsities", args->query_sparsities,
                   "query the grid at each of these fixed sparsities (only the allocation is the policy's)")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 0.99));
  train->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  train->callback([args, &common, group, prefs, lr] {
    args->group_given = group->count() > 0;
    args->prefs_given = prefs->count() > 0;
    args->lr_given = lr->count() > 0;
    run_train(*args, common);
  });

  auto* query = app.add_subcommand("query", "the trained policy's plan for a preference");
  query->add_option("--study", args->study, "study file")->required();
  query->add_option("--pref", args->pref, "robustness,utility,compression weights")
      ->required()
      ->delimiter(',')
      ->expected(3);
  query->add_option("--sparsity", args->sparsity, "fix the global sparsity (only the allocation is chosen)")
      ->check(finite_range(0.0, 0.99));
  query->add_flag("--evaluate", args->evaluate, "evaluate the plan (a trial with origin query)");
  query->add_option("--run", args->run, "checkpoint series name (default: hipp)");
  query->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  query->callback([args, &common] { run_query(*args, common); });
}

}  // namespace hipp::cli
