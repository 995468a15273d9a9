#pragma once
// Trains a LLaVA model from scratch on freshly generated synthetic scenes
// (never the same batch twice, so it cannot overfit a fixed set): AdamW,
// linear warm-up then cosine decay, gradient clipping, loss on answer tokens.
// The task mix holds a stage-1 style alignment task (name the objects left to
// right), POPE-style yes/no questions, and ScienceQA-format image and
// text-only problems.
#include <atomic>
#include <functional>

#include "data/synthetic.h"
#include "model/image.h"
#include "model/llava.h"
#include "model/tokenizer.h"

namespace hipp {

struct TrainProgress {
  int step = 0, steps = 0;
  double loss = 0;     // mean over the last logging window
  double lr = 0;
  double seconds = 0;  // since training began
};

struct DemoTrainingOptions {
  // Measured on the demo: lr 2e-3 at batch 48 left the model blind after
  // 2000 steps (loss plateau ~0.87); 5e-4 at batch 32 learns grounding.
  int steps = 2500;
  int batch_size = 32;
  int micro_batch = 16;  // examples per forward pass (similar lengths together)
  double lr = 5e-4;
  double min_lr_ratio = 0.05;
  int warmup_steps = 100;
  double weight_decay = 0.01;
  double grad_clip = 1.0;
  uint64_t seed = 1;
  // Task mix (normalised): captions, yes/no, image problems, text problems.
  double caption_share = 0.35, yes_no_share = 0.3, image_problem_share = 0.2,
         text_problem_share = 0.15;
  SceneOptions scene;
  int log_every = 50;
  std::function<void(const TrainProgress&)> progress;
  const std::atomic<bool>* cancel = nullptr;  // throws hipp::Cancelled when set
};

// One training sequence: token ids and next-token labels (-100 = no loss).
struct TrainExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
  bool has_image = false;
  Image image;
};

// Draws one example of the task mix.
TrainExample draw_example(SceneRandom& random, const Tokenizer& tokenizer, const LlavaConfig& config,
                          const DemoTrainingOptions& options);

// Trains `model` in place; returns the final window's mean loss.
double train_demo_model(LlavaModel& model, const Tokenizer& tokenizer,
                        const PreprocessorConfig& preprocessor, const DemoTrainingOptions& options);

}  // namespace hipp
