#include "demo/trainer.h"

#include <chrono>
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "data/knowledge.h"
#include "model/answer_loss.h"
#include "model/prompt.h"

namespace hipp {

namespace {

const char* kShortAnswerSuffix = "\nAnswer the question using a single word or phrase.";

TrainExample make_sequence(const Tokenizer& tokenizer, const LlavaConfig& config, const std::string& prompt,
                           const std::string& answer) {
  TrainExample e;
  e.ids = tokenize_prompt(tokenizer, prompt, config.image_token_index, config.num_image_features());
  e.labels.assign(e.ids.size(), kIgnoreLabel);
  auto answer_ids = tokenizer.encode(answer);
  answer_ids.push_back(tokenizer.eos_id());
  for (int64_t id : answer_ids) {
    e.ids.push_back(id);
    e.labels.push_back(id);
  }
  return e;
}

// A negative category for a yes/no question, by one of POPE's three rules.
int absent_category(const Scene& scene, SceneRandom& random) {
  std::vector<int> absent;
  const int mode = random.below(3);
  if (mode == 2) {  // adversarial: an absent member of the scene's theme
    for (int c : scene_themes()[static_cast<size_t>(scene.theme)].members)
      if (!scene.contains(c)) absent.push_back(c);
  }
  if (absent.empty())
    for (int c = 0; c < static_cast<int>(scene_categories().size()); ++c)
      if (!scene.contains(c)) absent.push_back(c);
  return absent[static_cast<size_t>(random.below(static_cast<int>(absent.size())))];
}

}  // namespace

TrainExample draw_example(SceneRandom& random, const Tokenizer& tokenizer, const LlavaConfig& config,
                          const TaskShares& o, const SceneOptions& scenes) {
  double pick = random.uniform() * o.total();
  if ((pick -= o.letter) < 0) {
    // 2-4 distinct names, of scene categories or of known things (the
    // options of the image problems, and the words the prompts are made of);
    // the question names one of them. (Kinds and places as a third pool made
    // the drill form far more slowly, series H, docs/demo.md; the knowledge
    // problems need no lookup since they list every kind or place in order.)
    std::vector<std::string> names;
    if (random.chance(0.5)) {
      for (const auto& c : scene_categories()) names.push_back(c.name);
    } else {
      for (const auto& t : known_things()) names.push_back(t.name);
    }
    std::vector<int> pool(names.size());
    for (size_t i = 0; i < pool.size(); ++i) pool[i] = static_cast<int>(i);
    const int options = 2 + random.below(3);
    SqaProblem p;
    for (int k = 0; k < options; ++k) {
      const int at = k + random.below(static_cast<int>(pool.size()) - k);
      std::swap(pool[static_cast<size_t>(k)], pool[static_cast<size_t>(at)]);
      p.choices.push_back(names[static_cast<size_t>(pool[static_cast<size_t>(k)])]);
    }
    p.answer = random.below(options);
    p.question = "Which option says " + p.choices[static_cast<size_t>(p.answer)] + "?";
    auto e = make_sequence(tokenizer, config, llava_prompt(sqa_prompt_text(p), false),
                           std::string(1, option_letter(static_cast<size_t>(p.answer))));
    e.task = 4;
    return e;
  }
  if ((pick -= o.fact) < 0) {
    const auto& things = known_things();
    const auto& thing = things[static_cast<size_t>(random.below(static_cast<int>(things.size())))];
    const bool kind = random.chance(0.5);
    auto e =
        make_sequence(tokenizer, config,
                      llava_prompt((kind ? kind_question(thing) : place_question(thing)) + kShortAnswerSuffix, false),
                      kind ? knowledge_kinds()[static_cast<size_t>(thing.kind)]
                           : knowledge_places()[static_cast<size_t>(thing.place)]);
    e.task = 6;
    return e;
  }
  if ((pick -= o.text_problem) < 0) {
    const auto p = text_problem(random);
    auto e = make_sequence(tokenizer, config, llava_prompt(sqa_prompt_text(p), false),
                           std::string(1, option_letter(static_cast<size_t>(p.answer))));
    e.task = 3;
    return e;
  }
  SceneOptions scene_options = scenes;
  scene_options.image_size = static_cast<int>(config.vision.image_size);
  Scene scene = make_scene(random, scene_options);
  TrainExample e;
  if ((pick -= o.caption) < 0) {
    e = make_sequence(tokenizer, config, llava_prompt("What objects are in the image?", true), scene.caption() + ".");
    e.task = 0;
  } else if ((pick -= o.image_word) < 0) {
    const auto p = image_problem(scene, random);
    e = make_sequence(tokenizer, config, llava_prompt(p.question + kShortAnswerSuffix, true),
                      p.choices[static_cast<size_t>(p.answer)]);
    e.task = 5;
  } else if ((pick -= o.yes_no) < 0) {
    const bool positive = random.chance(0.5);
    const int category =
        positive ? scene.objects[static_cast<size_t>(random.below(static_cast<int>(scene.objects.size())))].category
                 : absent_category(scene, random);
    e = make_sequence(tokenizer, config, llava_prompt(pope_question_text(category) + kShortAnswerSuffix, true),
                      positive ? "Yes" : "No");
    e.task = 1;
  } else {
    const auto p = image_problem(scene, random);
    e = make_sequence(tokenizer, config, llava_prompt(sqa_prompt_text(p), true),
                      std::string(1, option_letter(static_cast<size_t>(p.answer))));
    e.task = 2;
  }
  e.has_image = true;
  e.image = std::move(scene.image);
  return e;
}

void init_token_embedding(LlavaModel& model, double std, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  model->language_model->model->embed_tokens->weight.normal_(0, std);
  model->language_model->lm_head->weight.normal_(0, std);
}

std::vector<TrainingPhase> training_phases(const DemoTrainingOptions& o) {
  // Text-first: the captions keep the drills and the facts at their shares
  // (run F1, docs/demo.md: 600 steps of captions alone erased a drill
  // learned before).
  TaskShares captions = o.mix;
  captions.yes_no = captions.image_problem = captions.text_problem = captions.image_word = 0;
  captions.caption = 1;
  TaskShares drills;
  drills.letter = 1;
  TaskShares text;  // half drills, half facts
  text.letter = text.fact = 1;
  text.text_problem = std::max(0.0, o.text_phase_problem_share);
  std::vector<TrainingPhase> phases;
  const int final_steps = o.image_only_layers > 0 ? std::clamp(o.final_steps, 0, o.steps) : 0;
  int left = o.steps - final_steps;
  auto add = [&](const char* name, int steps, const TaskShares& shares, bool new_schedule) {
    steps = std::clamp(steps, 0, left);
    if (steps == 0) return;
    phases.push_back({name, steps, shares, new_schedule || phases.empty(), !shares.has_images()});
    left -= steps;
  };
  if (o.vision_first) {
    // The drills come after the captions: they are text-only, so with
    // image-only layers they are learned above the trained seeing layers,
    // which stay frozen through them and the text phase that follows.
    TaskShares pure_captions;
    pure_captions.caption = 1;
    pure_captions.yes_no = std::max(0.0, o.first_phase_yes_no_share);
    add("captions", o.caption_only_steps, pure_captions, true);
    if (!phases.empty()) phases.back().upper_mlp_image_grad = o.first_phase_upper_mlp_image_grad;
    // Rehearsal: captions and yes/no at rehearsal_share of each text
    // phase's examples, the seeing side frozen.
    // (Only with image-only layers: the rehearsal keeps them frozen.)
    const double rehearse = o.image_only_layers > 0 ? std::clamp(o.rehearsal_share, 0.0, 0.9) : 0.0;
    auto rehearsed = [&](TaskShares shares) {
      if (rehearse > 0) shares.caption = shares.yes_no = shares.total() * rehearse / (2 * (1 - rehearse));
      return shares;
    };
    auto add_text_phase = [&](const char* name, int steps, const TaskShares& shares) {
      const size_t before = phases.size();
      add(name, steps, rehearsed(shares), true);
      if (rehearse > 0 && phases.size() > before) phases.back().rehearsal = phases.back().seeing_frozen = true;
    };
    add_text_phase("letter drills", o.letter_only_steps, drills);
    add_text_phase("text", o.text_only_steps, text);
    const size_t before = phases.size();
    add("mix", left, o.mix, true);
    if (phases.size() > before) {
      phases.back().lr_scale = o.mix_lr_scale;
      phases.back().warmup_steps = o.mix_warmup_steps;
    }
  } else {
    add("letter drills", o.letter_only_steps, drills, true);
    add("text", o.text_only_steps, text, true);
    add("captions", o.caption_only_steps, captions, true);
    add("mix", left, o.mix, false);
  }
  if (final_steps > 0) {
    left = final_steps;
    add("final", final_steps, o.final_mix, true);
    phases.back().lr_scale = o.final_lr_scale;
    phases.back().warmup_steps = o.final_warmup_steps;
    phases.back().seeing_frozen = true;
  }
  return phases;
}

double train_demo_model(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                        const DemoTrainingOptions& o) {
  if (o.steps <= 0 || o.batch_size <= 0) throw Error("training needs positive steps and batch size");
  const auto& config = model->config();
  const auto device = model->options().device();
  torch::manual_seed(o.seed);
  SceneRandom random(o.seed * 1000003 + 17);
  model->train();
  const int image_only =
      std::clamp(o.image_only_layers, 0, static_cast<int>(model->language_model->model->layers.size()));
  std::vector<torch::Tensor> image_only_parameters;
  for (int l = 0; l < image_only; ++l) {
    const auto& layer = model->language_model->model->layers[static_cast<size_t>(l)];
    if (o.image_only_identity) {
      // Zero output projections: the layer adds nothing to the residual
      // stream until images teach it to.
      torch::NoGradGuard no_grad;
      layer->self_attn->o_proj->weight.zero_();
      layer->mlp->down_proj->weight.zero_();
    }
    auto parameters = layer->parameters();
    if (o.image_only_mlps) {
      parameters = layer->mlp->parameters();
      for (auto& p : layer->post_attention_layernorm->parameters()) parameters.push_back(p);
    }
    for (auto& p : parameters) image_only_parameters.push_back(p);
  }
  // Parameter groups: the language model (but its image-only parameters),
  // the vision side (tower and projector), which may learn at its own rate,
  // and the image-only parameters, which keep the full rate when the rest of
  // the language model learns slower (upper_lr_scale).
  const double vision_lr = o.vision_lr > 0 ? o.vision_lr : o.lr;
  if (!(o.vision_tower_lr_scale >= 0))
    throw Error("vision tower learning-rate scale must be >= 0 (it is " + std::to_string(o.vision_tower_lr_scale) +
                ")");
  if (!(o.seeing_lr_scale >= 0))
    throw Error("seeing learning-rate scale must be >= 0 (it is " + std::to_string(o.seeing_lr_scale) + ")");
  const bool tower_frozen = o.vision_tower_lr_scale == 0;
  const bool tower_own_group = !tower_frozen && o.vision_tower_lr_scale != 1;
  std::vector<torch::Tensor> vision_parameters, tower_parameters;
  for (auto& p : model->vision_tower->parameters()) {
    if (tower_frozen)
      p.requires_grad_(false);
    else
      (tower_own_group ? tower_parameters : vision_parameters).push_back(p);
  }
  for (auto& p : model->multi_modal_projector->parameters()) vision_parameters.push_back(p);
  std::vector<torch::Tensor> language_parameters;
  for (auto& p : model->language_model->parameters()) {
    const bool image_only_parameter = std::any_of(image_only_parameters.begin(), image_only_parameters.end(),
                                                  [&](const torch::Tensor& q) { return q.is_same(p); });
    if (!image_only_parameter) language_parameters.push_back(p);
  }
  auto adamw = [&](double lr) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(lr).weight_decay(o.weight_decay).betas({0.9, 0.98}));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(language_parameters, adamw(o.lr));
  groups.emplace_back(vision_parameters, adamw(vision_lr));
  // Every group but the first sees (the vision side, the image-only
  // layers): with image-only layers they learn at seeing_lr_scale of their
  // rates in the phases with images.
  std::vector<double> peak{o.lr, vision_lr};
  if (!image_only_parameters.empty()) {
    groups.emplace_back(image_only_parameters, adamw(o.lr));
    peak.push_back(o.lr);
  }
  if (!tower_parameters.empty()) {
    groups.emplace_back(tower_parameters, adamw(vision_lr * o.vision_tower_lr_scale));
    peak.push_back(vision_lr * o.vision_tower_lr_scale);
  }
  torch::optim::AdamW optimizer(std::move(groups));
  // In text-only phases those layers are frozen: parameters without a
  // gradient are skipped by the optimizer (no update, no weight decay, no
  // moments) and by the backward pass.
  auto set_image_only_learn = [&](bool learn) {
    for (auto& p : image_only_parameters) {
      p.requires_grad_(learn);
      if (!learn) p.mutable_grad() = torch::Tensor();
    }
  };
  auto set_vision_learn = [&](bool learn) {
    auto parameters = model->multi_modal_projector->parameters();
    if (!tower_frozen)
      for (auto& p : model->vision_tower->parameters()) parameters.push_back(p);
    for (auto& p : parameters) {
      p.requires_grad_(learn);
      if (!learn) p.mutable_grad() = torch::Tensor();
    }
  };
  auto clear_image_only_grads = [&] {
    for (auto& p : image_only_parameters)
      if (p.grad().defined()) p.mutable_grad().zero_();
  };
  // The MLPs above the image-only layers, when the image examples teach them
  // less (upper_mlp_image_grad < 1): their gradients after the text
  // micro-batches are kept, and once the image examples' have been added the
  // image share is scaled down.
  const auto phases = training_phases(o);
  auto upper_image_grad = [&](const TrainingPhase& p) {
    return p.upper_mlp_image_grad >= 0 ? p.upper_mlp_image_grad : o.upper_mlp_image_grad;
  };
  std::vector<torch::Tensor> damped_upper_mlps;
  if (image_only > 0 &&
      std::any_of(phases.begin(), phases.end(), [&](const TrainingPhase& p) { return upper_image_grad(p) < 1; }))
    for (size_t l = static_cast<size_t>(image_only); l < model->language_model->model->layers.size(); ++l) {
      const auto& layer = model->language_model->model->layers[l];
      for (auto& p : layer->mlp->parameters()) damped_upper_mlps.push_back(p);
      for (auto& p : layer->post_attention_layernorm->parameters()) damped_upper_mlps.push_back(p);
    }
  std::vector<torch::Tensor> upper_text_grads;
  const auto start = std::chrono::steady_clock::now();
  double window_loss = 0, last_loss = 0;
  std::array<double, kTrainTaskNames.size()> task_sum{}, task_count{};
  int window = 0;
  size_t phase = 0;
  int phase_begin = 0;  // steps before the current phase
  int schedule_begin = 0, schedule_steps = 0, schedule_warmup = 0;
  double schedule_scale = 1;
  for (int step = 1; step <= o.steps; ++step) {
    if (o.cancel && o.cancel->load()) throw Cancelled();
    while (phase + 1 < phases.size() && step > phase_begin + phases[phase].steps) phase_begin += phases[phase++].steps;
    if (step == phase_begin + 1 && phases[phase].new_schedule) {
      // Warm-up, then cosine decay over this phase and the ones that share
      // its schedule.
      schedule_begin = phase_begin;
      schedule_steps = 0;
      schedule_scale = phases[phase].lr_scale;
      schedule_warmup = phases[phase].warmup_steps >= 0 ? phases[phase].warmup_steps : o.warmup_steps;
      for (size_t q = phase; q < phases.size() && (q == phase || !phases[q].new_schedule); ++q)
        schedule_steps += phases[q].steps;
    }
    if (step == phase_begin + 1) {
      // A phase that keeps the seeing side takes no gradient for it at all
      // (the backward pass stops at the layers above).
      const bool keep_seeing = image_only > 0 && (phases[phase].seeing_frozen || o.seeing_lr_scale == 0);
      if (image_only > 0) set_image_only_learn(!phases[phase].text_only && !keep_seeing);
      set_vision_learn(!keep_seeing);
    }
    const int phase_step = step - schedule_begin;
    const int warmup = std::min(schedule_warmup, schedule_steps / 4);
    double factor = 1;
    if (phase_step <= warmup) {
      factor = static_cast<double>(phase_step) / std::max(1, warmup);
    } else {
      const double t = static_cast<double>(phase_step - warmup) / std::max(1, schedule_steps - warmup);
      factor = o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * t));
    }
    factor *= schedule_scale;
    const double lr = o.lr * factor;
    // With image-only layers, the rest of the language model may learn
    // slower once images come, keeping what the text phase stored.
    // A rehearsing text phase is a text phase here: the seeing side is kept
    // and the rest learns at the text phase's rate.
    const bool text_phase = phases[phase].text_only || phases[phase].rehearsal;
    const bool image_phase = image_only > 0 && !text_phase;
    const double upper = image_phase ? o.upper_lr_scale : 1.0;
    const double lower = !image_phase ? 1.0 : phases[phase].seeing_frozen ? 0.0 : o.seeing_lr_scale;
    for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
      static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options())
          .lr(peak[g] * factor * (g == 0 ? upper : lower));

    std::vector<TrainExample> batch;
    for (int i = 0; i < o.batch_size; ++i)
      batch.push_back(draw_example(random, tokenizer, config, phases[phase].shares, o.scene));
    // Sorted by length and cut into micro-batches, each padded only to its own
    // longest sequence: padding would otherwise cost a third of the compute.
    // With image-only layers, the text-only examples come first, in
    // micro-batches of their own, and their gradients are taken off those
    // layers before the image examples' are added.
    const bool route = image_only > 0 && !phases[phase].text_only;
    std::sort(batch.begin(), batch.end(), [&](const TrainExample& a, const TrainExample& b) {
      if (route && a.has_image != b.has_image) return !a.has_image;
      return a.ids.size() < b.ids.size();
    });
    const size_t text_count = route
                                  ? static_cast<size_t>(std::count_if(
                                        batch.begin(), batch.end(), [](const TrainExample& e) { return !e.has_image; }))
                                  : 0;
    optimizer.zero_grad();
    double batch_loss = 0;
    const size_t micro = static_cast<size_t>(std::max(1, o.micro_batch));
    const double upper_grad = upper_image_grad(phases[phase]);
    bool upper_saved = false;
    for (size_t begin = 0; begin < batch.size();) {
      if (route && upper_grad < 1 && !damped_upper_mlps.empty() && begin == text_count && !upper_saved) {
        upper_text_grads.clear();
        for (auto& p : damped_upper_mlps)
          upper_text_grads.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
        upper_saved = true;
      }
      const size_t group_end = route && begin < text_count ? text_count : batch.size();
      const size_t end = std::min(group_end, begin + micro);
      const auto rows = static_cast<int64_t>(end - begin);
      std::vector<const std::vector<int64_t>*> row_ids, row_labels;
      std::vector<torch::Tensor> pixels;
      for (int64_t r = 0; r < rows; ++r) {
        const auto& e = batch[begin + static_cast<size_t>(r)];
        row_ids.push_back(&e.ids);
        row_labels.push_back(&e.labels);
        if (e.has_image) {
          auto values = preprocess_image(e.image, preprocessor);
          pixels.push_back(
              torch::from_blob(values.data(), {3, preprocessor.crop_height, preprocessor.crop_width}, torch::kFloat32)
                  .clone());
        }
      }
      const auto padded = pad_sequences(row_ids, row_labels);
      LlavaInputs inputs;
      inputs.input_ids = padded.ids.to(device);
      if (!pixels.empty()) inputs.image_features = model->encode_images(torch::stack(pixels).to(device));
      // lm_head only where there is a label: the answer tokens. Each example
      // weighs the same whatever its answer length (a caption would otherwise
      // count four times a yes/no answer), averaged over the whole batch.
      ForwardOptions forward;
      // A micro-batch is all text in a text-only phase, or when the image-only
      // layers route text-only examples to micro-batches of their own (then
      // its first row says which). The text dropouts apply to such batches,
      // kept to the phases with images by drop_with_images_only.
      const bool all_text = phases[phase].text_only || (image_only > 0 && !batch[begin].has_image);
      const bool text_only_batch = all_text && !(o.drop_with_images_only && text_phase);
      const bool may_drop = image_only > 0 && text_only_batch;
      if (may_drop && o.text_layer_drop > 0 && random.chance(o.text_layer_drop)) forward.skip_first_layers = image_only;
      if (may_drop && o.text_mlp_drop > 0)
        for (int64_t l = 0; l < std::min<int64_t>(image_only, 64); ++l)
          if (random.chance(o.text_mlp_drop)) forward.skip_mlp_mask |= uint64_t{1} << l;
      const bool upper_drop_batch = text_only_batch || (all_text && o.upper_drop_in_text_phase);
      if (upper_drop_batch && o.text_upper_mlp_drop > 0)
        for (size_t l = static_cast<size_t>(std::max<int64_t>(image_only, 0));
             l < std::min<size_t>(model->language_model->model->layers.size(), 64); ++l)
          if (random.chance(o.text_upper_mlp_drop)) forward.skip_mlp_mask |= uint64_t{1} << l;
      // The image dropouts train the seeing side to share its work; a
      // rehearsal leaves that side as it is.
      const bool image_drops = !all_text && image_only > 0 && !phases[phase].rehearsal;
      if (image_drops && o.image_mlp_drop > 0)
        for (int64_t l = 0; l < std::min<int64_t>(image_only, 64); ++l)
          if (random.chance(o.image_mlp_drop)) forward.skip_mlp_mask |= uint64_t{1} << l;
      if (image_drops && o.upper_image_mlp_drop > 0)
        for (size_t l = static_cast<size_t>(image_only);
             l < std::min<size_t>(model->language_model->model->layers.size(), 64); ++l)
          if (random.chance(o.upper_image_mlp_drop)) forward.skip_mlp_mask |= uint64_t{1} << l;
      if (o.mlp_drop > 0)
        for (size_t l = 0; l < std::min<size_t>(model->language_model->model->layers.size(), 64); ++l)
          if (random.chance(o.mlp_drop)) forward.skip_mlp_mask |= uint64_t{1} << l;
      const auto answer = answer_token_losses(model, inputs, padded.labels, o.tie_embeddings, forward);
      auto answer_counts = (padded.labels.slice(1, 1) != kIgnoreLabel).sum(1).clamp_min(1).to(torch::kFloat32);
      auto row_weights = (1.0 / (answer_counts * static_cast<double>(batch.size()))).to(device);
      auto weighted = answer.loss * row_weights.index_select(0, answer.row);
      auto loss = weighted.sum();
      loss.backward();
      batch_loss += loss.item<double>();
      // Per-example losses, for the per-task figures in the progress report.
      auto per_example = torch::zeros({rows}, weighted.options())
                             .index_add_(0, answer.row, weighted.detach())
                             .mul_(static_cast<double>(batch.size()))
                             .cpu();
      auto values = per_example.accessor<float, 1>();
      for (int64_t r = 0; r < rows; ++r) {
        const int task = batch[begin + static_cast<size_t>(r)].task;
        task_sum[static_cast<size_t>(task)] += values[r];
        task_count[static_cast<size_t>(task)] += 1;
      }
      begin = end;
      if (route && end == text_count) clear_image_only_grads();
    }
    if (upper_saved)
      for (size_t i = 0; i < damped_upper_mlps.size(); ++i) {
        auto& p = damped_upper_mlps[i];
        const auto& text = upper_text_grads[i];
        if (!p.grad().defined() || upper_grad <= 0) {
          p.mutable_grad() = text;
        } else {
          torch::NoGradGuard no_grad;
          // text + scale * (all - text)
          auto g = p.grad() * upper_grad;
          if (text.defined()) g.add_(text, 1 - upper_grad);
          p.mutable_grad() = g;
        }
      }
    torch::nn::utils::clip_grad_norm_(model->parameters(), o.grad_clip);
    optimizer.step();

    window_loss += batch_loss;
    ++window;
    if (step % o.log_every == 0 || step == o.steps) {
      last_loss = window_loss / window;
      if (o.progress) {
        TrainProgress p;
        p.step = step;
        p.steps = o.steps;
        p.loss = last_loss;
        p.lr = lr;
        p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        for (size_t t = 0; t < p.task_loss.size(); ++t)
          p.task_loss[t] = task_count[t] > 0 ? task_sum[t] / task_count[t] : -1;
        o.progress(p);
      }
      task_sum = {};
      task_count = {};
      window_loss = 0;
      window = 0;
    }
    if (o.phase_done && phase + 1 < phases.size() && step == phase_begin + phases[phase].steps) {
      if (o.tie_embeddings) {
        torch::NoGradGuard no_grad;
        model->language_model->lm_head->weight.copy_(model->language_model->model->embed_tokens->weight);
      }
      o.phase_done(phases[phase].name, phase);
    }
  }
  if (o.tie_embeddings) {
    torch::NoGradGuard no_grad;
    model->language_model->lm_head->weight.copy_(model->language_model->model->embed_tokens->weight);
  }
  set_image_only_learn(true);
  set_vision_learn(true);
  if (tower_frozen)
    for (auto& p : model->vision_tower->parameters()) p.requires_grad_(true);
  model->eval();
  return last_loss;
}

}  // namespace hipp
