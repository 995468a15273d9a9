// Subcommands about benchmarks: demo (build the embedded demo) and eval.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <numeric>

#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "demo/demo.h"
#include "eval/benchmark.h"
#include "eval/answers.h"
#include "eval/evaluator.h"
#include "model/checkpoint.h"
#include "model/model_folder.h"
#include "model/presets.h"

namespace hipp::cli {
namespace fs = std::filesystem;

namespace {

// The options bind straight to the fields they set: a field's default is
// the one DemoOptions (and DemoTrainingOptions) declare.
struct DemoArgs {
  DemoOptions options;
  int sqa_test = SyntheticBenchmarkOptions{}.sqa_test;
  std::vector<double> mix;
  std::vector<double> final_mix;
  bool require_quality = false;
  // Set when the option was given: a --steps without them scales the
  // curriculum's phases with it.
  CLI::Option* caption_only_option = nullptr;
  // The final phase's settings, refused without --final-steps.
  std::vector<const CLI::Option*> final_phase_options;
  CLI::Option* letter_only_option = nullptr;
  CLI::Option* text_only_option = nullptr;
  // Options that act through the image-only layers in the vision-first
  // phases: given explicitly without them, refused (their defaults then
  // simply do not apply).
  CLI::Option* rehearsal_option = nullptr;
  CLI::Option* first_phase_grad_option = nullptr;
};

struct EvalArgs {
  std::string model;
  std::string bench;
  std::string subset = "search";
  std::string answers_dir;
  std::string cache_dir;
  bool blank_images = false;
  int batch = 32;
  double shared_prefix_cost = EvalOptions{}.shared_prefix_cost;
  int pope_per_split = SubsetOptions{}.pope_per_split;
  int sqa = SubsetOptions{}.sqa;
};

void run_demo(const DemoArgs& args, const CommonOptions& common) {
  apply_common(common);
  DemoOptions options = args.options;
  if (options.out.empty()) options.out = default_cache_dir() + "/demo";
  options.device = common.device;
  options.benchmark.sqa_test = args.sqa_test;
  options.benchmark.sqa_train = args.sqa_test;
  options.benchmark.sqa_val = std::max(2, args.sqa_test / 3);
  options.benchmark.instruction_conversations = std::max(2, args.sqa_test * 5 / 3);
  // Phases not given scale with --steps (never up).
  const double scale = std::min(1.0, static_cast<double>(options.training.steps) / DemoTrainingOptions{}.steps);
  auto scaled = [&](const CLI::Option* given, int* steps) {
    if (given && given->count() == 0) *steps = static_cast<int>(std::lround(*steps * scale));
  };
  scaled(args.caption_only_option, &options.training.caption_only_steps);
  scaled(args.letter_only_option, &options.training.letter_only_steps);
  scaled(args.text_only_option, &options.training.text_only_steps);
  // --mix and --final-mix: 4 to 7 shares, the ones not given 0.
  auto set_shares = [](const std::vector<double>& m, const char* option, TaskShares& shares) {
    if (m.empty()) return;
    const auto fields = shares.fields();
    for (size_t i = 0; i < fields.size(); ++i) *fields[i] = i < m.size() ? m[i] : 0.0;
    if (std::accumulate(m.begin(), m.end(), 0.0) <= 0)
      throw CLI::ValidationError(option, "needs at least one positive share");
  };
  set_shares(args.mix, "--mix", options.training.mix);
  set_shares(args.final_mix, "--final-mix", options.training.final_mix);
  if (options.training.final_steps == 0)
    for (const auto* given : args.final_phase_options)
      if (given->count() > 0) throw CLI::ValidationError(given->get_name(), "needs --final-steps");
  if (options.training.final_steps >= options.training.steps)
    throw CLI::ValidationError("--final-steps",
                               "must be fewer than --steps (" + std::to_string(options.training.steps) + ")");
  const auto& t = options.training;
  if (args.rehearsal_option->count() > 0 && t.rehearsal_share > 0 && (t.image_only_layers <= 0 || !t.vision_first))
    throw Error(
        "--rehearsal keeps the image-only layers frozen while the drills and text phases of --vision-first "
        "rehearse captions and yes/no: it needs --image-only-layers > 0 and --vision-first");
  if (args.first_phase_grad_option->count() > 0 && (t.image_only_layers <= 0 || !t.vision_first))
    throw Error(
        "--first-phase-upper-mlp-image-grad acts on the MLPs above the image-only layers in the first phase of "
        "--vision-first: it needs --image-only-layers > 0 and --vision-first");
  options.training.seed = common.seed ? common.seed : options.training.seed;
  options.cancel = install_cancel_handler();
  options.log = [](const std::string& line) { progress_line("demo: " + line); };
  progress_line("demo: building in " + options.out + " (Ctrl-C stops cleanly)");
  const auto report = build_demo(options);
  const auto failures = demo_quality_failures(report);
  if (common.json) {
    std::cout << nlohmann::json({{"out", options.out},
                                 {"test", result_to_json(report.test)},
                                 {"blank_images", result_to_json(report.blank)},
                                 {"train_seconds", report.train_seconds},
                                 {"build_seconds", report.build_seconds},
                                 {"quality_failures", failures}})
                     .dump(2)
              << "\n";
  } else {
    std::cout << "demo model: " << options.out << "/model\ndemo benchmark: " << options.out << "/bench\n\n"
              << result_to_text(report.test) << "\nwith blank images:\n"
              << result_to_text(report.blank);
    std::printf("\ntraining %.0f s, whole build %.0f s\n", report.train_seconds, report.build_seconds);
    if (failures.empty()) {
      std::cout << "quality bar: met\n";
    } else {
      std::cout << "quality bar: NOT met:\n";
      for (const auto& f : failures) std::cout << "  " << f << "\n";
    }
  }
  if (args.require_quality && !failures.empty()) throw Error("the demo model misses its quality bar");
}

void run_eval(const EvalArgs& args, const CommonOptions& common) {
  apply_common(common);
  const LoadOptions load = load_options(common);
  const fs::path dir(args.model);
  auto full = load_benchmark(args.bench);
  auto [tokenizer, preprocessor, model] = load_model_folder(args.model, load);
  const Benchmark benchmark =
      args.subset == "full" ? full : search_subset(full, {args.pope_per_split, args.sqa, common.seed});
  Evaluator evaluator(model, tokenizer, preprocessor, feature_cache_dir(args.cache_dir));
  EvalOptions options;
  options.batch_size = args.batch;
  options.shared_prefix_cost = args.shared_prefix_cost;
  options.answers_dir = args.answers_dir;
  options.blank_images = args.blank_images;
  options.model_id = dir.filename().string();
  options.cancel = install_cancel_handler();
  int last_percent = -1;
  options.progress = [&](int done, int total) {
    const int percent = 100 * done / std::max(1, total);
    if (percent / 10 != last_percent / 10 && !common.json)
      progress_line("eval: " + std::to_string(done) + "/" + std::to_string(total) + " questions");
    last_percent = percent;
  };
  const auto result = evaluator.evaluate(benchmark, options);
  const auto& stats = evaluator.cache_stats();
  const auto& prompts = evaluator.prompt_stats();
  if (common.json) {
    auto json = result_to_json(result);
    json["subset"] = args.subset;
    json["feature_cache"] = {{"memory_hits", stats.memory_hits},
                             {"disk_hits", stats.disk_hits},
                             {"computed", stats.computed},
                             {"vision_seconds", stats.vision_seconds}};
    json["prompts"] = {
        {"count", prompts.prompts}, {"tokens", prompts.tokens}, {"shared_prefix_tokens", prompts.tokens_saved}};
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << "subset " << args.subset << (args.blank_images ? " (blank images)" : "") << "\n\n"
              << result_to_text(result);
    std::printf("image features: %lld computed (%.1f s in the vision tower), %lld from disk cache\n",
                static_cast<long long>(stats.computed), stats.vision_seconds, static_cast<long long>(stats.disk_hits));
    std::printf(
        "prompts: %lld questions, %lld tokens, of them %lld (%.0f%%) in prefixes computed once for "
        "several questions\n",
        static_cast<long long>(prompts.prompts), static_cast<long long>(prompts.tokens),
        static_cast<long long>(prompts.tokens_saved),
        prompts.tokens > 0 ? 100.0 * static_cast<double>(prompts.tokens_saved) / static_cast<double>(prompts.tokens)
                           : 0.0);
  }
}

struct ScoreArgs {
  std::string bench;
  std::string answers;
  std::string subset = "full";
  std::string pope_questions;
  int pope_per_split = SubsetOptions{}.pope_per_split;
  int sqa = SubsetOptions{}.sqa;
};

void run_score(const ScoreArgs& args, const CommonOptions& common) {
  const auto full = load_benchmark(args.bench);
  const Benchmark benchmark =
      args.subset == "full" ? full : search_subset(full, {args.pope_per_split, args.sqa, common.seed});
  const auto result = score_answer_files(benchmark, ScoreSources{args.answers, args.pope_questions});
  if (common.json) {
    auto json = result_to_json(result);
    json["subset"] = args.subset;
    std::cout << json.dump(2) << "\n";
  } else {
    std::cout << "answers " << args.answers << " (official text rules), subset " << args.subset << "\n\n"
              << result_to_text(result);
  }
}

}  // namespace

void add_benchmark_commands(CLI::App& app, CommonOptions& common) {
  auto demo_args = std::make_shared<DemoArgs>();
  auto* demo = app.add_subcommand("demo", "build the synthetic benchmark and train the tiny demo LLaVA on it");
  demo->add_option("--out", demo_args->options.out, "output folder (default: the user cache)");
  auto* preset_option = demo->add_option("--preset", demo_args->options.preset,
                                         "model shape (demo: 8 decoder layers; tiny: 4; micro for quick checks)")
                            ->check(CLI::IsMember(preset_names()))
                            ->capture_default_str();
  auto* init_from_option =
      demo->add_option(
              "--init-from", demo_args->options.init_from,
              "continue training this demo model folder (its tokenizer, shape and weights) instead of a fresh one")
          ->check(CLI::ExistingDirectory)
          ->excludes(preset_option);
  demo->add_option("--mlp-width", demo_args->options.mlp_width,
                   "decoder MLP width of every layer (0 = the preset's; demo: 256)")
      ->check(CLI::Range(int64_t{0}, int64_t{65536}))
      ->excludes(init_from_option);
  demo->add_option("--lower-mlp-width", demo_args->options.lower_mlp_width,
                   "MLP width of the image-only layers (the first --image-only-layers; 0 = as every layer; default: "
                   "the preset's, 128 for demo, as every layer for the others)")
      ->check(CLI::Range(int64_t{0}, int64_t{65536}))
      ->excludes(init_from_option);
  demo->add_flag("--save-phases", demo_args->options.save_phases,
                 "keep a model folder after each training phase but the last in OUT/phases/ (to continue from "
                 "with --init-from)");
  demo->add_option("--pope-images", demo_args->options.benchmark.pope_images,
                   "POPE test images (6 questions each, every split)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  demo->add_option("--sqa-problems", demo_args->sqa_test, "ScienceQA test problems (train the same, val a third)")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  demo->add_option("--steps", demo_args->options.training.steps, "training steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  demo->add_option("--batch", demo_args->options.training.batch_size, "training batch size")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  demo->add_option("--lr", demo_args->options.training.lr, "peak learning rate")
      ->check(finite_positive())
      ->capture_default_str();
  demo->add_option("--vision-lr", demo_args->options.training.vision_lr,
                   "peak learning rate of the vision tower and projector (0 = --lr)")
      ->check(finite_non_negative())
      ->capture_default_str();
  demo->add_option("--vision-tower-lr-scale", demo_args->options.training.vision_tower_lr_scale,
                   "the vision tower's learning rate as a fraction of --vision-lr (0: the tower stays frozen at its "
                   "initial weights; the projector keeps --vision-lr)")
      ->check(finite_non_negative())
      ->capture_default_str();
  demo->add_option("--warmup", demo_args->options.training.warmup_steps, "warm-up steps")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  demo_args->caption_only_option =
      demo->add_option(
              "--caption-only-steps", demo_args->options.training.caption_only_steps,
              "steps of the caption phase (with --text-first: captions, drills and facts after the text phase; "
              "default scaled with --steps)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
  demo_args->letter_only_option =
      demo->add_option("--letter-only-steps", demo_args->options.training.letter_only_steps,
                       "letter-drill steps first, with their own schedule (default scaled with --steps)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
  demo_args->text_only_option =
      demo->add_option("--text-only-steps", demo_args->options.training.text_only_steps,
                       "then text-only steps (letter drills and facts), with their own schedule (default scaled "
                       "with --steps)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
  demo->add_option("--text-phase-problems", demo_args->options.training.text_phase_problem_share,
                   "share of text-only problems in the text phase, against the drills' and the facts' 1 each")
      ->check(finite_non_negative())
      ->capture_default_str();
  demo_args->rehearsal_option =
      demo->add_option("--rehearsal", demo_args->options.training.rehearsal_share,
                       "with --vision-first: share of captions and yes/no questions in the drills and text phases, "
                       "the seeing side kept frozen, so the layers above keep serving the image tasks (0: text only)")
          ->check(CLI::Range(0.0, 0.9))
          ->capture_default_str();
  demo->add_option("--image-only-layers", demo_args->options.training.image_only_layers,
                   "the first N decoder layers learn from examples with an image only (frozen in the text phase; "
                   "text-only examples' gradients kept off them), so the knowledge is stored above them")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  demo->add_flag("--image-only-mlps", demo_args->options.training.image_only_mlps,
                 "with --image-only-layers: only those layers' MLPs are image-only, their attention learns from "
                 "everything");
  demo->add_flag("--image-only-identity", demo_args->options.training.image_only_identity,
                 "with --image-only-layers: those layers start as the identity (output projections zero)");
  demo->add_option("--text-layer-drop", demo_args->options.training.text_layer_drop,
                   "with --image-only-layers: probability that text-only examples pass over those layers (layer "
                   "dropout)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_option("--text-mlp-drop", demo_args->options.training.text_mlp_drop,
                   "with --image-only-layers: probability, drawn per layer, that text-only examples pass over each "
                   "of those layers' MLPs (MLP dropout)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_option("--text-upper-mlp-drop", demo_args->options.training.text_upper_mlp_drop,
                   "probability, drawn per layer, that text-only examples pass over each MLP above the image-only "
                   "layers (spreads the knowledge over them)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_flag("--upper-drop-in-text-phase", demo_args->options.training.upper_drop_in_text_phase,
                 "--text-upper-mlp-drop in the text phase too, where the facts are first stored (the lower layers' "
                 "dropout still waits for the phases with images)");
  demo->add_option("--image-mlp-drop", demo_args->options.training.image_mlp_drop,
                   "with --image-only-layers: probability, drawn per layer, that a micro-batch with images passes "
                   "over each of those layers' MLPs (spreads grounding over them)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_option("--upper-image-mlp-drop", demo_args->options.training.upper_image_mlp_drop,
                   "with --image-only-layers: probability, drawn per layer, that a micro-batch with images passes "
                   "over each MLP above those layers (grounding learned without them)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_option("--upper-mlp-image-grad", demo_args->options.training.upper_mlp_image_grad,
                   "with --image-only-layers: how much the MLPs above those layers learn from examples with images "
                   "(1: fully; 0: from text-only examples only, grounding stays below them)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo_args->first_phase_grad_option =
      demo->add_option("--first-phase-upper-mlp-image-grad",
                       demo_args->options.training.first_phase_upper_mlp_image_grad,
                       "with --vision-first: --upper-mlp-image-grad in the first phase (captions and yes/no) "
                       "instead, so that the upper MLPs start the text phase trained while grounding stays below "
                       "them later (negative: the same)")
          ->check(CLI::Range(-1.0, 1.0))
          ->capture_default_str();
  demo->add_option("--mlp-drop", demo_args->options.training.mlp_drop,
                   "probability, drawn per layer, that a micro-batch passes over each decoder layer's MLP "
                   "(stochastic depth)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  demo->add_flag(
      "--drop-with-images-only,!--drop-in-text-phase", demo_args->options.training.drop_with_images_only,
      "--text-layer-drop, --text-mlp-drop and --text-upper-mlp-drop only in the phases with images, after the "
      "text phase "
      "(the default); --drop-in-text-phase: in the text phase too");
  demo->add_option("--upper-lr-scale", demo_args->options.training.upper_lr_scale,
                   "with --image-only-layers: in phases with images, the rest of the language model learns at this "
                   "fraction of --lr")
      ->check(finite_positive())
      ->capture_default_str();
  demo->add_option("--seeing-lr-scale", demo_args->options.training.seeing_lr_scale,
                   "with --image-only-layers: in phases with images, the image-only layers, the projector and the "
                   "vision tower learn at this fraction of their rates (0: they stay as they are)")
      ->check(finite_non_negative())
      ->capture_default_str();
  demo->add_flag("--vision-first,!--text-first", demo_args->options.training.vision_first,
                 "captions (and yes/no) before the text phase, and a schedule of its own for the mix (the "
                 "default); --text-first: the text phase, then captions, then the mix");
  demo->add_option("--first-phase-yes-no", demo_args->options.training.first_phase_yes_no_share,
                   "with --vision-first: share of yes/no questions beside the captions' 1 in the first phase")
      ->check(finite_non_negative())
      ->capture_default_str();
  demo->add_option("--mix-lr-scale", demo_args->options.training.mix_lr_scale,
                   "with --vision-first: the mix's peak learning rates as a fraction of --lr and --vision-lr")
      ->check(finite_positive())
      ->capture_default_str();
  demo->add_option("--mix-warmup", demo_args->options.training.mix_warmup_steps,
                   "with --vision-first: warm-up steps of the mix's schedule")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  demo->add_option("--final-steps", demo_args->options.training.final_steps,
                   "with --image-only-layers: the last N of --steps are a final phase with a schedule of its own, in "
                   "which the image-only layers and the vision side keep their weights and the layers above learn "
                   "on --final-mix")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  demo_args->final_phase_options.push_back(
      demo->add_option("--final-mix", demo_args->final_mix,
                       "task shares of the final phase (as --mix; default 0.05,0.1,0.5,0.2,0.1,0,0.1)")
          ->delimiter(',')
          ->expected(4, 7)
          ->check(finite_non_negative()));
  demo_args->final_phase_options.push_back(
      demo->add_option("--final-lr-scale", demo_args->options.training.final_lr_scale,
                       "the final phase's peak learning rates as a fraction of --lr and --vision-lr")
          ->check(finite_positive())
          ->capture_default_str());
  demo_args->final_phase_options.push_back(demo->add_option("--final-warmup",
                                                            demo_args->options.training.final_warmup_steps,
                                                            "warm-up steps of the final phase's schedule")
                                               ->check(CLI::NonNegativeNumber)
                                               ->capture_default_str());
  demo->add_option("--tie-embeddings", demo_args->options.training.tie_embeddings,
                   "train with lm_head tied to the embedding (true/false)")
      ->capture_default_str();
  auto* init_std_option = demo->add_option("--init-std", demo_args->options.training.init_std,
                                           "std of the initial weights (0 = 1/sqrt(fan_in) per projection)")
                              ->check(finite_non_negative())
                              ->capture_default_str();
  auto* qk_option = demo->add_option("--qk-fan-in-init", demo_args->options.training.qk_fan_in_init,
                                     "decoder query/key weights at 1/sqrt(fan_in) (true/false)")
                        ->capture_default_str();
  auto* embed_option = demo->add_option("--embed-init-std", demo_args->options.training.embed_init_std,
                                        "std of the initial token embedding and lm_head (0 = --init-std)")
                           ->check(finite_non_negative())
                           ->capture_default_str();
  // A continued model keeps its shape and weights: the options that make new ones do not apply.
  init_from_option->excludes(init_std_option)->excludes(qk_option)->excludes(embed_option);
  demo->add_option("--mix", demo_args->mix,
                   "task shares after the first phases: "
                   "captions,yes-no,image-problems,text-problems[,letter-drills[,image-words[,facts]]]")
      ->delimiter(',')
      ->expected(4, 7)
      ->check(finite_non_negative());
  demo->add_flag("--require-quality", demo_args->require_quality,
                 "exit 1 when the model misses the demo's quality bar");
  demo->callback([demo_args, &common] { run_demo(*demo_args, common); });

  auto score_args = std::make_shared<ScoreArgs>();
  auto* score = app.add_subcommand("score", "score generated answer files with the official POPE/ScienceQA text rules");
  score->add_option("BENCH_DIR", score_args->bench, "benchmark folder (pope/, scienceqa/)")->required();
  score
      ->add_option("--answers", score_args->answers,
                   "folder with pope_answers.jsonl (or pope_{split}.jsonl) and scienceqa_answers.jsonl")
      ->required();
  score->add_option("--pope-questions", score_args->pope_questions,
                    "the POPE question file the answers were generated from (default: llava_pope_test.jsonl in "
                    "the answers folder)");
  score->add_option("--subset", score_args->subset, "full or search (the questions the answers cover)")
      ->check(CLI::IsMember({"search", "full"}))
      ->capture_default_str();
  score->callback([score_args, &common] { run_score(*score_args, common); });

  auto eval_args = std::make_shared<EvalArgs>();
  auto* eval = app.add_subcommand("eval", "score a model on POPE and ScienceQA");
  eval->add_option("MODEL_DIR", eval_args->model, "model folder")->required();
  eval->add_option("BENCH_DIR", eval_args->bench, "benchmark folder (pope/, scienceqa/)")->required();
  eval->add_option("--subset", eval_args->subset, "search (seeded, stratified) or full")
      ->check(CLI::IsMember({"search", "full"}))
      ->capture_default_str();
  eval->add_option("--answers-dir", eval_args->answers_dir,
                   "write the question, label and answer files LLaVA's evaluation scripts read here");
  eval->add_option("--cache-dir", eval_args->cache_dir, "image-feature cache folder ('none' = memory only)");
  eval->add_flag("--blank-images", eval_args->blank_images, "replace every image with a blank one");
  eval->add_option("--batch", eval_args->batch, "questions per forward pass")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  eval->add_option("--shared-prefix-cost", eval_args->shared_prefix_cost,
                   "questions on one image share one pass over their prefix (template + image) when the two passes "
                   "cost at most this share of one pass over the whole prompts; 0 = never, 1 = whenever a prefix "
                   "repeats in a batch")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  eval->add_option("--pope-per-split", eval_args->pope_per_split, "search subset: POPE questions per split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  eval->add_option("--sqa", eval_args->sqa, "search subset: ScienceQA questions")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  eval->callback([eval_args, &common] { run_eval(*eval_args, common); });
}

}  // namespace hipp::cli
