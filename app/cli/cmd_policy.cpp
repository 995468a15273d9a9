// Subcommands about the HiPP policy: train (plan-level GRPO on a study),
// query, and curve (the robustness-utility curve at one sparsity).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <tuple>

#include "cli_common.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "search/hipp_trainer.h"
#include "core/rank_correlation.h"
#include "study/pareto.h"
#include "study/selection.h"

namespace hipp::cli {

namespace {

struct PolicyArgs {
  std::string study;
  std::string run;
  std::string cache_dir;
  std::string ablation = "none";
  int iterations = small_budget_grpo_settings().iterations;
  // train's defaults: small groups and a larger step (small_budget_grpo_settings);
  // --large-groups gives METHOD.md's G, B and lr.
  int group = small_budget_grpo_settings().group;
  int prefs = small_budget_grpo_settings().prefs_per_iter;
  int query_grid = 15;
  std::vector<double> query_sparsities;
  double lr = small_budget_grpo_settings().lr;
  int epochs = GrpoSettings{}.epochs;
  double fixed_share = GrpoSettings{}.fixed_share;
  double lambda_stab = GrpoSettings{}.lambda_stab;
  std::string objective_scale = GrpoSettings{}.spread_scaled ? "spread" : "dense";
  std::string stability_reference = stability_reference_name(small_budget_grpo_settings().stability_reference);
  int budget_polish = small_budget_grpo_settings().budget_polish;
  std::string polish_target = polish_target_name(small_budget_grpo_settings().polish);
  int relabel = small_budget_grpo_settings().relabel;
  int replay = small_budget_grpo_settings().replay;
  std::string policy_inputs = small_budget_grpo_settings().preference_products ? "products" : "plain";
  bool small_budget = false;  // the defaults now; still accepted
  bool large_groups = false;
  // Which of --group, --prefs-per-iter and --lr the command line gave
  // (those override --large-groups' values).
  bool group_given = false, prefs_given = false, lr_given = false, fixed_share_given = false, lambda_given = false,
       scale_given = false, reference_given = false, polish_given = false, target_given = false, relabel_given = false,
       replay_given = false, inputs_given = false;
  std::vector<double> pref;
  double sparsity = -1;
  bool evaluate = false;
  bool workers = false;
  // curve: the path's ends, its points, the subset its plans are scored on.
  std::vector<double> from{1, 0, 0}, to{0, 1, 0};
  int points = 5;
  std::string subset = "full";
};

Preference preference_arg(const std::vector<double>& p, const char* option) {
  if (p.size() != 3) throw Error(std::string(option) + " needs three numbers: robustness,utility,compression");
  const double total = p[0] + p[1] + p[2];
  if (!(p[0] >= 0 && p[1] >= 0 && p[2] >= 0) || !(total > 0))
    throw Error(std::string(option) + " entries must be non-negative and not all zero");
  return {p[0] / total, p[1] / total, p[2] / total};
}

std::string run_name(const PolicyArgs& args) {
  if (!args.run.empty()) return args.run;
  return args.ablation == "none" ? "hipp" : "hipp-" + args.ablation;
}

void run_train(const PolicyArgs& args, const CommonOptions& common) {
  apply_common(common);
  auto store = open_study_store(args.study);
  std::optional<RemoteEvaluation> remote;
  if (args.workers) remote = workers_for(*store, args.study, "train");
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir),
                       [](const std::string& line) { progress_line("train: " + line); });
  PlanEvaluator evaluator(session);
  const auto* cancel = install_cancel_handler();
  evaluator.cancel = cancel;
  evaluator.remote = remote;
  GrpoSettings settings = args.large_groups ? GrpoSettings{} : small_budget_grpo_settings();
  settings.iterations = args.iterations;
  if (args.group_given) settings.group = args.group;
  if (args.prefs_given) settings.prefs_per_iter = args.prefs;
  if (args.lr_given) settings.lr = args.lr;
  if (args.relabel_given) settings.relabel = args.relabel;
  if (args.replay_given) settings.replay = args.replay;
  if (args.inputs_given) settings.preference_products = args.policy_inputs == "products";
  settings.epochs = args.epochs;
  settings.fixed_share = args.fixed_share;
  settings.lambda_stab = args.lambda_stab;
  settings.spread_scaled = args.objective_scale == "spread";
  if (!args.large_groups || args.reference_given)
    settings.stability_reference = parse_stability_reference(args.stability_reference, "--stability-reference");
  if (!args.large_groups || args.polish_given) settings.budget_polish = args.budget_polish;
  if (!args.large_groups || args.target_given) settings.polish = parse_polish_target(args.polish_target, "--polish");
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
        {args.lr_given, kept.lr != settings.lr, "--lr", std::to_string(kept.lr)},
        {args.fixed_share_given, kept.fixed_share != settings.fixed_share, "--fixed-share",
         std::to_string(kept.fixed_share)},
        {args.lambda_given, kept.lambda_stab != settings.lambda_stab, "--lambda-stab",
         std::to_string(kept.lambda_stab)},
        {args.scale_given, kept.spread_scaled != settings.spread_scaled, "--objective-scale",
         std::string(kept.spread_scaled ? "spread" : "dense")},
        {args.reference_given, kept.stability_reference != settings.stability_reference, "--stability-reference",
         std::string(stability_reference_name(kept.stability_reference))},
        {args.polish_given, kept.budget_polish != settings.budget_polish, "--budget-polish",
         std::to_string(kept.budget_polish)},
        {args.target_given, kept.polish != settings.polish, "--polish", std::string(polish_target_name(kept.polish))},
        {args.relabel_given, kept.relabel != settings.relabel, "--relabel", std::to_string(kept.relabel)},
        {args.replay_given, kept.replay != settings.replay, "--replay", std::to_string(kept.replay)},
        {args.inputs_given, kept.preference_products != settings.preference_products, "--policy-inputs",
         std::string(kept.preference_products ? "products" : "plain")}})
    if (given && differs)
      throw Error("run '" + run_name(args) + "' of " + args.study + " was started with " + option + " " + value +
                  "; a resumed run keeps its settings: leave " + option + " out, or start a new run with --run NAME");
  if (trainer.completed_iterations() > 0)
    progress_line("train: resuming run '" + run_name(args) + "' after iteration " +
                  std::to_string(trainer.completed_iterations()));
  trainer.train(
      [](const HippIterationReport& r) {
        if (r.polish_steps > 0) {
          progress_line("train: polishing the policy on the study's plans (" + std::to_string(r.polish_steps) +
                        " steps, no evaluation)");
          return;
        }
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
  const double hv = hypervolume(objectives_of(select_trials(store->trials(), {Subset::Search, policy_origins()})));
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
  const Preference w = preference_arg(args.pref, "--pref");
  auto store = open_study_store(args.study);
  if (!study_has_policy(*store, run_name(args)))
    throw Error(args.study + ": no trained policy '" + run_name(args) + "' (run hipp-prune train first)");
  GrpoSettings settings;
  settings.iterations = 0;
  // Without --evaluate the study alone answers (its stored layer states and
  // plan context: no model load); a study that keeps no context yet loads
  // the model once, which stores it.
  std::unique_ptr<PlanContext> stored = args.evaluate ? nullptr : StoredPlanContext::open(*store);
  std::unique_ptr<StudySession> session;
  std::unique_ptr<PlanEvaluator> evaluator;
  std::unique_ptr<HippTrainer> trainer;
  if (stored) {
    trainer = std::make_unique<HippTrainer>(*stored, *store, settings, run_name(args));
  } else {
    session = std::make_unique<StudySession>(*store, load_options(common), feature_cache_dir(args.cache_dir),
                                             [](const std::string& line) { progress_line("query: " + line); });
    evaluator = std::make_unique<PlanEvaluator>(*session);
    trainer = std::make_unique<HippTrainer>(*evaluator, *store, settings, run_name(args));
  }
  std::optional<double> sparsity;
  if (args.sparsity >= 0) sparsity = args.sparsity;
  const auto start = std::chrono::steady_clock::now();
  const auto blueprint = trainer->query(w, sparsity);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::optional<EvalOutcome> outcome;
  if (args.evaluate) outcome = evaluator->evaluate(blueprint, "query", w);
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

// The policy's plans at one sparsity for preferences from --from to --to,
// each scored (full test sets by default) and stored as a curve the app
// draws; prints one row per plan: the preference, the layer ratios and the
// scores, then what the curve spans.
void run_curve(const PolicyArgs& args, const CommonOptions& common) {
  apply_common(common);
  const Preference from = preference_arg(args.from, "--from"), to = preference_arg(args.to, "--to");
  auto store = open_study_store(args.study);
  if (!study_has_policy(*store, run_name(args)))
    throw Error(args.study + ": no trained policy '" + run_name(args) + "' (run hipp-prune train first)");
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir));
  PlanEvaluator evaluator(session);
  const auto* cancel = install_cancel_handler();
  evaluator.cancel = cancel;
  GrpoSettings settings;
  settings.iterations = 0;
  HippTrainer trainer(evaluator, *store, settings, run_name(args));
  const double sparsity = args.sparsity >= 0 ? args.sparsity : 0.5;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<double> pope, sqa;
  bool header = false;
  const int64_t id = trainer.evaluate_curve(
      from, to, args.points, sparsity, parse_subset(args.subset),
      [&](const HippTrainer::CurvePoint& p) {
        const auto& raw = p.outcome.metrics.raw;
        const nlohmann::json no_sqa = nlohmann::json::object();
        const auto& q = raw.contains("scienceqa") ? raw["scienceqa"] : no_sqa;
        std::vector<double> ratios;
        for (size_t l = 0; l < p.plan.layers(); ++l) ratios.push_back(p.plan.ratio(l));
        pope.push_back(raw.value("pope_mean_f1", 0.0));
        sqa.push_back(q.value("accuracy", 0.0));
        rows.push_back({{"preference", p.preference},
                        {"trial", p.outcome.trial_id},
                        {"sparsity", p.plan.achieved_sparsity},
                        {"layer_ratios", ratios},
                        {"pope_mean_f1", pope.back()},
                        {"scienceqa", sqa.back()},
                        {"scienceqa_image", q.value("image_accuracy", 0.0)},
                        {"scienceqa_no_image", q.value("no_image_accuracy", 0.0)}});
        progress_line("curve: point " + std::to_string(p.index + 1) + "/" + std::to_string(p.count));
        if (common.json) return;
        if (!header) {
          std::printf("%-17s  %-*s  %6s  %6s  %6s  %8s\n", "w (rob/util/comp)", static_cast<int>(6 * ratios.size() - 1),
                      "layer ratios", "POPE", "SQA", "IMG", "no image");
          header = true;
        }
        std::string r;
        for (double x : ratios) {
          char t[16];
          std::snprintf(t, sizeof t, "%s%5.2f", r.empty() ? "" : " ", x);
          r += t;
        }
        std::printf("%4.2f / %4.2f / %4.2f  %s  %6.3f  %6.3f  %6.3f  %8.3f\n", p.preference[0], p.preference[1],
                    p.preference[2], r.c_str(), pope.back(), sqa.back(), q.value("image_accuracy", 0.0),
                    q.value("no_image_accuracy", 0.0));
        std::fflush(stdout);
      },
      cancel);
  // How the scores follow the walk from --from to --to: rank correlation of
  // the point's index with each score (+1: rises all the way).
  std::vector<double> step(pope.size());
  for (size_t k = 0; k < step.size(); ++k) step[k] = static_cast<double>(k);
  const double rho_pope = pope.size() > 1 ? spearman(step, pope) : 0.0;
  const double rho_sqa = sqa.size() > 1 ? spearman(step, sqa) : 0.0;
  if (common.json) {
    std::cout << nlohmann::json({{"curve", id},
                                 {"sparsity", sparsity},
                                 {"subset", args.subset},
                                 {"points", rows},
                                 {"spearman_step_pope", rho_pope},
                                 {"spearman_step_scienceqa", rho_sqa}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf(
      "curve %lld (%s, s = %.2f): POPE mean F1 %.3f .. %.3f, ScienceQA %.3f .. %.3f; along the path "
      "Spearman(step, POPE) %+.2f, Spearman(step, ScienceQA) %+.2f\n",
      static_cast<long long>(id), args.subset.c_str(), sparsity, *std::min_element(pope.begin(), pope.end()),
      *std::max_element(pope.begin(), pope.end()), *std::min_element(sqa.begin(), sqa.end()),
      *std::max_element(sqa.begin(), sqa.end()), rho_pope, rho_sqa);
}

}  // namespace

void add_policy_commands(CLI::App& app, CommonOptions& common) {
  auto args = std::make_shared<PolicyArgs>();
  auto* train = app.add_subcommand("train", "train the HiPP policy on a study (plan-level GRPO)");
  train->add_option("--study", args->study, kStudyOptionHelp)->required();
  train->add_option("--iterations", args->iterations, "GRPO iterations")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_flag("--workers", args->workers, kWorkersHelp);
  auto* group = train->add_option("--group", args->group, "plans sampled per preference (G; 8 with --large-groups)")
                    ->check(CLI::Range(2, 1024))
                    ->capture_default_str();
  auto* prefs =
      train->add_option("--prefs-per-iter", args->prefs, "preferences per iteration (B; 4 with --large-groups)")
          ->check(CLI::PositiveNumber)
          ->capture_default_str();
  auto* lr =
      train
          ->add_option(
              "--lr", args->lr,
              "Adam learning rate of the policy (3e-4 with --large-groups; a new run; a resumed run keeps its own)")
          ->check(finite_range(1e-6, 1.0))
          ->capture_default_str();
  auto* large_groups = train->add_flag(
      "--large-groups", args->large_groups,
      "METHOD.md's settings instead of the defaults: groups of 8 for 4 preferences at lr 3e-4, no relabelling or "
      "replay, plain policy inputs (the defaults: groups of 4 for 2 preferences at lr 3e-3, each group relabelled "
      "with 4 more preferences, 8 replayed groups, preference products; they learn within ~100 plans); the options "
      "below still override");
  // The defaults since they won the search table (docs/policy.md); kept for scripts.
  auto* small_budget = train->add_flag("--small-budget", args->small_budget, "")->group("");
  auto* relabel =
      train
          ->add_option("--relabel", args->relabel,
                       "score every evaluated group again under this many more preferences (no evaluation) and learn "
                       "from each (0 with --large-groups)")
          ->check(CLI::Range(0, 64))
          ->capture_default_str();
  auto* replay =
      train
          ->add_option("--replay", args->replay,
                       "each iteration, also learn from this many groups of the study's earlier plans (any origin, "
                       "search subset), each ranked under a fresh preference (no evaluation; 0 with --large-groups)")
          ->check(CLI::Range(0, 64))
          ->capture_default_str();
  auto* inputs =
      train
          ->add_option("--policy-inputs", args->policy_inputs,
                       "what the policy's layer encoder reads: products (state, w and every w_k * state feature) or "
                       "plain (state and w; --large-groups)")
          ->check(CLI::IsMember({"products", "plain"}))
          ->capture_default_str();
  train->add_option("--epochs", args->epochs, "PPO epochs per batch (mu)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  auto* lambda_stab =
      train
          ->add_option("--lambda-stab", args->lambda_stab,
                       "weight of the stability term lambda_stab * log(rho_geo) in the return (METHOD.md section 5)")
          ->check(finite_range(0.0, 10.0))
          ->capture_default_str();
  auto* reference =
      train
          ->add_option("--stability-reference", args->stability_reference,
                       "what the stability term compares the plan's retained flow with: absolute (METHOD.md: "
                       "log(rho_geo), which also charges for the sparsity) or uniform (rho_geo over the uniform plan's "
                       "at the same sparsity: only how the budget is spent is judged, how much to remove is left to "
                       "the preference)")
          ->check(CLI::IsMember({"absolute", "uniform"}))
          ->capture_default_str();
  auto* polish =
      train
          ->add_option("--budget-polish", args->budget_polish,
                       "after the last iteration, this many updates of the policy's heads on the study's plans, no "
                       "evaluation (what they fit: --polish; 0 with --large-groups)")
          ->check(CLI::Range(0, 10000))
          ->capture_default_str();
  auto* polish_target =
      train
          ->add_option("--polish", args->polish_target,
                       "what the polish fits: plan (the budget head and a compression head, an allocation correction "
                       "weighted by w_comp, towards the study's best plan for each preference by w . o; every plan "
                       "with w_comp = 0 at a fixed sparsity stays as trained) or budget (the budget head alone, "
                       "towards the best plan's sparsity by the return with the stability term over the uniform "
                       "plan's; every plan at a fixed sparsity stays as trained)")
          ->check(CLI::IsMember({"plan", "budget"}))
          ->capture_default_str();
  auto* fixed_share =
      train
          ->add_option("--fixed-share", args->fixed_share,
                       "share of the groups sampled at a fixed sparsity (uniform on the study's range; only the "
                       "allocation sampled)")
          ->check(finite_range(0.0, 1.0))
          ->capture_default_str();
  auto* scale =
      train
          ->add_option("--objective-scale", args->objective_scale,
                       "how a preference weighs the objectives: spread (each weight per unit of that objective's "
                       "spread over the study's plans) or dense (METHOD.md: w . o, objectives over the dense model's)")
          ->check(CLI::IsMember({"spread", "dense"}))
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
  train->callback([args, &common, group, prefs, lr, fixed_share, lambda_stab, scale, reference, polish, polish_target,
                   relabel, replay, inputs, large_groups, small_budget] {
    if (large_groups->count() > 0 && small_budget->count() > 0)
      throw CLI::ValidationError("--large-groups", "cannot be combined with --small-budget (the defaults)");
    args->fixed_share_given = fixed_share->count() > 0;
    args->lambda_given = lambda_stab->count() > 0;
    args->scale_given = scale->count() > 0;
    args->reference_given = reference->count() > 0;
    args->polish_given = polish->count() > 0;
    args->target_given = polish_target->count() > 0;
    args->group_given = group->count() > 0;
    args->prefs_given = prefs->count() > 0;
    args->lr_given = lr->count() > 0;
    args->relabel_given = relabel->count() > 0;
    args->replay_given = replay->count() > 0;
    args->inputs_given = inputs->count() > 0;
    run_train(*args, common);
  });

  auto* query = app.add_subcommand("query", "the trained policy's plan for a preference");
  query->add_option("--study", args->study, kStudyOptionHelp)->required();
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

  auto* curve = app.add_subcommand(
      "curve",
      "the policy's plans at one sparsity along a path of preferences, each scored (robustness-utility curve)");
  curve->add_option("--study", args->study, kStudyOptionHelp)->required();
  curve->add_option("--sparsity", args->sparsity, "the global sparsity of every plan (default 0.5)")
      ->check(finite_range(0.0, 0.99));
  curve->add_option("--from", args->from, "the path's first preference (robustness,utility,compression)")
      ->delimiter(',')
      ->expected(3)
      ->capture_default_str();
  curve->add_option("--to", args->to, "the path's last preference")->delimiter(',')->expected(3)->capture_default_str();
  curve->add_option("--points", args->points, "plans along the path, ends included")
      ->check(CLI::Range(2, 101))
      ->capture_default_str();
  curve->add_option("--subset", args->subset, "what each plan is scored on: full test sets or the search subset")
      ->check(CLI::IsMember({"full", "search"}))
      ->capture_default_str();
  curve->add_option("--run", args->run, "checkpoint series name (default: hipp)");
  curve->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  curve->callback([args, &common] { run_curve(*args, common); });
}

}  // namespace hipp::cli
