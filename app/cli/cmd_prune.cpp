// Subcommands about pruning: prune (plan, slice and export a model).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_common.h"
#include "core/error.h"
#include "prune/pipeline.h"

namespace hipp::cli {

namespace {

struct PruneArgs {
  std::string model;
  std::string out;
  double sparsity = -1;
  std::string allocation = "uniform";
  std::string importance = "wanda-sp";
  std::string structure = "mlp_channels";
  std::string calibration;
  std::string cache_dir;
  int calibration_samples = CalibrationOptions{}.samples;
  double r_max = BudgetOptions{}.r_max;
  int64_t align = BudgetOptions{}.align;
};

std::string millions(int64_t n) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fM", static_cast<double>(n) / 1e6);
  return text;
}

void run_prune(const PruneArgs& args, const CommonOptions& common) {
  apply_common(common);
  PruneJob job;
  job.model_dir = args.model;
  job.out_dir = args.out;
  if (args.sparsity >= 0) job.sparsity = args.sparsity;
  job.allocation = args.allocation;
  job.importance = parse_importance(args.importance);
  job.structure = parse_structure(args.structure);
  job.calibration_dir = args.calibration;
  job.cache_dir = feature_cache_dir(args.cache_dir);
  job.calibration.samples = args.calibration_samples;
  if (common.seed) job.calibration.seed = common.seed;
  job.budget.r_max = args.r_max;
  job.budget.align = args.align;
  job.load = load_options(common);
  job.cancel = install_cancel_handler();
  job.log = [](const std::string& line) { progress_line("prune: " + line); };
  const auto result = run_prune_job(job);
  const auto& b = result.blueprint;
  if (common.json) {
    std::cout << nlohmann::json({{"out", args.out},
                                 {"blueprint", blueprint_to_json(b)},
                                 {"blueprint_hash", blueprint_hash(b)},
                                 {"language_params_before", result.before.language_params()},
                                 {"language_params_after", result.after.language_params()},
                                 {"total_params_before", result.before.total_params()},
                                 {"total_params_after", result.after.total_params()},
                                 {"language_flops_before", result.before.language_flops()},
                                 {"language_flops_after", result.after.language_flops()},
                                 {"seconds", result.seconds}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("pruned model: %s (blueprint.json inside, hash %s)\n", args.out.c_str(), blueprint_hash(b).c_str());
  std::printf("structure %s, importance %s, allocation %s\n", structure_name(b.structure).c_str(),
              importance_name(b.importance).c_str(), b.source.c_str());
  std::printf("sparsity asked %.4f, achieved %.4f of the prunable parameters\n\n", b.sparsity, b.achieved_sparsity);
  std::printf("layer  allocation   units    kept  removed\n");
  for (size_t l = 0; l < b.layers(); ++l)
    std::printf("%5zu  %10.4f  %6lld  %6lld  %6.1f%%\n", l, b.allocation[l], static_cast<long long>(b.units[l]),
                static_cast<long long>(b.kept[l]), 100.0 * b.ratio(l));
  std::printf("\nlanguage model  %s -> %s parameters, %.3g -> %.3g FLOPs per sequence\n",
              millions(result.before.language_params()).c_str(), millions(result.after.language_params()).c_str(),
              result.before.language_flops(), result.after.language_flops());
  std::printf("whole VLM       %s -> %s parameters\n", millions(result.before.total_params()).c_str(),
              millions(result.after.total_params()).c_str());
  std::printf("time            %.1f s\n", result.seconds);
}

}  // namespace

void add_prune_commands(CLI::App& app, CommonOptions& common) {
  auto args = std::make_shared<PruneArgs>();
  auto* prune = app.add_subcommand("prune", "plan, slice and export a structurally pruned model");
  prune->add_option("MODEL_DIR", args->model, "model folder")->required();
  prune->add_option("--out", args->out, "output folder (must not exist or be empty)")->required();
  prune->add_option("--sparsity", args->sparsity, "share of the prunable parameters to remove, in [0, 1)")
      ->check(finite_range(0.0, 0.999999));
  prune->add_option("--allocation", args->allocation, "uniform, owl, or a blueprint / allocation JSON file")
      ->capture_default_str();
  prune->add_option("--importance", args->importance, "magnitude, wanda-sp or flap")
      ->check(CLI::IsMember(importance_methods()))
      ->capture_default_str();
  prune->add_option("--structure", args->structure, "mlp_channels or attention_heads (whole KV groups)")
      ->check(CLI::IsMember({"mlp_channels", "attention_heads"}))
      ->capture_default_str();
  prune->add_option("--calibration", args->calibration, "benchmark folder whose ScienceQA train split calibrates");
  prune->add_option("--calibration-samples", args->calibration_samples, "calibration problems")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  prune->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  prune->add_option("--r-max", args->r_max, "largest share any one layer may lose")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  prune->add_option("--align", args->align, "kept counts are multiples of this")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  prune->callback([args, &common] { run_prune(*args, common); });
}

}  // namespace hipp::cli
