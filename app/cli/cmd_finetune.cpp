// Subcommands about recovery: finetune (LoRA on a study trial's pruned model).
#include <cstdio>
#include <iostream>
#include <memory>

#include "cli_common.h"
#include "core/error.h"
#include "finetune/job.h"

namespace hipp::cli {

namespace {

struct FinetuneArgs {
  std::string study;
  int64_t trial = 0;
  FinetuneSettings settings;
  std::string data;
  std::string image_folder;
  std::string out;
  std::string subset;
  std::string cache_dir;
  std::vector<std::string> targets;
  bool resume = false;
};

std::string clock_text(double seconds) {
  char text[32];
  const int s = static_cast<int>(seconds + 0.5);
  std::snprintf(text, sizeof text, "%d:%02d", s / 60, s % 60);
  return text;
}

void print_metrics_row(const char* name, const Trial& t) {
  if (!t.metrics) {
    std::printf("%-12s %s\n", name, t.state == TrialState::Fail ? ("failed: " + t.error).c_str() : "not scored");
    return;
  }
  const auto& raw = t.metrics->raw;
  auto number = [&](const char* key) {
    return raw.contains(key) && raw[key].is_number() ? raw[key].get<double>() : -1.0;
  };
  const auto& sqa = raw.contains("scienceqa") ? raw["scienceqa"] : nlohmann::json::object();
  auto sqa_number = [&](const char* key) {
    return sqa.contains(key) && sqa[key].is_number() ? sqa[key].get<double>() : -1.0;
  };
  std::printf("%-12s %8lld  %13.4f  %13.4f  %11.4f  %12.4f  %12.4f\n", name, static_cast<long long>(t.id),
              number("pope_mean_f1"), sqa_number("accuracy"), t.metrics->objectives.robustness,
              t.metrics->objectives.utility, t.metrics->objectives.compression);
}

void run_finetune(FinetuneArgs args, const CommonOptions& common) {
  apply_common(common);
  FinetuneJob job;
  job.study = args.study;
  job.trial = args.trial;
  job.settings = args.settings;
  if (!args.targets.empty()) job.settings.lora.targets = args.targets;
  if (common.seed) job.settings.lora.seed = common.seed;
  job.data = args.data;
  job.image_folder = args.image_folder;
  job.out_dir = args.out;
  job.resume = args.resume;
  if (!args.subset.empty()) job.subset = parse_subset(args.subset);
  job.cache_dir = feature_cache_dir(args.cache_dir);
  job.load = load_options(common);
  job.cancel = install_cancel_handler();
  job.log = [](const std::string& line) { progress_line("finetune: " + line); };
  job.progress = [](const FinetuneProgress& p) {
    char line[200];
    std::snprintf(line, sizeof line, "finetune: step %d/%d, loss %.4f, lr %.2e, %.0f tokens/s, %s elapsed, ~%s left",
                  p.step, p.steps, p.loss, p.lr, p.tokens_per_second, clock_text(p.seconds).c_str(),
                  clock_text(p.eta_seconds).c_str());
    progress_line(line);
  };
  FinetuneResult result;
  try {
    result = run_finetune_job(job);
  } catch (const Cancelled&) {
    progress_line("finetune: stopped; the adapters of the last finished step are in " +
                  finetune_checkpoint_path(finetune_out_dir(job)) + " (continue with --resume)");
    throw;
  }
  if (common.json) {
    auto trial_json = [](const Trial& t) {
      nlohmann::json j = {{"id", t.id}, {"origin", t.origin}, {"subset", subset_name(t.subset)}};
      if (t.metrics)
        j["objectives"] = {{"robustness", t.metrics->objectives.robustness},
                           {"utility", t.metrics->objectives.utility},
                           {"compression", t.metrics->objectives.compression}},
        j["raw"] = t.metrics->raw;
      return j;
    };
    std::cout << nlohmann::json({{"out", result.out_dir},
                                 {"parent", trial_json(result.parent)},
                                 {"child", trial_json(result.child)},
                                 {"details", result.child.details}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("fine-tuned model: %s (blueprint.json and finetune.json inside)\n", result.out_dir.c_str());
  std::printf("steps %d (from step %d), final loss %.4f, %d conversations, training %s\n", result.training.steps,
              result.training.first_step, result.training.final_loss, static_cast<int>(result.training.examples),
              clock_text(result.training.seconds).c_str());
  std::printf("\n%-12s %8s  %13s  %13s  %11s  %12s  %12s\n", "", "trial", "POPE mean F1", "ScienceQA acc", "robustness",
              "utility", "compression");
  print_metrics_row("pruned", result.parent);
  print_metrics_row("fine-tuned", result.child);
  std::printf("(%s subset; the fine-tuned trial is a child of trial %lld in the study)\n",
              subset_name(result.child.subset), static_cast<long long>(result.parent.id));
}

}  // namespace

void add_finetune_commands(CLI::App& app, CommonOptions& common) {
  auto args = std::make_shared<FinetuneArgs>();
  auto* ft = app.add_subcommand("finetune", "recover a pruned plan with LoRA, merge, export and score it in the study");
  ft->add_option("--study", args->study, kStudyOptionHelp)->required();
  ft->add_option("--trial", args->trial, "the pruned plan's trial id (see 'study show' / 'front')")
      ->required()
      ->check(CLI::PositiveNumber);
  ft->add_option("--steps", args->settings.steps, "training steps")->check(CLI::PositiveNumber)->capture_default_str();
  ft->add_option("--batch", args->settings.batch_size, "conversations per step")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  ft->add_option("--rank", args->settings.lora.rank, "LoRA rank")->check(CLI::PositiveNumber)->capture_default_str();
  ft->add_option("--alpha", args->settings.lora.alpha, "LoRA alpha (scale alpha/rank)")
      ->check(finite_positive())
      ->capture_default_str();
  ft->add_option("--dropout", args->settings.lora.dropout, "dropout on the adapters' input")
      ->check(finite_range(0.0, 0.99))
      ->capture_default_str();
  ft->add_option("--lr", args->settings.lr, "peak learning rate")->check(finite_positive())->capture_default_str();
  ft->add_option("--warmup", args->settings.warmup_steps, "warm-up steps")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ft->add_option("--targets", args->targets, "projections to adapt (default: all seven)")
      ->delimiter(',')
      ->check(CLI::IsMember(lora_target_names()));
  ft->add_option("--max-length", args->settings.max_length, "longest training sequence in tokens")
      ->check(CLI::Range(8, 1 << 20))
      ->capture_default_str();
  ft->add_option("--checkpoint-every", args->settings.checkpoint_every,
                 "steps between adapter checkpoints (0 = at the end)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  ft->add_option("--data", args->data,
                 "LLaVA instruction JSON (default: the study benchmark's instruct/llava_instruct.json)");
  ft->add_option("--image-folder", args->image_folder, "folder of the data's images (default: beside the file)");
  ft->add_option("--out", args->out, "export folder (default: <study>-trial<T>-finetuned beside the study)");
  ft->add_option("--subset", args->subset, "score on search or full (default: the parent trial's)")
      ->check(CLI::IsMember({"search", "full"}));
  ft->add_option("--cache-dir", args->cache_dir, "image-feature cache (default: the user cache; 'none' = memory)");
  ft->add_flag("--resume", args->resume, "continue an interrupted run from its adapter checkpoint");
  ft->callback([args, &common] { run_finetune(*args, common); });
}

}  // namespace hipp::cli
