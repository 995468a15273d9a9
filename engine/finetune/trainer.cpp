#include "finetune/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/answer_loss.h"
#include "model/safetensors.h"

namespace hipp {
namespace fs = std::filesystem;

nlohmann::json finetune_settings_to_json(const FinetuneSettings& s) {
  return {{"steps", s.steps},
          {"batch_size", s.batch_size},
          {"lr", s.lr},
          {"warmup_steps", s.warmup_steps},
          {"min_lr_ratio", s.min_lr_ratio},
          {"weight_decay", s.weight_decay},
          {"grad_clip", s.grad_clip},
          {"rank", s.lora.rank},
          {"alpha", s.lora.alpha},
          {"dropout", s.lora.dropout},
          {"targets", s.lora.targets},
          {"seed", s.lora.seed},
          {"max_length", s.max_length},
          {"checkpoint_every", s.checkpoint_every}};
}

FinetuneSettings finetune_settings_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": fine-tuning settings must be an object");
  const auto known = finetune_settings_to_json(FinetuneSettings{});
  for (const auto& [key, value] : j.items())
    if (!known.contains(key)) throw Error(where + ": unknown fine-tuning setting '" + key + "'");
  FinetuneSettings s;
  auto whole = [&](const char* key, int64_t fallback, int64_t lo, int64_t hi) {
    const auto v = optional_field<int64_t>(j, key, fallback, where);
    if (v < lo || v > hi) throw Error(where + ": field '" + key + "' is out of range");
    return v;
  };
  constexpr int64_t kIntMax = 1 << 30;
  s.steps = static_cast<int>(whole("steps", s.steps, 1, kIntMax));
  s.batch_size = static_cast<int>(whole("batch_size", s.batch_size, 1, kIntMax));
  s.lr = optional_field<double>(j, "lr", s.lr, where);
  s.warmup_steps = static_cast<int>(whole("warmup_steps", s.warmup_steps, 0, kIntMax));
  s.min_lr_ratio = optional_field<double>(j, "min_lr_ratio", s.min_lr_ratio, where);
  s.weight_decay = optional_field<double>(j, "weight_decay", s.weight_decay, where);
  s.grad_clip = optional_field<double>(j, "grad_clip", s.grad_clip, where);
  s.lora.rank = whole("rank", s.lora.rank, 1, kIntMax);
  s.lora.alpha = optional_field<double>(j, "alpha", s.lora.alpha, where);
  s.lora.dropout = optional_field<double>(j, "dropout", s.lora.dropout, where);
  s.lora.targets = optional_field<std::vector<std::string>>(j, "targets", s.lora.targets, where);
  s.lora.seed = static_cast<uint64_t>(whole("seed", static_cast<int64_t>(s.lora.seed), 0, INT64_MAX));
  s.max_length = whole("max_length", s.max_length, 8, kIntMax);
  s.checkpoint_every = static_cast<int>(whole("checkpoint_every", s.checkpoint_every, 0, kIntMax));
  return s;
}

namespace {

void check_settings(const FinetuneSettings& s) {
  if (s.steps <= 0) throw Error("fine-tuning needs a positive number of steps");
  if (s.batch_size <= 0) throw Error("fine-tuning needs a positive batch size");
  if (!(s.lr > 0)) throw Error("fine-tuning needs a positive learning rate");
  if (s.max_length < 8) throw Error("fine-tuning max_length must be at least 8 tokens");
  if (s.warmup_steps < 0 || s.checkpoint_every < 0) throw Error("warm-up steps and checkpoint interval must be >= 0");
}

struct Sequence {
  std::vector<int64_t> ids, labels;
  std::string image;
};

// Vision features per image, computed once: the vision side is frozen.
class FeatureCache {
 public:
  struct Entry {
    torch::Tensor features;  // [tokens, D]
    PatchGrid grid;
  };
  FeatureCache(LlavaModel& model, const PreprocessorConfig& preprocessor) : model_(model), pre_(preprocessor) {}
  const Entry& get(const std::string& path) {
    auto it = cache_.find(path);
    if (it != cache_.end()) return it->second;
    torch::NoGradGuard no_grad;
    const PreparedImage prepared = prepare_image(load_image(path), pre_);
    Entry entry{model_->encode_prepared({&prepared}).detach(), grid_of(prepared)};
    return cache_.emplace(path, std::move(entry)).first->second;
  }

 private:
  LlavaModel& model_;
  const PreprocessorConfig& pre_;
  std::map<std::string, Entry> cache_;
};

std::vector<Sequence> tokenize_all(const std::vector<InstructExample>& data, const Tokenizer& tokenizer,
                                   const LlavaConfig& config, FeatureCache& features, int64_t max_length) {
  std::vector<Sequence> out;
  const auto format = prompt_format(config);
  for (const auto& e : data) {
    const int64_t image_tokens = e.image.empty() ? 0 : features.get(e.image).features.size(0);
    auto t = tokenize_conversation(e, tokenizer, format, image_tokens, max_length);
    if (t.ids.empty()) continue;
    out.push_back({std::move(t.ids), std::move(t.labels), std::move(t.image)});
  }
  return out;
}

// Summed token loss and token count of one micro-batch (right-padded; the
// causal mask keeps padding from reaching earlier positions).
std::pair<torch::Tensor, int64_t> batch_loss(LlavaModel& model, FeatureCache& features,
                                             const std::vector<const Sequence*>& rows) {
  const auto device = model->options().device();
  std::vector<const std::vector<int64_t>*> ids, labels;
  std::vector<torch::Tensor> images;
  std::vector<PatchGrid> grids;
  for (const auto* s : rows) {
    ids.push_back(&s->ids);
    labels.push_back(&s->labels);
    if (!s->image.empty()) {
      const auto& entry = features.get(s->image);
      images.push_back(entry.features);
      grids.push_back(entry.grid);
    }
  }
  const auto padded = pad_sequences(ids, labels);
  LlavaInputs inputs;
  inputs.input_ids = padded.ids.to(device);
  if (!images.empty()) inputs.image_features = torch::cat(images);
  inputs.image_grids = std::move(grids);
  const auto answer = answer_token_losses(model, inputs, padded.labels);
  return {answer.loss.sum(), answer.loss.size(0)};
}

struct AdamState {
  std::vector<torch::Tensor> m, v;
};

void write_checkpoint(const std::string& path, LlavaModel& model, const AdamState& adam, int step,
                      const FinetuneSettings& settings, const nlohmann::json& identity) {
  NamedTensors tensors = lora_tensors(model);
  const size_t n = tensors.size();
  for (size_t i = 0; i < n; ++i) {
    tensors.emplace_back("adam.m." + tensors[i].first, adam.m[i]);
    tensors.emplace_back("adam.v." + tensors[i].first, adam.v[i]);
  }
  for (auto& t : tensors) t.second = t.second.detach();
  write_safetensors(path, tensors,
                    {{"format", "hipp-lora-checkpoint"},
                     {"step", std::to_string(step)},
                     {"settings", finetune_settings_to_json(settings).dump()},
                     {"identity", identity.dump()}});
}

// Loads a checkpoint into the attached adapters and `adam`; returns its step.
int read_checkpoint(const std::string& path, LlavaModel& model, AdamState& adam, const FinetuneSettings& settings,
                    const nlohmann::json& identity) {
  if (!fs::is_regular_file(path)) throw Error(path + ": no adapter checkpoint to resume from");
  const auto header = read_safetensors_header(path);
  auto meta = [&](const std::string& key) {
    auto it = header.metadata.find(key);
    if (it == header.metadata.end()) throw Error(path + ": not a LoRA checkpoint (no '" + key + "' metadata)");
    return it->second;
  };
  if (meta("format") != "hipp-lora-checkpoint") throw Error(path + ": not a LoRA checkpoint");
  nlohmann::json saved_settings, saved_identity;
  try {
    saved_settings = nlohmann::json::parse(meta("settings"));
    saved_identity = nlohmann::json::parse(meta("identity"));
  } catch (const nlohmann::json::exception&) {
    throw Error(path + ": damaged checkpoint metadata");
  }
  const auto wanted = finetune_settings_to_json(settings);
  for (const auto& [key, value] : wanted.items())
    if (saved_settings.value(key, nlohmann::json()) != value)
      throw Error(path + ": the checkpoint was trained with " + key + " = " +
                  saved_settings.value(key, nlohmann::json()).dump() + ", this run asks for " + value.dump() +
                  " (resume with the same settings)");
  if (saved_identity != identity)
    throw Error(path + ": the checkpoint belongs to another run (" + saved_identity.dump() + ")");
  int step = 0;
  try {
    step = std::stoi(meta("step"));
  } catch (const std::exception&) {
    throw Error(path + ": damaged checkpoint step");
  }
  auto live = lora_tensors(model);
  NamedTensors adapters;
  for (const auto& [name, tensor] : live) {
    const auto* entry = header.find(name);
    if (!entry) throw Error(path + ": missing adapter " + name);
    adapters.emplace_back(name, read_tensor(header, *entry));
  }
  load_lora_tensors(model, adapters, path);
  const auto device = live.front().second.device();
  for (size_t i = 0; i < live.size(); ++i) {
    for (auto [prefix, target] :
         {std::pair<const char*, torch::Tensor*>{"adam.m.", &adam.m[i]}, {"adam.v.", &adam.v[i]}}) {
      const auto* entry = header.find(prefix + live[i].first);
      if (!entry) throw Error(path + ": missing optimizer state of " + live[i].first);
      auto value = read_tensor(header, *entry);
      if (value.sizes() != target->sizes())
        throw Error(path + ": optimizer state of " + live[i].first + " has another shape");
      target->copy_(value.to(device));
    }
  }
  return step;
}

double lr_at(const FinetuneSettings& s, int step) {
  if (step <= s.warmup_steps) return s.lr * step / std::max(1, s.warmup_steps);
  const double t = static_cast<double>(step - s.warmup_steps) / std::max(1, s.steps - s.warmup_steps);
  return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + std::cos(M_PI * t)));
}

// Batch of step `step`: consecutive slices of a per-epoch permutation seeded
// by (seed, epoch), so any step's batch is known without replaying the run.
std::vector<size_t> batch_indices(size_t count, int batch, uint64_t seed, int step) {
  std::vector<size_t> out;
  const uint64_t first = static_cast<uint64_t>(step - 1) * static_cast<uint64_t>(batch);
  uint64_t epoch = UINT64_MAX;
  std::vector<size_t> order(count);
  for (uint64_t k = first; k < first + static_cast<uint64_t>(batch); ++k) {
    if (k / count != epoch) {
      epoch = k / count;
      std::iota(order.begin(), order.end(), size_t{0});
      std::mt19937_64 random(seed * 1000003ULL + epoch * 7919ULL + 11);
      std::shuffle(order.begin(), order.end(), random);
    }
    out.push_back(order[k % count]);
  }
  return out;
}

}  // namespace

FinetuneOutcome finetune_lora(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                              const std::vector<InstructExample>& data, const FinetuneSettings& s,
                              const FinetuneRun& run) {
  check_settings(s);
  FeatureCache features(model, preprocessor);
  const auto sequences = tokenize_all(data, tokenizer, model->config(), features, s.max_length);
  if (sequences.empty())
    throw Error("no conversation fits in " + std::to_string(s.max_length) + " tokens; raise max_length");
  attach_lora(model, s.lora);
  auto adapters = lora_tensors(model);
  if (adapters.empty()) throw Error("the model has no projection to attach LoRA adapters to");
  AdamState adam;
  for (auto& [name, t] : adapters) {
    adam.m.push_back(torch::zeros_like(t).detach());
    adam.v.push_back(torch::zeros_like(t).detach());
  }
  FinetuneOutcome outcome;
  outcome.examples = static_cast<int64_t>(sequences.size());
  if (run.resume) {
    if (run.checkpoint_path.empty()) throw Error("resume needs a checkpoint path");
    const int done = read_checkpoint(run.checkpoint_path, model, adam, s, run.identity);
    if (done > s.steps) throw Error(run.checkpoint_path + ": the checkpoint is past the last step");
    outcome.first_step = done + 1;
  }
  model->train();
  const auto start = std::chrono::steady_clock::now();
  double window_loss = 0, window_tokens = 0, sequence_tokens = 0;
  int window = 0, last_saved = outcome.first_step - 1;
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  const size_t micro = 8;
  auto save = [&](int step) {
    if (run.checkpoint_path.empty() || step == last_saved) return;
    write_checkpoint(run.checkpoint_path, model, adam, step, s, run.identity);
    last_saved = step;
  };
  for (int step = outcome.first_step; step <= s.steps; ++step) {
    if (run.cancel && run.cancel->load()) {
      model->eval();
      save(step - 1);
      throw Cancelled();
    }
    torch::manual_seed(s.lora.seed * 1000003ULL + static_cast<uint64_t>(step));  // the step's dropout
    const auto picked = batch_indices(sequences.size(), s.batch_size, s.lora.seed, step);
    std::vector<const Sequence*> rows;
    int64_t answer_tokens = 0;
    for (size_t i : picked) {
      rows.push_back(&sequences[i]);
      for (int64_t l : sequences[i].labels) answer_tokens += l != kIgnoreLabel ? 1 : 0;
      sequence_tokens += static_cast<double>(sequences[i].ids.size());
    }
    // Sorted by length, cut into micro-batches; the loss is the mean over the
    // whole batch's answer tokens.
    std::sort(rows.begin(), rows.end(),
              [](const Sequence* a, const Sequence* b) { return a->ids.size() < b->ids.size(); });
    for (auto& [name, t] : adapters) t.mutable_grad() = torch::Tensor();
    double step_loss = 0;
    for (size_t begin = 0; begin < rows.size(); begin += micro) {
      std::vector<const Sequence*> part(rows.begin() + static_cast<long>(begin),
                                        rows.begin() + static_cast<long>(std::min(rows.size(), begin + micro)));
      auto [sum, count] = batch_loss(model, features, part);
      (void)count;
      auto loss = sum / static_cast<double>(std::max<int64_t>(1, answer_tokens));
      loss.backward();
      step_loss += loss.item<double>();
    }
    std::vector<torch::Tensor> params;
    for (auto& [name, t] : adapters) params.push_back(t);
    if (s.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, s.grad_clip);
    const double lr = lr_at(s, step);
    {
      torch::NoGradGuard no_grad;
      const double c1 = 1 - std::pow(beta1, step), c2 = 1 - std::pow(beta2, step);
      for (size_t i = 0; i < params.size(); ++i) {
        auto& p = params[i];
        if (!p.grad().defined()) continue;
        const auto& g = p.grad();
        adam.m[i].mul_(beta1).add_(g, 1 - beta1);
        adam.v[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
        if (s.weight_decay > 0) p.mul_(1 - lr * s.weight_decay);
        auto denom = (adam.v[i] / c2).sqrt_().add_(eps);
        p.addcdiv_(adam.m[i], denom, -lr / c1);
      }
    }
    window_loss += step_loss;
    window_tokens += static_cast<double>(answer_tokens);
    ++window;
    outcome.steps = step;
    if (step % std::max(1, run.log_every) == 0 || step == s.steps) {
      outcome.final_loss = window_loss / window;
      if (run.progress) {
        FinetuneProgress p;
        p.step = step;
        p.steps = s.steps;
        p.loss = outcome.final_loss;
        p.lr = lr;
        p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        p.tokens_per_second = p.seconds > 0 ? sequence_tokens / p.seconds : 0;
        const int done = step - outcome.first_step + 1;
        p.eta_seconds = p.seconds / done * (s.steps - step);
        run.progress(p);
      }
      window_loss = 0;
      window_tokens = 0;
      window = 0;
    }
    if (s.checkpoint_every > 0 && step % s.checkpoint_every == 0) save(step);
  }
  save(s.steps);
  model->eval();
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

double instruct_loss(LlavaModel& model, const Tokenizer& tokenizer, const PreprocessorConfig& preprocessor,
                     const std::vector<InstructExample>& data, int64_t max_length) {
  FeatureCache features(model, preprocessor);
  const auto sequences = tokenize_all(data, tokenizer, model->config(), features, max_length);
  if (sequences.empty()) throw Error("no conversation fits in " + std::to_string(max_length) + " tokens");
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  double total = 0;
  int64_t tokens = 0;
  for (size_t begin = 0; begin < sequences.size(); begin += 8) {
    std::vector<const Sequence*> part;
    for (size_t i = begin; i < std::min(sequences.size(), begin + 8); ++i) part.push_back(&sequences[i]);
    auto [sum, count] = batch_loss(model, features, part);
    total += sum.item<double>();
    tokens += count;
  }
  model->train(was_training);
  return total / static_cast<double>(std::max<int64_t>(1, tokens));
}

}  // namespace hipp
