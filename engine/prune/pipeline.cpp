#include "prune/pipeline.h"

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "data/scienceqa.h"
#include "eval/evaluator.h"
#include "model/fingerprint.h"
#include "model/model_folder.h"
#include "prune/apply.h"
#include "prune/export.h"

namespace hipp {
namespace fs = std::filesystem;

AllocationFile read_allocation_file(const std::string& path) {
  const auto json = read_json_file(path);
  AllocationFile out;
  if (json.is_object() && json.contains("schema_version")) {
    out.blueprint = blueprint_from_json(json, path);
    out.allocation = out.blueprint->allocation;
    return out;
  }
  nlohmann::json list = json;
  if (json.is_object()) {
    if (!json.contains("allocation")) throw Error(path + ": expected a blueprint, {\"allocation\": [...]} or a list");
    list = json["allocation"];
  }
  if (!list.is_array() || list.empty()) throw Error(path + ": the allocation must be a non-empty list of numbers");
  std::vector<double> weights;
  for (const auto& v : list) {
    if (!v.is_number()) throw Error(path + ": allocation entries must be numbers");
    weights.push_back(v.get<double>());
  }
  try {
    out.allocation = normalise_allocation(weights);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  return out;
}

PruneResult run_prune_job(const PruneJob& job) {
  const auto start = std::chrono::steady_clock::now();
  auto log = [&](const std::string& line) {
    if (job.log) job.log(line);
  };
  auto check_cancel = [&] {
    if (job.cancel && job.cancel->load()) throw Cancelled();
  };
  if (job.out_dir.empty()) throw Error("an output folder is needed (--out)");
  if (fs::exists(job.out_dir) && !(fs::is_directory(job.out_dir) && fs::is_empty(job.out_dir)))
    throw Error(job.out_dir + ": already exists and is not an empty folder");

  // Settings first, so that mistakes are reported before the slow steps.
  PlanRequest request;
  request.structure = job.structure;
  request.importance = job.importance;
  request.budget = job.budget;
  std::optional<AllocationFile> file;
  if (job.allocation != "uniform" && job.allocation != "owl") {
    if (!fs::exists(job.allocation))
      throw Error("--allocation must be uniform, owl or a JSON file; " + job.allocation + " does not exist");
    file = read_allocation_file(job.allocation);
    request.allocation = file->allocation;
    request.source = "file";
    if (file->blueprint) {
      request.structure = file->blueprint->structure;
      request.importance = file->blueprint->importance;
      request.budget.r_max = file->blueprint->r_max;
      request.budget.align = file->blueprint->align;
      request.source = file->blueprint->source.empty() ? "file" : file->blueprint->source;
    }
  } else {
    request.source = job.allocation;
  }
  if (job.sparsity) {
    request.sparsity = *job.sparsity;
  } else if (file && file->blueprint) {
    request.sparsity = file->blueprint->sparsity;
  } else {
    throw Error("a sparsity is needed (--sparsity), unless --allocation names a blueprint");
  }
  const bool needs_calibration = importance_needs_calibration(request.importance) || job.allocation == "owl";
  if (needs_calibration && job.calibration_dir.empty())
    throw Error(std::string(job.allocation == "owl" ? "the owl allocation"
                                                    : "importance '" + importance_name(request.importance) + "'") +
                " needs calibration data: give a benchmark folder (--calibration BENCH_DIR)");

  log("loading " + job.model_dir);
  auto folder = load_model_folder(job.model_dir, job.load);
  auto& model = folder.model;
  model->eval();
  log("fingerprinting the weights");
  const std::string fingerprint = model_fingerprint(model);
  if (file && file->blueprint) check_blueprint_model(*file->blueprint, fingerprint);
  check_cancel();

  std::optional<CalibrationStats> stats;
  if (needs_calibration) {
    log("calibrating on " + std::to_string(job.calibration.samples) + " ScienceQA '" + job.calibration.split +
        "' problems from " + job.calibration_dir);
    const auto sqa = read_scienceqa((fs::path(job.calibration_dir) / "scienceqa").string());
    Evaluator evaluator(model, folder.tokenizer, folder.preprocessor, job.cache_dir);
    stats = collect_calibration(evaluator, model, folder.tokenizer, sqa, job.calibration);
    request.calibration_fingerprint = stats->fingerprint;
  }
  check_cancel();
  if (job.allocation == "owl") {
    if (request.structure != Structure::MlpChannels) throw Error("the owl allocation is defined for mlp_channels");
    request.allocation = owl_allocation(layer_outlier_ratios(model, *stats), request.sparsity);
  }
  const auto blueprint = make_blueprint(model->config(), fingerprint, request);
  if (file && file->blueprint && file->blueprint->kept != blueprint.kept && !job.sparsity)
    throw Error(job.allocation + ": replaying this blueprint gives other layer widths than it records");
  log("importance: " + importance_name(request.importance) + ", structure: " + structure_name(request.structure));
  const auto importance = compute_importance(model, request.structure, request.importance, stats ? &*stats : nullptr);
  check_cancel();
  log("slicing");
  // Only exported: the unchanged tensors stay the dense model's.
  auto pruned = apply_blueprint(model, fingerprint, blueprint, importance, WeightSharing::ShareUnchanged);
  check_cancel();
  log("writing " + job.out_dir);
  export_pruned_model(pruned, blueprint, job.model_dir, job.out_dir);

  PruneResult result;
  result.blueprint = blueprint;
  const int64_t tokens = model->config().nominal_image_tokens() + 64;
  result.before = model_cost(model->config(), tokens);
  result.after = model_cost(pruned->config(), tokens);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace hipp
