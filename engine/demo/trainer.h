#pragma once
// Trains a LLaVA model from scratch on freshly generated synthetic scenes
// (never the same batch twice, so it cannot overfit a fixed set): AdamW,
// linear warm-up then cosine decay, gradient clipping, loss on answer tokens.
// The task mix holds a stage-1 style alignment task (name the objects left to
// right), POPE-style yes/no questions, and ScienceQA-format image and
// text-only problems.
#include <array>
#include <atomic>
#include <functional>

#include "data/synthetic.h"
#include "demo/training_options.h"
#include "model/image.h"
#include "model/llava.h"
#include "model/tokenizer.h"

namespace hipp {

// One training sequence: token ids and next-token labels (kIgnoreLabel = no loss).
struct TrainExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
  int task = 0;  // index into kTrainTaskNames
  bool has_image = false;
  Image image;
};

// One stretch of the curriculum: its task mix, and whether it starts a
// learning-rate schedule of its own.
struct TrainingPhase {
  const char* name;
  int steps = 0;
  TaskShares shares;
  bool new_schedule = false;
  bool text_only = false;  // no task of the mix has an image
  // Of a phase that starts a schedule: its peak rate as a fraction of the
  // options' rates, and its warm-up (negative = the options' warmup_steps).
  double lr_scale = 1;
  int warmup_steps = -1;
  // The image-only layers and the vision side keep their weights.
  bool seeing_frozen = false;
  // A text phase (drills, text) with captions and yes/no rehearsed: it has
  // images, but the seeing side keeps its weights and the text dropouts
  // treat it as the text phase it is.
  bool rehearsal = false;
  // The share of the image examples' gradient that reaches the MLPs above
  // the image-only layers in this phase (negative: the options').
  double upper_mlp_image_grad = -1;
};
// The phases `options` asks for, in order; their steps add up to options.steps.
std::vector<TrainingPhase> training_phases(const DemoTrainingOptions& options);

// Redraws the token embedding and lm_head of a fresh model at this std
// (DemoTrainingOptions::embed_init_std), seeded.
void init_token_embedding(LlavaModel& model, double std, uint64_t seed);

// Draws one example of the tasks at these shares, scenes as `scenes` asks
// (its image size is the model's).
TrainExample draw_example(SceneRandom& random, const Tokenizer& tokenizer, const LlavaConfig& config,
                          const TaskShares& shares, const SceneOptions& scenes);

// Trains `model` in place; returns the final window's mean loss.
double train_demo_model(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                        const DemoTrainingOptions& options);

}  // namespace hipp
