#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "demo/trainer.h"
#include "model/presets.h"
#include "model/prompt.h"
#include "support.h"

namespace hipp {
namespace {

// The trainer's mechanisms on their own: the plain curriculum (text phase,
// captions, mix) without the demo recipe's vision-first phases, image-only
// layers, MLP dropout and embedding scale (each test adds what it checks).
DemoTrainingOptions plain_training() {
  DemoTrainingOptions o;
  o.vision_first = false;
  o.first_phase_yes_no_share = 0;
  o.image_only_layers = 0;
  o.mix_lr_scale = 1;
  o.mix_warmup_steps = -1;
  o.mlp_drop = 0;
  o.text_mlp_drop = 0;
  o.image_mlp_drop = 0;
  o.upper_mlp_image_grad = 1;
  o.first_phase_upper_mlp_image_grad = -1;
  o.drop_with_images_only = false;
  o.embed_init_std = 0;
  o.letter_only_steps = 0;
  o.rehearsal_share = 0;
  o.vision_tower_lr_scale = 1;
  return o;
}

// A few batches of 4 on a micro model: `text_only_steps` of the text phase
// first (no drills, no captions before it), then the mix.
DemoTrainingOptions short_run(int steps, int text_only_steps) {
  DemoTrainingOptions o = plain_training();
  o.steps = steps;
  o.batch_size = 4;
  o.warmup_steps = 1;
  o.letter_only_steps = o.caption_only_steps = 0;
  o.text_only_steps = text_only_steps;
  return o;
}

// Three steps of captions only, no weight decay, layer 0 image-only: what
// each MLP learns then comes from the caption examples alone.
DemoTrainingOptions captions_run() {
  DemoTrainingOptions o = short_run(3, 0);
  o.weight_decay = 0;
  o.mix.caption = 1;
  o.mix.yes_no = o.mix.image_problem = o.mix.text_problem = o.mix.letter = o.mix.image_word = o.mix.fact = 0;
  o.image_only_layers = 1;
  return o;
}

class TrainerTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    TokenizerTraining training;
    training.vocab_size = 400;
    training.user_symbols = {"<image>"};
    train_tokenizer(synthetic_corpus(1, 200), training, dir_->file("tokenizer.model"));
  }
  static void TearDownTestSuite() { delete dir_; }
  // The micro model, freshly initialised, with the suite's tokenizer.
  struct Micro {
    Tokenizer tokenizer;
    LlavaModel model;
  };
  static Micro micro_model() {
    auto tokenizer = Tokenizer::load(dir_->file("tokenizer.model"));
    LlavaModel model(preset_config("micro", tokenizer.vocab_size(), tokenizer.piece_id("<image>")),
                     torch::TensorOptions());
    init_random(model, 1);
    return {std::move(tokenizer), std::move(model)};
  }

 protected:
  static test::TempDir* dir_;
};
test::TempDir* TrainerTest::dir_ = nullptr;

TEST_F(TrainerTest, LabelsCoverOnlyTheAnswerAndEos) {
  auto tokenizer = Tokenizer::load(dir_->file("tokenizer.model"));
  auto config = preset_config("micro", tokenizer.vocab_size(), tokenizer.piece_id("<image>"));
  DemoTrainingOptions options = plain_training();
  SceneRandom random(4);
  int with_image = 0;
  for (int i = 0; i < 50; ++i) {
    const auto e = draw_example(random, tokenizer, config, options.mix, options.scene);
    ASSERT_EQ(e.ids.size(), e.labels.size());
    EXPECT_EQ(e.ids.front(), tokenizer.bos_id());
    EXPECT_EQ(e.labels.back(), tokenizer.eos_id());
    size_t first_label = 0;
    while (e.labels[first_label] == -100) ++first_label;
    for (size_t k = first_label; k < e.ids.size(); ++k) EXPECT_EQ(e.labels[k], e.ids[k]);
    const auto image_tokens = std::count(e.ids.begin(), e.ids.end(), config.image_token_index);
    EXPECT_EQ(image_tokens, e.has_image ? config.num_image_features() : 0);
    if (e.has_image) {
      ++with_image;
      EXPECT_EQ(e.image.width, 32);
    }
  }
  EXPECT_GT(with_image, 20);
  EXPECT_LT(with_image, 50);
}

TEST_F(TrainerTest, AFewStepsLowerTheLoss) {
  auto [tokenizer, model] = micro_model();
  DemoTrainingOptions options = plain_training();
  options.steps = 40;
  options.batch_size = 8;
  options.micro_batch = 4;
  options.warmup_steps = 5;
  options.lr = 2e-3;  // a toy run: a few steps at a high rate
  options.vision_lr = 1e-3;
  options.caption_only_steps = 10;
  options.letter_only_steps = 0;
  options.text_only_steps = 0;
  options.mix.letter = 0.2;
  options.mix.image_word = 0.2;
  options.log_every = 10;
  std::vector<double> losses;
  std::vector<TrainProgress> reports;
  options.progress = [&](const TrainProgress& p) {
    losses.push_back(p.loss);
    reports.push_back(p);
  };
  const double final_loss = train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  ASSERT_EQ(losses.size(), 4u);
  EXPECT_LT(final_loss, 0.7 * losses.front());
  EXPECT_FALSE(model->is_training());
  // The curriculum: captions, letter drills and facts in the first window,
  // every task later.
  for (size_t t = 0; t < kTrainTaskNames.size(); ++t) {
    const bool early = t == 0 || t == 4 || t == 6;
    EXPECT_EQ(reports[0].task_loss[t] >= 0, early) << kTrainTaskNames[t];
    EXPECT_GE(reports[3].task_loss[t], 0) << kTrainTaskNames[t];
  }
  // Trained tied, saved untied: lm_head is a copy of the embedding.
  EXPECT_TRUE(torch::equal(model->language_model->lm_head->weight, model->language_model->model->embed_tokens->weight));
}

TEST_F(TrainerTest, LetterDrillsComeFirstUnderTheirOwnSchedule) {
  auto [tokenizer, model] = micro_model();
  DemoTrainingOptions options = plain_training();
  options.steps = 20;
  options.batch_size = 8;
  options.micro_batch = 8;
  options.warmup_steps = 2;
  options.letter_only_steps = 10;
  options.text_only_steps = 0;
  options.caption_only_steps = 5;
  options.mix.image_word = 0.2;
  options.log_every = 5;
  std::vector<TrainProgress> reports;
  options.progress = [&](const TrainProgress& p) { reports.push_back(p); };
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  ASSERT_EQ(reports.size(), 4u);
  for (size_t t = 0; t < kTrainTaskNames.size(); ++t) {
    const bool letter = t == 4, caption = t == 0;
    EXPECT_EQ(reports[0].task_loss[t] >= 0, letter) << kTrainTaskNames[t];
    EXPECT_EQ(reports[1].task_loss[t] >= 0, letter) << kTrainTaskNames[t];
    EXPECT_EQ(reports[2].task_loss[t] >= 0, letter || caption || t == 6) << kTrainTaskNames[t];
  }
  EXPECT_GE(reports[3].task_loss[5], 0) << "image words in the mix";
  // The drill phase decays to the floor; the next phase starts a new schedule.
  EXPECT_NEAR(reports[1].lr, options.lr * options.min_lr_ratio, 1e-9);
  EXPECT_GT(reports[2].lr, 0.5 * options.lr);
}

// --mix-lr-scale / --mix-warmup: with --vision-first the mix's own schedule
// peaks at the given fraction of the rates, from its first step when its
// warm-up is 0; the phases before it keep the full rate.
TEST_F(TrainerTest, MixScheduleHasItsOwnPeakAndWarmup) {
  auto [tokenizer, model] = micro_model();
  DemoTrainingOptions options = plain_training();
  options.steps = 24;
  options.batch_size = 4;
  options.micro_batch = 4;
  options.warmup_steps = 2;
  options.vision_first = true;
  options.caption_only_steps = 8;
  options.text_only_steps = 8;
  options.mix_lr_scale = 0.25;
  options.mix_warmup_steps = 0;
  options.log_every = 1;
  std::vector<TrainProgress> reports;
  options.progress = [&](const TrainProgress& p) { reports.push_back(p); };
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  ASSERT_EQ(reports.size(), 24u);
  EXPECT_NEAR(reports[0].lr, options.lr * 0.5, 1e-12) << "captions warm up over 2 steps";
  EXPECT_NEAR(reports[8].lr, options.lr * 0.5, 1e-12) << "the text phase warms up again";
  // No warm-up: the mix's first step is already one step down its cosine
  // from a quarter of the rate.
  const double first = options.min_lr_ratio + (1 - options.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI / 8));
  EXPECT_NEAR(reports[16].lr, options.lr * 0.25 * first, 1e-12) << "the mix peaks at a quarter of the rate";
  for (size_t i = 17; i < reports.size(); ++i) EXPECT_LT(reports[i].lr, reports[i - 1].lr) << "then decays";
  EXPECT_NEAR(reports.back().lr, options.lr * 0.25 * options.min_lr_ratio, 1e-12);

  const auto phases = training_phases(options);
  ASSERT_EQ(phases.size(), 3u);
  EXPECT_EQ(phases[0].lr_scale, 1);
  EXPECT_EQ(phases[1].lr_scale, 1);
  EXPECT_EQ(phases[2].lr_scale, 0.25);
}

// A copy of a module's weights, and whether two copies are equal.
std::vector<torch::Tensor> weights_of(const torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}
bool same_weights(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return true;
}

// --image-only-layers: the first layers keep their weights through the
// text-only phases while the layers above and the embedding learn; every
// layer learns once images come.
TEST_F(TrainerTest, FrozenLowerLayersLearnNothingInTheTextPhase) {
  auto [tokenizer, model] = micro_model();
  auto& layers = model->language_model->model->layers;
  ASSERT_GE(layers.size(), 2u);
  const auto layer0 = weights_of(*layers[0]), layer1 = weights_of(*layers[1]);
  const auto embedding = model->language_model->model->embed_tokens->weight.detach().clone();
  DemoTrainingOptions options = plain_training();
  options.steps = 6;
  options.batch_size = 4;
  options.warmup_steps = 1;
  options.text_only_steps = 3;
  options.caption_only_steps = 3;
  options.image_only_layers = 1;
  std::vector<std::vector<torch::Tensor>> after_text;
  options.phase_done = [&](const char*, size_t index) {
    if (index == 0) after_text = {weights_of(*layers[0]), weights_of(*layers[1])};
  };
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  ASSERT_EQ(after_text.size(), 2u);
  EXPECT_TRUE(same_weights(after_text[0], layer0)) << "layer 0 is frozen in the text phase";
  EXPECT_FALSE(same_weights(after_text[1], layer1)) << "layer 1 learns in the text phase";
  EXPECT_FALSE(same_weights(weights_of(*layers[0]), layer0)) << "layer 0 learns in the caption phase";
  EXPECT_FALSE(torch::equal(model->language_model->model->embed_tokens->weight, embedding));
  for (const auto& p : layers[0]->parameters()) EXPECT_TRUE(p.requires_grad());
}

// In a phase with images, text-only examples' gradients stay off the
// image-only layers: a batch of text problems (images possible but never
// drawn) leaves layer 0 as it was, and moves it without the option.
TEST_F(TrainerTest, TextOnlyExamplesDoNotTrainImageOnlyLayers) {
  for (int image_only : {1, 0}) {
    auto [tokenizer, model] = micro_model();
    auto& layer0 = model->language_model->model->layers[0];
    const auto before = weights_of(*layer0);
    DemoTrainingOptions options = plain_training();
    options.steps = 3;
    options.batch_size = 4;
    options.warmup_steps = 1;
    options.weight_decay = 0;  // only gradients move weights
    options.text_only_steps = options.caption_only_steps = options.letter_only_steps = 0;
    options.mix.caption = 1e-12;  // a phase with images, in name
    options.mix.yes_no = options.mix.image_problem = options.mix.image_word = 0;
    options.mix.letter = options.mix.fact = 0;
    options.mix.text_problem = 1;
    options.image_only_layers = image_only;
    ASSERT_FALSE(training_phases(options)[0].text_only);
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    EXPECT_EQ(same_weights(weights_of(*layer0), before), image_only == 1) << "image_only_layers " << image_only;
  }
}

// --image-only-mlps: only the MLPs (and the norm before each) of the
// image-only layers are kept from text-only examples; their attention learns
// from them, in the text phase and in the mix alike.
TEST_F(TrainerTest, ImageOnlyMlpsLeaveAttentionToEveryExample) {
  auto [tokenizer, model] = micro_model();
  auto& layer0 = model->language_model->model->layers[0];
  const auto mlp = weights_of(*layer0->mlp), norm = weights_of(*layer0->post_attention_layernorm);
  const auto attention = weights_of(*layer0->self_attn);
  DemoTrainingOptions options = short_run(4, 2);  // then a mix of text problems, images possible in name
  options.weight_decay = 0;
  options.mix.caption = 1e-12;
  options.mix.yes_no = options.mix.image_problem = options.mix.image_word = 0;
  options.mix.text_problem = 1;
  options.image_only_layers = 1;
  options.image_only_mlps = true;
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  EXPECT_TRUE(same_weights(weights_of(*layer0->mlp), mlp)) << "the MLP learns from images only";
  EXPECT_TRUE(same_weights(weights_of(*layer0->post_attention_layernorm), norm));
  EXPECT_FALSE(same_weights(weights_of(*layer0->self_attn), attention)) << "attention learns from text too";
  for (const auto& p : layer0->parameters()) EXPECT_TRUE(p.requires_grad());
}

// Two micro models that differ only in layer 0 (or only in its MLP), trained
// for three text-only steps with layer 0 image-only (frozen): whether layer
// 1 ends the same in both, i.e. whether what it learned from text depended on
// layer 0's (MLP's) weights.
bool upper_layer_ignores_layer0(bool mlp_only, const std::function<void(DemoTrainingOptions&)>& dropout) {
  std::vector<std::vector<torch::Tensor>> upper;
  for (uint64_t lower_seed : {1, 2}) {
    auto [tokenizer, model] = TrainerTest::micro_model();
    {
      auto other = TrainerTest::micro_model().model;
      init_random(other, lower_seed);
      torch::NoGradGuard no_grad;
      auto& from_layer = other->language_model->model->layers[0];
      auto& to_layer = model->language_model->model->layers[0];
      auto from = mlp_only ? from_layer->mlp->parameters() : from_layer->parameters();
      auto to = mlp_only ? to_layer->mlp->parameters() : to_layer->parameters();
      for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
    }
    DemoTrainingOptions options = short_run(3, 3);  // text only: layer 0 frozen
    options.image_only_layers = 1;
    dropout(options);
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    upper.push_back(weights_of(*model->language_model->model->layers[1]));
  }
  return same_weights(upper[0], upper[1]);
}

// --text-layer-drop 1: text-only examples pass over the image-only layers, so
// what the layers above learn from them does not depend on those layers'
// weights at all; without it, it does.
TEST_F(TrainerTest, TextLayerDropPassesOverTheImageOnlyLayers) {
  for (double drop : {1.0, 0.0})
    EXPECT_EQ(upper_layer_ignores_layer0(false, [&](DemoTrainingOptions& o) { o.text_layer_drop = drop; }), drop == 1.0)
        << "text_layer_drop " << drop;
}

// --text-mlp-drop 1: text-only examples pass over the image-only layers'
// MLPs, so what the layers above learn from them does not depend on those
// MLPs' weights; without it, it does, and so it does with the dropout kept to
// the phases with images (--drop-with-images-only) in a text-only run.
TEST_F(TrainerTest, TextMlpDropPassesOverTheImageOnlyMlps) {
  struct Case {
    double drop;
    bool images_only;
    bool independent;
  };
  for (const Case c : {Case{1.0, false, true}, Case{0.0, false, false}, Case{1.0, true, false}})
    EXPECT_EQ(upper_layer_ignores_layer0(true,
                                         [&](DemoTrainingOptions& o) {
                                           o.text_mlp_drop = c.drop;
                                           o.drop_with_images_only = c.images_only;
                                         }),
              c.independent)
        << "text_mlp_drop " << c.drop << (c.images_only ? " with images only" : "");
}

// --text-upper-mlp-drop 1: text-only examples pass over every MLP above the
// image-only layers, so in a text-only run those MLPs learn nothing; without
// it they learn, and so they do with the dropout kept to the phases with
// images (--drop-with-images-only), unless --upper-drop-in-text-phase says
// otherwise.
TEST_F(TrainerTest, TextUpperMlpDropPassesOverTheUpperMlps) {
  struct Case {
    double drop;
    bool images_only;
    bool unchanged;
    bool upper_in_text_phase = false;
  };
  for (const Case c :
       {Case{1.0, false, true}, Case{0.0, false, false}, Case{1.0, true, false}, Case{1.0, true, true, true}}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    std::vector<std::vector<torch::Tensor>> before;
    for (size_t l = 1; l < layers.size(); ++l) before.push_back(weights_of(*layers[l]->mlp));
    DemoTrainingOptions options = short_run(3, 3);  // text only
    options.weight_decay = 0;
    options.image_only_layers = 1;
    options.text_upper_mlp_drop = c.drop;
    options.drop_with_images_only = c.images_only;
    options.upper_drop_in_text_phase = c.upper_in_text_phase;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    for (size_t l = 1; l < layers.size(); ++l)
      EXPECT_EQ(same_weights(weights_of(*layers[l]->mlp), before[l - 1]), c.unchanged)
          << "layer " << l << ", text_upper_mlp_drop " << c.drop << (c.images_only ? " with images only" : "");
  }
}

// --image-mlp-drop 1: micro-batches with images pass over the image-only
// layers' MLPs, so in a run of captions only those MLPs learn nothing while
// the MLPs above do; without it they learn.
TEST_F(TrainerTest, ImageMlpDropPassesOverTheImageOnlyMlps) {
  for (double drop : {1.0, 0.0}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    const auto lower = weights_of(*layers[0]->mlp), upper = weights_of(*layers[1]->mlp);
    DemoTrainingOptions options = captions_run();
    options.image_mlp_drop = drop;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    EXPECT_EQ(same_weights(weights_of(*layers[0]->mlp), lower), drop == 1.0) << "image_mlp_drop " << drop;
    EXPECT_FALSE(same_weights(weights_of(*layers[1]->mlp), upper)) << "image_mlp_drop " << drop;
  }
}

// --upper-image-mlp-drop 1: micro-batches with images pass over the MLPs
// above the image-only layers, so in a run of captions only those MLPs learn
// nothing while the image-only layers' MLPs do; without it they learn.
TEST_F(TrainerTest, UpperImageMlpDropPassesOverTheUpperMlps) {
  for (double drop : {1.0, 0.0}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    const auto lower = weights_of(*layers[0]->mlp), upper = weights_of(*layers[1]->mlp);
    DemoTrainingOptions options = captions_run();
    options.upper_image_mlp_drop = drop;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    EXPECT_FALSE(same_weights(weights_of(*layers[0]->mlp), lower)) << "upper_image_mlp_drop " << drop;
    EXPECT_EQ(same_weights(weights_of(*layers[1]->mlp), upper), drop == 1.0) << "upper_image_mlp_drop " << drop;
  }
}

// --vision-tower-lr-scale 0 keeps the vision tower at its initial weights
// while the projector and the language model learn; any other scale lets
// the tower learn too.
TEST_F(TrainerTest, VisionTowerLrScaleZeroFreezesTheTower) {
  for (double scale : {0.0, 0.5}) {
    auto [tokenizer, model] = micro_model();
    const auto tower = weights_of(*model->vision_tower), projector = weights_of(*model->multi_modal_projector);
    DemoTrainingOptions options = captions_run();
    options.vision_tower_lr_scale = scale;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    EXPECT_EQ(same_weights(weights_of(*model->vision_tower), tower), scale == 0) << "scale " << scale;
    EXPECT_FALSE(same_weights(weights_of(*model->multi_modal_projector), projector)) << "scale " << scale;
    for (const auto& p : model->vision_tower->parameters()) EXPECT_TRUE(p.requires_grad()) << "scale " << scale;
  }
  auto [tokenizer, model] = micro_model();
  DemoTrainingOptions options = captions_run();
  options.vision_tower_lr_scale = -1;
  EXPECT_THROW(train_demo_model(model, tokenizer, clip_preprocessor(32), options), Error);
}

// --seeing-lr-scale 0: in the phases with images the image-only layers, the
// projector and the vision tower keep their weights while the layers above
// learn; at 0.5 they learn too.
TEST_F(TrainerTest, SeeingLrScaleZeroKeepsTheSeeingSide) {
  for (double scale : {0.0, 0.5}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    const auto lower = weights_of(*layers[0]), upper = weights_of(*layers[1]->mlp);
    const auto tower = weights_of(*model->vision_tower), projector = weights_of(*model->multi_modal_projector);
    DemoTrainingOptions options = captions_run();
    options.seeing_lr_scale = scale;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    const bool kept = scale == 0;
    EXPECT_EQ(same_weights(weights_of(*layers[0]), lower), kept) << "scale " << scale;
    EXPECT_EQ(same_weights(weights_of(*model->vision_tower), tower), kept) << "scale " << scale;
    EXPECT_EQ(same_weights(weights_of(*model->multi_modal_projector), projector), kept) << "scale " << scale;
    EXPECT_FALSE(same_weights(weights_of(*layers[1]->mlp), upper)) << "scale " << scale;
  }
  auto [tokenizer, model] = micro_model();
  DemoTrainingOptions options = captions_run();
  options.seeing_lr_scale = -1;
  EXPECT_THROW(train_demo_model(model, tokenizer, clip_preprocessor(32), options), Error);
}

// A final phase (the whole run here) keeps the image-only layers, the
// projector and the tower as they were while the MLPs above learn.
TEST_F(TrainerTest, FinalPhaseKeepsTheSeeingSide) {
  auto [tokenizer, model] = micro_model();
  const auto& layers = model->language_model->model->layers;
  const auto lower = weights_of(*layers[0]), upper = weights_of(*layers[1]->mlp);
  const auto tower = weights_of(*model->vision_tower), projector = weights_of(*model->multi_modal_projector);
  DemoTrainingOptions options = captions_run();
  options.steps = 3;
  options.final_steps = 3;
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  EXPECT_TRUE(same_weights(weights_of(*layers[0]), lower));
  EXPECT_TRUE(same_weights(weights_of(*model->vision_tower), tower));
  EXPECT_TRUE(same_weights(weights_of(*model->multi_modal_projector), projector));
  EXPECT_FALSE(same_weights(weights_of(*layers[1]->mlp), upper));
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.requires_grad());
}

// A rehearsing text phase (the whole run here: vision-first with no captions
// and no mix steps) draws captions and yes/no beside the text tasks and
// keeps the image-only layer, the projector and the tower as they were
// while the layers above learn.
TEST_F(TrainerTest, RehearsalKeepsTheSeeingSide) {
  auto [tokenizer, model] = micro_model();
  const auto& layers = model->language_model->model->layers;
  const auto lower = weights_of(*layers[0]), upper = weights_of(*layers[1]->mlp);
  const auto tower = weights_of(*model->vision_tower), projector = weights_of(*model->multi_modal_projector);
  DemoTrainingOptions options = short_run(3, 3);
  options.vision_first = true;
  options.image_only_layers = 1;
  options.rehearsal_share = 0.5;
  options.log_every = 1;
  std::array<double, kTrainTaskNames.size()> seen{};
  options.progress = [&](const TrainProgress& p) {
    for (size_t t = 0; t < seen.size(); ++t)
      if (p.task_loss[t] >= 0) seen[t] += 1;
  };
  train_demo_model(model, tokenizer, clip_preprocessor(32), options);
  EXPECT_GT(seen[0] + seen[1], 0) << "captions or yes/no are rehearsed";
  EXPECT_GT(seen[4] + seen[6], 0) << "the text phase's own tasks";
  EXPECT_TRUE(same_weights(weights_of(*layers[0]), lower));
  EXPECT_TRUE(same_weights(weights_of(*model->vision_tower), tower));
  EXPECT_TRUE(same_weights(weights_of(*model->multi_modal_projector), projector));
  EXPECT_FALSE(same_weights(weights_of(*layers[1]->mlp), upper));
  for (const auto& p : model->parameters()) EXPECT_TRUE(p.requires_grad());
}

// --upper-mlp-image-grad 0: the MLPs above the image-only layers take no
// gradient from examples with images. In a run of captions only they learn
// nothing (the image-only layer's MLP does); at 1 or 0.3 they learn; with
// text-only examples in the mix they learn from those.
TEST_F(TrainerTest, TextOnlyUpperMlpsLearnFromTextOnly) {
  struct Case {
    double image_grad;
    bool with_text;
    bool upper_unchanged;
  };
  for (const Case c : {Case{0, false, true}, Case{1, false, false}, Case{0.3, false, false}, Case{0, true, false}}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    const auto lower = weights_of(*layers[0]->mlp), upper = weights_of(*layers[1]->mlp);
    DemoTrainingOptions options = captions_run();
    options.mix.text_problem = c.with_text ? 1 : 0;
    options.upper_mlp_image_grad = c.image_grad;
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    const std::string label =
        "upper_mlp_image_grad " + std::to_string(c.image_grad) + (c.with_text ? ", with text" : "");
    EXPECT_FALSE(same_weights(weights_of(*layers[0]->mlp), lower)) << label;
    EXPECT_EQ(same_weights(weights_of(*layers[1]->mlp), upper), c.upper_unchanged) << label;
  }
}

// --first-phase-upper-mlp-image-grad: the first phase (captions) of a
// --vision-first run takes this share instead of --upper-mlp-image-grad.
TEST_F(TrainerTest, FirstPhaseHasItsOwnUpperMlpImageGrad) {
  struct Case {
    double image_grad, first_phase;
    bool upper_unchanged;
  };
  for (const Case c : {Case{0, 1, false}, Case{1, 0, true}, Case{0, -1, true}}) {
    auto [tokenizer, model] = micro_model();
    const auto& layers = model->language_model->model->layers;
    const auto upper = weights_of(*layers[1]->mlp);
    DemoTrainingOptions options = captions_run();
    options.vision_first = true;
    options.caption_only_steps = options.steps;  // the whole run is the first phase
    options.first_phase_yes_no_share = 0;
    options.upper_mlp_image_grad = c.image_grad;
    options.first_phase_upper_mlp_image_grad = c.first_phase;
    ASSERT_EQ(training_phases(options).size(), 1u);
    train_demo_model(model, tokenizer, clip_preprocessor(32), options);
    EXPECT_EQ(same_weights(weights_of(*layers[1]->mlp), upper), c.upper_unchanged)
        << "upper_mlp_image_grad " << c.image_grad << ", first phase " << c.first_phase;
  }
}

// --vision-first: captions alone, then the text phase, then the mix under a
// schedule of its own.
TEST(TrainingPhases, VisionFirst) {
  DemoTrainingOptions o = plain_training();
  o.vision_first = true;
  const auto phases = training_phases(o);
  ASSERT_EQ(phases.size(), 3u);
  EXPECT_STREQ(phases[0].name, "captions");
  EXPECT_EQ(phases[0].shares.fact + phases[0].shares.letter + phases[0].shares.yes_no, 0);
  EXPECT_FALSE(phases[0].text_only);
  EXPECT_STREQ(phases[1].name, "text");
  EXPECT_TRUE(phases[1].text_only);
  EXPECT_STREQ(phases[2].name, "mix");
  for (const auto& p : phases) EXPECT_TRUE(p.new_schedule) << p.name;
  EXPECT_EQ(phases[0].steps + phases[1].steps + phases[2].steps, o.steps);
  for (const auto& p : phases) EXPECT_LT(p.upper_mlp_image_grad, 0) << p.name;
  o.first_phase_upper_mlp_image_grad = 1;
  const auto first_grad = training_phases(o);
  EXPECT_EQ(first_grad[0].upper_mlp_image_grad, 1);
  EXPECT_LT(first_grad[1].upper_mlp_image_grad, 0);
  EXPECT_LT(first_grad[2].upper_mlp_image_grad, 0);
  o.first_phase_yes_no_share = 0.5;  // yes/no beside the captions, still no text
  const auto with_yes_no = training_phases(o);
  EXPECT_EQ(with_yes_no[0].shares.yes_no, 0.5);
  EXPECT_EQ(with_yes_no[0].shares.caption, 1);
  EXPECT_EQ(with_yes_no[0].shares.fact + with_yes_no[0].shares.letter + with_yes_no[0].shares.text_problem, 0);
}

// --letter-only-steps with --vision-first: the drills come between the
// captions and the text phase, text-only (the seeing layers stay frozen),
// under a schedule of their own.
TEST(TrainingPhases, VisionFirstDrillsFollowTheCaptions) {
  DemoTrainingOptions o = plain_training();
  o.vision_first = true;
  o.letter_only_steps = 500;
  const auto phases = training_phases(o);
  ASSERT_EQ(phases.size(), 4u);
  EXPECT_STREQ(phases[0].name, "captions");
  EXPECT_STREQ(phases[1].name, "letter drills");
  EXPECT_EQ(phases[1].steps, 500);
  EXPECT_TRUE(phases[1].text_only);
  EXPECT_TRUE(phases[1].new_schedule);
  EXPECT_EQ(phases[1].shares.letter, 1);
  EXPECT_EQ(phases[1].shares.fact + phases[1].shares.caption + phases[1].shares.yes_no, 0);
  EXPECT_STREQ(phases[2].name, "text");
  EXPECT_STREQ(phases[3].name, "mix");
  EXPECT_EQ(phases[0].steps + phases[1].steps + phases[2].steps + phases[3].steps, o.steps);
}

// --rehearsal: the drills and text phases keep captions and yes/no at that
// share of their examples, half each, with the seeing side frozen; the
// captions phase and the mix are as without it.
TEST(TrainingPhases, RehearsalKeepsImageTasksInTheTextPhases) {
  DemoTrainingOptions o = plain_training();
  o.vision_first = true;
  o.letter_only_steps = 500;
  o.rehearsal_share = 0.2;
  o.image_only_layers = 2;  // the rehearsal keeps them frozen
  const auto phases = training_phases(o);
  ASSERT_EQ(phases.size(), 4u);
  for (size_t i : {size_t{1}, size_t{2}}) {
    const auto& p = phases[i];
    EXPECT_TRUE(p.rehearsal) << p.name;
    EXPECT_TRUE(p.seeing_frozen) << p.name;
    EXPECT_FALSE(p.text_only) << p.name;
    EXPECT_DOUBLE_EQ(p.shares.caption, p.shares.yes_no) << p.name;
    EXPECT_NEAR((p.shares.caption + p.shares.yes_no) / p.shares.total(), 0.2, 1e-12) << p.name;
  }
  EXPECT_EQ(phases[1].shares.letter, 1);
  EXPECT_EQ(phases[2].shares.letter, 1);
  EXPECT_EQ(phases[2].shares.fact, 1);
  for (size_t i : {size_t{0}, size_t{3}}) {
    EXPECT_FALSE(phases[i].rehearsal) << phases[i].name;
    EXPECT_FALSE(phases[i].seeing_frozen) << phases[i].name;
  }
  o.rehearsal_share = 0;
  for (const auto& p : training_phases(o)) EXPECT_FALSE(p.rehearsal) << p.name;
  o.rehearsal_share = 0.2;
  o.image_only_layers = 0;  // no seeing side to keep: text phases as without it
  for (const auto& p : training_phases(o)) EXPECT_FALSE(p.rehearsal) << p.name;
}

// The demo's recipe (docs/demo.md, Training): captions and yes/no first,
// then the text phase, then the mix at 0.4 of the rate without warm-up.
// --final-steps: the last steps are a phase of their own, with its own
// schedule and shares, that keeps the seeing side; without image-only layers
// there is no seeing side to keep and no final phase.
TEST(TrainingPhases, FinalPhaseKeepsTheSeeingSide) {
  DemoTrainingOptions o;
  o.rehearsal_share = 0;  // (a rehearsing text phase keeps the seeing side too)
  o.final_steps = 1500;
  o.final_mix.image_problem = 0.7;
  o.final_lr_scale = 0.15;
  o.final_warmup_steps = 50;
  const auto phases = training_phases(o);
  const size_t before = training_phases(DemoTrainingOptions{}).size();
  ASSERT_EQ(phases.size(), before + 1);
  const auto& final = phases.back();
  const auto& mix = phases[phases.size() - 2];
  EXPECT_STREQ(final.name, "final");
  EXPECT_EQ(final.steps, 1500);
  EXPECT_TRUE(final.new_schedule);
  EXPECT_TRUE(final.seeing_frozen);
  EXPECT_EQ(final.lr_scale, 0.15);
  EXPECT_EQ(final.warmup_steps, 50);
  EXPECT_EQ(final.shares.image_problem, 0.7);
  EXPECT_STREQ(mix.name, "mix");
  EXPECT_EQ(mix.shares.image_problem, o.mix.image_problem);
  int total = 0;
  for (const auto& p : phases) {
    total += p.steps;
    if (&p != &final) {
      EXPECT_FALSE(p.seeing_frozen) << p.name;
    }
  }
  EXPECT_EQ(total, o.steps);
  EXPECT_EQ(mix.steps, training_phases(DemoTrainingOptions{}).back().steps - 1500);
  o.image_only_layers = 0;
  EXPECT_EQ(training_phases(o).size(), before);
}

TEST(TrainingPhases, TheDefaultsAreTheDemoRecipe) {
  const DemoTrainingOptions o;
  const auto phases = training_phases(o);
  ASSERT_EQ(phases.size(), 4u);
  EXPECT_STREQ(phases[0].name, "captions");
  EXPECT_EQ(phases[0].steps, 1000);
  EXPECT_EQ(phases[0].shares.yes_no, phases[0].shares.caption);
  EXPECT_EQ(phases[0].upper_mlp_image_grad, 0.1);  // the upper MLPs learn the image tasks once
  EXPECT_STREQ(phases[1].name, "letter drills");
  EXPECT_EQ(phases[1].steps, 1000);
  EXPECT_STREQ(phases[2].name, "text");
  EXPECT_EQ(phases[2].steps, 4000);
  for (size_t i : {size_t{1}, size_t{2}}) {
    EXPECT_TRUE(phases[i].rehearsal) << phases[i].name;  // captions and yes/no at a tenth
    EXPECT_NEAR((phases[i].shares.caption + phases[i].shares.yes_no) / phases[i].shares.total(), 0.1, 1e-12);
  }
  EXPECT_STREQ(phases[3].name, "mix");
  EXPECT_EQ(phases[3].steps, 4000);
  EXPECT_EQ(phases[3].shares.image_problem, 0.4);
  EXPECT_EQ(phases[3].lr_scale, 0.4);
  EXPECT_EQ(phases[3].warmup_steps, 0);
  EXPECT_LT(phases[3].upper_mlp_image_grad, 0);  // the run's own: 0
  EXPECT_EQ(o.upper_mlp_image_grad, 0);
  EXPECT_EQ(o.vision_tower_lr_scale, 0);  // the tower stays frozen, the projector learns
  EXPECT_GT(o.vision_lr, 0);
  EXPECT_EQ(o.image_only_layers, 4);
  EXPECT_GT(o.embed_init_std, o.init_std);
  EXPECT_EQ(o.text_mlp_drop, 0.3);  // text-only examples pass over layers 0-3's MLPs, in the mix only
  EXPECT_TRUE(o.drop_with_images_only);
}

// The text-first curriculum's phases add up to the run, skip what is empty,
// and the text phase draws drills and facts only, half and half.
TEST(TrainingPhases, TextFirstCurriculum) {
  DemoTrainingOptions o = plain_training();
  o.steps = 5000;
  o.letter_only_steps = 0;
  o.text_only_steps = 2000;
  o.caption_only_steps = 600;
  auto phases = training_phases(o);
  ASSERT_EQ(phases.size(), 3u);
  EXPECT_STREQ(phases[0].name, "text");
  EXPECT_EQ(phases[0].steps, 2000);
  EXPECT_TRUE(phases[0].new_schedule);
  EXPECT_EQ(phases[0].shares.letter, phases[0].shares.fact);
  EXPECT_EQ(phases[0].shares.caption + phases[0].shares.yes_no + phases[0].shares.image_problem +
                phases[0].shares.text_problem + phases[0].shares.image_word,
            0);
  EXPECT_STREQ(phases[1].name, "captions");
  EXPECT_TRUE(phases[1].new_schedule);
  EXPECT_GT(phases[1].shares.fact, 0) << "the captions keep the facts";
  EXPECT_STREQ(phases[2].name, "mix");
  EXPECT_FALSE(phases[2].new_schedule) << "the mix continues the captions' schedule";
  EXPECT_EQ(phases[2].steps, 2400);
  o.text_phase_problem_share = 0.5;  // text problems join the text phase; it stays text-only
  EXPECT_EQ(training_phases(o)[0].shares.text_problem, 0.5);
  EXPECT_TRUE(training_phases(o)[0].text_only);
  o.text_phase_problem_share = 0;

  o.letter_only_steps = 800;
  o.steps = 1000;  // shorter than the phases asked for: the later ones are cut
  phases = training_phases(o);
  ASSERT_EQ(phases.size(), 2u);
  EXPECT_STREQ(phases[0].name, "letter drills");
  EXPECT_EQ(phases[0].shares.letter, 1);
  EXPECT_EQ(phases[0].shares.fact, 0);
  EXPECT_EQ(phases[1].steps, 200);
}

// --embed-init-std: the token embedding and lm_head redrawn at that scale,
// the decoder left as it was.
TEST_F(TrainerTest, TokenEmbeddingStartsAtItsOwnScale) {
  auto [tokenizer, model] = micro_model();
  const auto decoder = weights_of(*model->language_model->model->layers[0]);
  init_token_embedding(model, 0.5, 7);
  EXPECT_NEAR(model->language_model->model->embed_tokens->weight.std().item<double>(), 0.5, 0.02);
  EXPECT_NEAR(model->language_model->lm_head->weight.std().item<double>(), 0.5, 0.02);
  EXPECT_TRUE(same_weights(weights_of(*model->language_model->model->layers[0]), decoder));
}

TEST_F(TrainerTest, CancelStopsTraining) {
  auto [tokenizer, model] = micro_model();
  std::atomic<bool> cancel{true};
  DemoTrainingOptions options = plain_training();
  options.steps = 5;
  options.batch_size = 2;
  options.cancel = &cancel;
  EXPECT_THROW(train_demo_model(model, tokenizer, clip_preprocessor(32), options), Cancelled);
}

}  // namespace
}  // namespace hipp
