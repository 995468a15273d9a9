#pragma once
// Recovery fine-tuning of a (pruned) LLaVA with LoRA adapters (lora.h) on
// instruction conversations (instruct.h): loss on the assistant's tokens,
// AdamW on the adapters only, linear warm-up then cosine decay, gradient
// clipping, the vision tower and projector frozen (their features are
// computed once per image). Every step draws its batch and its dropout from
// (seed, step) alone, and the adapter checkpoint holds the optimizer state,
// so a resumed run continues exactly where the interrupted one stopped.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "finetune/instruct.h"
#include "finetune/lora.h"
#include "model/image.h"
#include "model/tokenizer.h"

namespace hipp {

struct FinetuneSettings {
  // Measured on the demo at s = 0.5 (docs/finetune.md): 300 steps win back
  // about two thirds of the POPE F1 pruning cost, in 30 s on 2 cores.
  int steps = 300;
  int batch_size = 8;
  double lr = 1e-3;
  int warmup_steps = 10;
  double min_lr_ratio = 0.1;
  double weight_decay = 0;
  double grad_clip = 1;
  LoraOptions lora;
  int64_t max_length = 512;
  int checkpoint_every = 25;
};
nlohmann::json finetune_settings_to_json(const FinetuneSettings& s);
// Strict: unknown or mistyped fields are errors naming `where`.
FinetuneSettings finetune_settings_from_json(const nlohmann::json& json, const std::string& where);

struct FinetuneProgress {
  int step = 0, steps = 0;
  double loss = 0;  // mean over the last logging window
  double lr = 0;
  double tokens_per_second = 0;  // sequence tokens (prompt, image and answer) through the model
  double seconds = 0;            // this run's training time
  double eta_seconds = 0;
};

struct FinetuneRun {
  std::string checkpoint_path;  // adapters + optimizer state ("" = none)
  bool resume = false;          // continue from checkpoint_path
  // Recorded in the checkpoint and compared on resume (e.g. the parent trial).
  nlohmann::json identity = nlohmann::json::object();
  int log_every = 10;
  std::function<void(const FinetuneProgress&)> progress;
  // Checked between steps: the checkpoint of the last finished step is
  // written, then hipp::Cancelled is thrown.
  const std::atomic<bool>* cancel = nullptr;
};

struct FinetuneOutcome {
  int first_step = 1;  // 1, or the step after the resumed checkpoint
  int steps = 0;
  double final_loss = 0;
  double seconds = 0;
  int64_t examples = 0;  // conversations that fit max_length
};

// Attaches adapters (settings.lora) to `model` and trains them; the model
// keeps its adapters (merge_lora folds them in). Throws hipp::Error on bad
// settings, empty data or a checkpoint that does not match.
FinetuneOutcome finetune_lora(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                              const std::vector<InstructExample>& data, const FinetuneSettings& settings,
                              const FinetuneRun& run = {});

// Mean per-token loss of the assistant tokens of `data` (model as it is).
double instruct_loss(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                     const std::vector<InstructExample>& data, int64_t max_length);

}  // namespace hipp
