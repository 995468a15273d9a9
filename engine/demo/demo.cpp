#include "demo/demo.h"

#include <algorithm>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/json_fields.h"
#include "demo/trainer.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "model/prompt.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

std::string format(const char* pattern, double a, double b = 0, double c = 0, double d = 0) {
  char text[256];
  std::snprintf(text, sizeof text, pattern, a, b, c, d);
  return text;
}

}  // namespace

int64_t resolved_lower_mlp_width(const DemoOptions& options) {
  if (options.lower_mlp_width >= 0) return options.lower_mlp_width;
  // The demo preset's seeing layers are half as wide as the others (run H66,
  // docs/demo.md), and only where there are image-only layers to narrow.
  return options.preset == "demo" && options.training.image_only_layers > 0 ? 128 : 0;
}

DemoReport build_demo(const DemoOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const torch::Device device = parse_device(options.device);
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  // Options that act through the image-only layers would be ignored without
  // them: refused before any work.
  const auto& asked = options.training;
  if (asked.image_only_layers <= 0 && (asked.final_steps > 0 || asked.seeing_lr_scale != 1))
    throw Error(
        "the final phase (--final-steps) and --seeing-lr-scale act on the image-only layers: they need "
        "--image-only-layers > 0");
  // (The rehearsal and the first phase's upper-MLP gradient, on by default,
  // simply do not apply without image-only layers or vision first; the
  // command line refuses them when given explicitly.)
  DemoReport report;
  write_folder_atomically(options.out, [&](const std::string& dir) {
    const std::string bench_dir = (fs::path(dir) / "bench").string();
    const std::string model_dir = (fs::path(dir) / "model").string();
    log("generating the synthetic benchmark");
    if (!options.init_from.empty() &&
        read_llava_config((fs::path(options.init_from) / "config.json").string()).is_qwen())
      throw Error(options.init_from +
                  ": a Qwen2.5-VL model; the demo trains LLaVA-architecture models (presets micro, tiny, demo)");
    SyntheticBenchmarkOptions benchmark_options = options.benchmark;
    // Scenes drawn at the size the vision tower takes (the starting model's, when there is one).
    benchmark_options.scene.image_size = static_cast<int>(
        options.init_from.empty()
            ? preset_config(options.preset, 16, 3).vision.image_size
            : read_llava_config((fs::path(options.init_from) / "config.json").string()).vision.image_size);
    write_synthetic_benchmark(bench_dir, benchmark_options);

    fs::create_directories(model_dir);
    const std::string tokenizer_path = (fs::path(model_dir) / "tokenizer.model").string();
    std::optional<ModelFolder> start_from;
    if (!options.init_from.empty()) {
      // Training continues from an earlier demo model: its tokenizer and weights.
      log("starting from " + options.init_from);
      start_from.emplace(load_model_folder(options.init_from, {device, torch::kFloat32}));
      fs::copy_file(fs::path(options.init_from) / "tokenizer.model", tokenizer_path);
    } else {
      log("training the tokenizer");
      TokenizerTraining tokenizer_training;
      tokenizer_training.vocab_size = options.vocab_size;
      tokenizer_training.user_symbols = {kImagePlaceholder};
      train_tokenizer(synthetic_corpus(options.benchmark.seed + 5, 3000), tokenizer_training, tokenizer_path);
    }
    const auto tokenizer = Tokenizer::load(tokenizer_path);

    auto config = start_from
                      ? start_from->model->config()
                      : preset_config(options.preset, tokenizer.vocab_size(), tokenizer.piece_id(kImagePlaceholder));
    if (!start_from && options.mlp_width > 0) {
      config.text.intermediate_size = options.mlp_width;
      for (auto& layer : config.text.layers) layer.intermediate_size = options.mlp_width;
      validate_llava_config(config, "demo model with --mlp-width " + std::to_string(options.mlp_width));
    }
    const int64_t lower_mlp_width = resolved_lower_mlp_width(options);
    if (!start_from && lower_mlp_width > 0) {
      const auto lower = options.training.image_only_layers;
      if (lower <= 0 || lower >= static_cast<int64_t>(config.text.layers.size()))
        throw Error("--lower-mlp-width needs --image-only-layers between 1 and " +
                    std::to_string(config.text.layers.size() - 1) + " (it is " + std::to_string(lower) + ")");
      for (int64_t l = 0; l < lower; ++l) config.text.layers[l].intermediate_size = lower_mlp_width;
      validate_llava_config(config, "demo model with --lower-mlp-width " + std::to_string(lower_mlp_width));
    }
    LlavaModel model = start_from ? start_from->model
                                  : LlavaModel(config, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    if (!start_from) init_random(model, options.training.seed, options.training.init_std);
    if (options.training.qk_fan_in_init && !start_from) {
      // Query and key projections of the decoder at 1/sqrt(fan_in): attention
      // then starts away from uniform, so content-addressed lookups (which
      // option names the asked object, which letter precedes it) can form.
      torch::NoGradGuard no_grad;
      torch::manual_seed(options.training.seed + 101);
      for (auto& layer : model->language_model->model->layers)
        for (auto* linear : {layer->self_attn->q_proj.get(), layer->self_attn->k_proj.get()})
          linear->weight.normal_(0, 1.0 / std::sqrt(static_cast<double>(linear->weight.size(1))));
    }
    if (options.training.embed_init_std > 0 && !start_from)
      init_token_embedding(model, options.training.embed_init_std, options.training.seed + 103);
    const auto preprocessor = start_from ? start_from->preprocessor : clip_preprocessor(config.vision.image_size);

    DemoTrainingOptions training = options.training;
    training.cancel = options.cancel;
    training.progress = [&](const TrainProgress& p) {
      if (options.progress) options.progress(p);
      const double eta = p.seconds / p.step * (p.steps - p.step);
      std::string tasks;
      for (size_t t = 0; t < p.task_loss.size(); ++t)
        if (p.task_loss[t] >= 0)
          tasks += std::string(tasks.empty() ? " (" : ", ") + kTrainTaskNames[t] + format(" %.3f", p.task_loss[t]);
      if (!tasks.empty()) tasks += ")";
      log("training step " + std::to_string(p.step) + "/" + std::to_string(p.steps) + format(", loss %.4f", p.loss) +
          tasks + format(", lr %.2e, %.0f s, ~%.0f s left", p.lr, p.seconds, eta));
    };
    if (options.save_phases) {
      // OUT/phases/<index>-<phase>/ (inside the folder being assembled until
      // the run ends): a model folder each, to continue from with
      // --init-from (the tokenizer and preprocessing with it).
      training.phase_done = [&](const char* phase, size_t index) {
        std::string name = std::to_string(index) + "-" + phase;
        std::replace(name.begin(), name.end(), ' ', '-');
        const fs::path phase_dir = fs::path(dir) / "phases" / name;
        fs::create_directories(phase_dir);
        save_llava(model, phase_dir.string());
        write_preprocessor_config(preprocessor, (phase_dir / "preprocessor_config.json").string());
        fs::copy_file(tokenizer_path, phase_dir / "tokenizer.model", fs::copy_options::overwrite_existing);
        log("saved the model after the " + std::string(phase) + " phase in " + phase_dir.string());
      };
    }
    const auto train_start = std::chrono::steady_clock::now();
    report.final_loss = train_demo_model(model, tokenizer, preprocessor, training);
    report.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - train_start).count();

    save_llava(model, model_dir);
    write_preprocessor_config(preprocessor, (fs::path(model_dir) / "preprocessor_config.json").string());

    log("evaluating on the full test sets");
    const auto benchmark = load_benchmark(bench_dir);
    Evaluator evaluator(model, tokenizer, preprocessor);
    EvalOptions eval;
    eval.cancel = options.cancel;
    report.test = evaluator.evaluate(benchmark, eval);
    eval.blank_images = true;
    report.blank = evaluator.evaluate(benchmark, eval);
    report.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    nlohmann::json settings = {
        {"preset", options.init_from.empty() ? options.preset : "(from init_from)"},
        {"init_from", options.init_from},
        {"mlp_width", options.init_from.empty() ? config.text.intermediate_size : int64_t{0}},
        {"lower_mlp_width", options.init_from.empty() ? resolved_lower_mlp_width(options) : int64_t{0}},
        {"layer_mlp_widths",
         [&] {
           auto widths = nlohmann::json::array();
           for (const auto& layer : config.text.layers) widths.push_back(layer.intermediate_size);
           return widths;
         }()},
        {"vocab_size", options.vocab_size},
        {"benchmark_seed", options.benchmark.seed},
        {"training_seed", training.seed},
        {"steps", training.steps},
        {"batch_size", training.batch_size},
        {"lr", training.lr},
        {"vision_lr", training.vision_lr > 0 ? training.vision_lr : training.lr},
        {"vision_tower_lr_scale", training.vision_tower_lr_scale},
        {"warmup_steps", training.warmup_steps},
        {"caption_only_steps", training.caption_only_steps},
        {"letter_only_steps", training.letter_only_steps},
        {"text_only_steps", training.text_only_steps},
        {"text_phase_problem_share", training.text_phase_problem_share},
        {"rehearsal_share", training.rehearsal_share},
        {"image_only_layers", training.image_only_layers},
        {"image_only_mlps", training.image_only_mlps},
        {"image_only_identity", training.image_only_identity},
        {"upper_lr_scale", training.upper_lr_scale},
        {"seeing_lr_scale", training.seeing_lr_scale},
        {"text_layer_drop", training.text_layer_drop},
        {"text_mlp_drop", training.text_mlp_drop},
        {"text_upper_mlp_drop", training.text_upper_mlp_drop},
        {"mlp_drop", training.mlp_drop},
        {"image_mlp_drop", training.image_mlp_drop},
        {"upper_image_mlp_drop", training.upper_image_mlp_drop},
        {"upper_mlp_image_grad", training.upper_mlp_image_grad},
        {"first_phase_upper_mlp_image_grad", training.first_phase_upper_mlp_image_grad},
        {"upper_drop_in_text_phase", training.upper_drop_in_text_phase},
        {"drop_with_images_only", training.drop_with_images_only},
        {"vision_first", training.vision_first},
        {"first_phase_yes_no_share", training.first_phase_yes_no_share},
        {"mix_lr_scale", training.mix_lr_scale},
        {"mix_warmup_steps", training.mix_warmup_steps >= 0 ? training.mix_warmup_steps : training.warmup_steps},
        {"final_steps", training.final_steps},
        {"final_lr_scale", training.final_lr_scale},
        {"final_warmup_steps", training.final_warmup_steps},
        {"final_task_mix", training.final_mix.values()},
        {"init_std", training.init_std},
        {"embed_init_std", training.embed_init_std},
        {"device", device.str()},
        {"tie_embeddings", training.tie_embeddings},
        {"weight_decay", training.weight_decay},
        {"grad_clip", training.grad_clip},
        {"task_mix", training.mix.values()},
        {"sqa_image_every", options.benchmark.sqa_image_every}};
    write_json_file((fs::path(dir) / "demo-report.json").string(), {{"settings", settings},
                                                                    {"test", result_to_json(report.test)},
                                                                    {"blank_images", result_to_json(report.blank)},
                                                                    {"final_loss", report.final_loss},
                                                                    {"train_seconds", report.train_seconds},
                                                                    {"build_seconds", report.build_seconds}});
  });
  return report;
}

std::vector<std::string> demo_quality_failures(const DemoReport& r) {
  std::vector<std::string> failures;
  if (r.test.pope_mean_f1 < 0.90) failures.push_back(format("POPE mean F1 %.3f < 0.90", r.test.pope_mean_f1));
  for (const auto& [split, m] : r.test.pope) {
    if (m.f1 < 0.85) failures.push_back("POPE " + split + format(" F1 %.3f < 0.85", m.f1));
    if (m.yes_ratio < 0.4 || m.yes_ratio > 0.6)
      failures.push_back("POPE " + split + format(" yes-ratio %.3f outside [0.4, 0.6]", m.yes_ratio));
  }
  if (r.test.sqa.accuracy < 0.80) failures.push_back(format("ScienceQA accuracy %.3f < 0.80", r.test.sqa.accuracy));
  if (r.test.sqa.image_accuracy < 0.70)
    failures.push_back(format("ScienceQA image accuracy %.3f < 0.70", r.test.sqa.image_accuracy));
  if (r.test.sqa.no_image_accuracy < 0.80)
    failures.push_back(format("ScienceQA no-image accuracy %.3f < 0.80", r.test.sqa.no_image_accuracy));
  for (const auto& [split, m] : r.blank.pope)
    if (m.accuracy > 0.6) failures.push_back("blank-image POPE " + split + format(" accuracy %.3f > 0.6", m.accuracy));
  return failures;
}

}  // namespace hipp
