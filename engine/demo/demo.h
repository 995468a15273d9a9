#pragma once
// The embedded demo: the synthetic benchmark, a tokenizer trained on its
// text, a tiny LLaVA trained on it, and its evaluation, written as
// OUT/model (Hugging Face layout), OUT/bench (POPE + ScienceQA layout) and
// OUT/demo-report.json. The whole folder is assembled under a temporary name
// and renamed into place, so an interrupted build leaves nothing behind.
#include <atomic>
#include <functional>
#include <string>

#include "data/synthetic.h"
#include "demo/training_options.h"
#include "eval/metrics.h"

namespace hipp {

struct DemoOptions {
  std::string out;
  std::string preset = "demo";
  // Decoder MLP width of every layer; 0 = the preset's.
  int64_t mlp_width = 0;
  // MLP width of the image-only layers (the first training.image_only_layers
  // decoder layers, the seeing half); 0 = the same as every other layer;
  // negative = the preset's (128 for "demo", the others as every layer).
  // Narrow seeing MLPs make grounding need most of their channels.
  int64_t lower_mlp_width = -1;
  // A demo model folder to continue training from (its tokenizer, shape and
  // weights) instead of a fresh one; "" = from scratch.
  std::string init_from;
  int64_t vocab_size = 1024;
  // Keep a model folder after each training phase but the last, in
  // OUT/phases/<index>-<phase> (to continue from with init_from).
  bool save_phases = false;
  // Where the model trains and is evaluated ("cpu", "cuda", "cuda:1"; the
  // saved files are the same).
  std::string device = "cpu";
  SyntheticBenchmarkOptions benchmark;
  DemoTrainingOptions training;
  // Progress lines ("training step 100/2000, loss 1.23, ...") for stderr.
  std::function<void(const std::string&)> log;
  // The same training progress as values (step, steps, losses, seconds).
  std::function<void(const TrainProgress&)> progress;
  const std::atomic<bool>* cancel = nullptr;
};

struct DemoReport {
  BenchmarkResult test;   // full test sets
  BenchmarkResult blank;  // the same with every image blank
  double build_seconds = 0;
  double train_seconds = 0;
  double final_loss = 0;
};

DemoReport build_demo(const DemoOptions& options);

// options.lower_mlp_width with the preset's default filled in.
int64_t resolved_lower_mlp_width(const DemoOptions& options);

// The quality bar the demo model must clear; returns the failures (empty = all met).
std::vector<std::string> demo_quality_failures(const DemoReport& report);

}  // namespace hipp
