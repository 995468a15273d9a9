#include "finetune/job.h"

#include <cctype>
#include <filesystem>

#include "core/error.h"
#include "prune/export.h"
#include "search/plan_evaluator.h"
#include "study/pg_store.h"

namespace hipp {
namespace fs = std::filesystem;

std::string finetune_out_dir(const FinetuneJob& job) {
  if (!job.out_dir.empty()) return job.out_dir;
  if (is_postgresql_url(job.study)) {
    // Beside nothing: in the working folder, named after the study.
    std::string name = parse_pg_study_url(job.study).study;
    for (char& c : name)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    return (fs::current_path() / (name + "-trial" + std::to_string(job.trial) + "-finetuned")).string();
  }
  const fs::path study(job.study);
  return (study.parent_path() / (study.stem().string() + "-trial" + std::to_string(job.trial) + "-finetuned")).string();
}

std::string finetune_checkpoint_path(const std::string& out_dir) {
  std::string dir = out_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir + ".lora.safetensors";
}

FinetuneResult run_finetune_job(const FinetuneJob& job) {
  auto log = [&](const std::string& line) {
    if (job.log) job.log(line);
  };
  FinetuneResult result;
  result.out_dir = finetune_out_dir(job);
  result.checkpoint = finetune_checkpoint_path(result.out_dir);
  if (fs::exists(result.out_dir)) throw Error(result.out_dir + " already exists; choose another --out or remove it");
  if (job.resume && !fs::exists(result.checkpoint))
    throw Error(result.checkpoint + ": no adapter checkpoint to resume from");
  if (!job.resume && fs::exists(result.checkpoint))
    throw Error(result.checkpoint + " exists from an earlier run: pass --resume to continue it, or remove it");

  auto store = open_study_store(job.study);
  const auto parent = store->trial(job.trial);
  if (!parent) throw Error(job.study + ": no trial " + std::to_string(job.trial));
  if (parent->parent)
    throw Error("trial " + std::to_string(job.trial) + " is itself a fine-tune of trial " +
                std::to_string(*parent->parent) + "; fine-tune the pruned plan's trial");
  const auto plan = store->plan(parent->plan_id);
  if (!plan) throw Error(job.study + ": trial " + std::to_string(job.trial) + " has no plan");
  const auto blueprint =
      blueprint_from_json(plan->blueprint, job.study + ": plan of trial " + std::to_string(job.trial));
  const Subset subset = job.subset.value_or(parent->subset);
  const auto study = store->study();
  const std::string data_path =
      job.data.empty() ? (fs::path(study.bench_dir) / "instruct" / "llava_instruct.json").string() : job.data;
  const auto data = read_instruct_file(data_path, job.image_folder);
  log("fine-tuning data: " + std::to_string(data.size()) + " conversations from " + data_path);

  log("loading the study's model and benchmark");
  StudySession session(*store, job.load, job.cache_dir, job.log);
  PlanEvaluator evaluator(session);
  evaluator.cancel = job.cancel;
  // LoRA trains and merges into this model: its own copy of every tensor.
  auto model = session.pruned_model(blueprint, WeightSharing::Copy);
  log("plan of trial " + std::to_string(job.trial) + ": sparsity " + std::to_string(blueprint.achieved_sparsity));

  FinetuneRun run;
  run.checkpoint_path = result.checkpoint;
  run.resume = job.resume;
  run.identity = {
      {"study_model", study.model_fingerprint}, {"plan", plan->hash}, {"data", fs::absolute(data_path).string()}};
  run.progress = job.progress;
  run.cancel = job.cancel;
  const auto& folder = session.folder();
  result.training = finetune_lora(model, folder.tokenizer, folder.preprocessor, data, job.settings, run);
  merge_lora(model);

  nlohmann::json details = {{"settings", finetune_settings_to_json(job.settings)},
                            {"steps", result.training.steps},
                            {"train_seconds", result.training.seconds},
                            {"final_loss", result.training.final_loss},
                            {"data", fs::absolute(data_path).string()},
                            {"examples", result.training.examples},
                            {"out_dir", fs::absolute(result.out_dir).string()},
                            {"parent_trial", job.trial}};
  log("exporting the merged model to " + result.out_dir);
  export_pruned_model(model, blueprint, study.model_dir, result.out_dir, details);
  fs::remove(result.checkpoint);

  log(std::string("scoring the fine-tuned model (") + subset_name(subset) + " subset)");
  const auto outcome = evaluator.evaluate_child(model, blueprint, job.trial, "finetune", details, subset);
  if (outcome.failed) throw Error("scoring the fine-tuned model failed: " + outcome.error);
  result.parent = *store->trial(job.trial);
  result.child = *store->trial(outcome.trial_id);
  return result;
}

}  // namespace hipp
