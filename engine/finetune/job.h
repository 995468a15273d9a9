#pragma once
// One recovery fine-tune as the `finetune` command and the app run it: take
// a trial of a study, apply its plan to the study's model, train LoRA
// adapters on instruction data, merge them, export the model (HF layout,
// with blueprint.json and finetune.json), and score it as a child trial of
// the pruned plan (origin "finetune").
#include <atomic>
#include <functional>
#include <string>

#include "finetune/trainer.h"
#include "model/checkpoint.h"
#include "study/store.h"

namespace hipp {

struct FinetuneJob {
  std::string study;  // study file
  int64_t trial = 0;  // the pruned plan's trial
  FinetuneSettings settings;
  std::string data;              // LLaVA instruction file ("" = <benchmark>/instruct/llava_instruct.json)
  std::string image_folder;      // "" = beside the data file (instruct.h)
  std::string out_dir;           // "" = <study folder>/<study name>-trial<T>-finetuned
  bool resume = false;           // continue from <out_dir>.lora.safetensors
  std::optional<Subset> subset;  // none = the parent trial's subset
  std::string cache_dir;         // image-feature cache of the evaluator
  LoadOptions load;
  std::function<void(const std::string&)> log;
  std::function<void(const FinetuneProgress&)> progress;
  const std::atomic<bool>* cancel = nullptr;
};

struct FinetuneResult {
  Trial parent, child;
  FinetuneOutcome training;
  std::string out_dir, checkpoint;
};

// The export folder a job writes to, and its adapter checkpoint beside it.
std::string finetune_out_dir(const FinetuneJob& job);
std::string finetune_checkpoint_path(const std::string& out_dir);

FinetuneResult run_finetune_job(const FinetuneJob& job);

}  // namespace hipp
