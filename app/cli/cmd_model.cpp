// Subcommands about model folders: random-model, info, ask.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iomanip>
#include <chrono>

#include <torch/torch.h>

#include "cli_common.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/generate.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "model/summary.h"
#include "model/tokenizer.h"

namespace hipp::cli {
namespace fs = std::filesystem;

namespace {

struct RandomModelArgs {
  std::string preset = "micro";
  std::string out;
};

struct InfoArgs {
  std::string model;
};

struct AskArgs {
  std::string model;
  std::string image;
  std::string question;
  int64_t max_new_tokens = 32;
  bool system_prompt = false;
};

void run_random_model(const RandomModelArgs& args, const CommonOptions& common) {
  apply_common(common);
  const auto start = std::chrono::steady_clock::now();
  write_random_model(args.preset, args.out, common.seed, [&](const std::string& file) {
    std::cerr << "random-model: writing " << file << " (bf16, tensor by tensor)" << std::endl;
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto summary = summarize_model_folder(args.out);
  if (common.json) {
    std::cout << summary_to_json(summary).dump(2) << "\n";
  } else {
    std::cout << "wrote random " << args.preset << " model to " << args.out << " (" << summary.total_params()
              << " parameters, " << std::fixed << std::setprecision(1) << seconds << " s)\n";
  }
}

void run_info(const InfoArgs& args, const CommonOptions& common) {
  auto summary = summarize_model_folder(args.model);
  if (common.json) {
    std::cout << summary_to_json(summary).dump(2) << "\n";
  } else {
    std::cout << summary_to_text(summary);
  }
}

void run_ask(const AskArgs& args, const CommonOptions& common) {
  apply_common(common);
  const LoadOptions load = load_options(common);
  auto image = load_image(args.image);
  auto [tokenizer, preprocessor, model] = load_model_folder(args.model, load);
  const auto& config = model->config();

  torch::NoGradGuard no_grad;
  const PreparedImage prepared = prepare_image(image, preprocessor);
  auto features = model->encode_prepared({&prepared});
  PromptOptions prompt_options;
  prompt_options.system_prompt = args.system_prompt;
  const auto format = prompt_format(config);
  const auto prompt = chat_prompt(format, args.question, /*with_image=*/true, prompt_options);
  const auto ids = tokenize_prompt(tokenizer, prompt, format, features.size(0));
  GenerateOptions generate;
  generate.max_new_tokens = args.max_new_tokens;
  const auto answer_ids = generate_greedy(model, ids, features, {grid_of(prepared)}, tokenizer.eos_id(), generate);
  const auto answer = tokenizer.decode(answer_ids);
  if (common.json) {
    const nlohmann::json result = {{"prompt", prompt}, {"answer", answer}, {"tokens", answer_ids.size()}};
    std::cout << result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << answer << "\n";
  }
}

}  // namespace

void add_model_commands(CLI::App& app, CommonOptions& common) {
  auto random_args = std::make_shared<RandomModelArgs>();
  auto* random = app.add_subcommand("random-model", "write a random-initialised model in the Hugging Face layout");
  random
      ->add_option("--preset", random_args->preset,
                   "micro (unit tests), tiny (demo shape), demo, qwen2.5-vl-micro, or a full-scale shape: "
                   "llava-1.5-7b, llava-1.5-13b, qwen2.5-vl-3b (the released configs, random bf16 weights "
                   "streamed to disk: 14, 26 and 7.5 GB)")
      ->check(CLI::IsMember(random_model_preset_names()))
      ->capture_default_str();
  random->add_option("OUT_DIR", random_args->out, "folder to create")->required();
  random->callback([random_args, &common] { run_random_model(*random_args, common); });

  auto info_args = std::make_shared<InfoArgs>();
  auto* info = app.add_subcommand("info", "architecture, per-layer widths and parameter counts of a model folder");
  info->add_option("MODEL_DIR", info_args->model, "model folder")->required();
  info->callback([info_args, &common] { run_info(*info_args, common); });

  auto ask_args = std::make_shared<AskArgs>();
  auto* ask = app.add_subcommand("ask", "answer one question about one image (greedy decoding)");
  ask->add_option("MODEL_DIR", ask_args->model, "model folder")->required();
  ask->add_option("--image", ask_args->image, "PNG or JPEG file")->required();
  ask->add_option("--question", ask_args->question, "question text")->required();
  ask->add_option("--max-new-tokens", ask_args->max_new_tokens, "answer length limit")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  ask->add_flag("--system-prompt", ask_args->system_prompt, "prepend the vicuna_v1 system prompt");
  ask->callback([ask_args, &common] { run_ask(*ask_args, common); });
}

}  // namespace hipp::cli
