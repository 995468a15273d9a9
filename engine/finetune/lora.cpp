#include "finetune/lora.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hipp {
namespace {

struct Projection {
  std::string name;  // parameter prefix
  LinearImpl* linear;
};

std::vector<Projection> projections(LlavaModel& model, const std::vector<std::string>& targets) {
  std::vector<Projection> out;
  auto& layers = model->language_model->model->layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string prefix = "language_model.model.layers." + std::to_string(l) + ".";
    auto& attn = *layers[l]->self_attn;
    auto& mlp = *layers[l]->mlp;
    const std::vector<std::pair<std::string, LinearImpl*>> all = {
        {"self_attn.q_proj", attn.q_proj.get()}, {"self_attn.k_proj", attn.k_proj.get()},
        {"self_attn.v_proj", attn.v_proj.get()}, {"self_attn.o_proj", attn.o_proj.get()},
        {"mlp.gate_proj", mlp.gate_proj.get()},  {"mlp.up_proj", mlp.up_proj.get()},
        {"mlp.down_proj", mlp.down_proj.get()}};
    for (const auto& [name, linear] : all) {
      const auto leaf = name.substr(name.find('.') + 1);
      if (std::find(targets.begin(), targets.end(), leaf) == targets.end()) continue;
      out.push_back({prefix + name, linear});
    }
  }
  return out;
}

std::vector<Projection> attached(LlavaModel& model) {
  auto all = projections(model, lora_target_names());
  all.erase(std::remove_if(all.begin(), all.end(), [](const Projection& p) { return !p.linear->lora_a.defined(); }),
            all.end());
  return all;
}

void clear(LinearImpl& linear) {
  linear.lora_a = torch::Tensor();
  linear.lora_b = torch::Tensor();
  linear.lora_scale = 0;
  linear.lora_dropout = 0;
}

}  // namespace

const std::vector<std::string>& lora_target_names() {
  static const std::vector<std::string> names = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return names;
}

void attach_lora(LlavaModel& model, const LoraOptions& o) {
  if (o.rank <= 0) throw Error("LoRA rank must be positive");
  if (o.dropout < 0 || o.dropout >= 1) throw Error("LoRA dropout must be in [0, 1)");
  if (o.targets.empty()) throw Error("LoRA needs at least one target projection");
  for (const auto& t : o.targets)
    if (std::find(lora_target_names().begin(), lora_target_names().end(), t) == lora_target_names().end())
      throw Error("unknown LoRA target '" + t +
                  "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)");
  // A LoRA update has rank at most min(in, out) of its matrix: a larger rank
  // only adds memory. Checked before anything is allocated.
  int64_t widest = 0;
  for (auto& p : projections(model, o.targets))
    widest = std::max(widest, std::min(p.linear->weight.size(0), p.linear->weight.size(1)));
  if (o.rank > widest)
    throw Error("LoRA rank " + std::to_string(o.rank) + " is larger than any adapted projection allows (at most " +
                std::to_string(widest) + ", the smaller side of the largest matrix)");
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  remove_lora(model);
  // A from a seeded generator of its own, so attaching never disturbs (or
  // depends on) the global random state.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  for (auto& p : projections(model, o.targets)) {
    auto& w = p.linear->weight;
    const int64_t out = w.size(0), in = w.size(1);
    if (out == 0 || in == 0) continue;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    auto a = torch::empty({o.rank, in}, torch::kFloat32).uniform_(-bound, bound, generator);
    const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(w.device());
    p.linear->lora_a = a.to(options.device()).set_requires_grad(true);
    p.linear->lora_b = torch::zeros({out, o.rank}, options).set_requires_grad(true);
    p.linear->lora_scale = o.alpha / static_cast<double>(o.rank);
    p.linear->lora_dropout = o.dropout;
  }
}

NamedTensors lora_tensors(LlavaModel& model) {
  NamedTensors out;
  for (auto& p : attached(model)) {
    out.emplace_back(p.name + ".lora_A", p.linear->lora_a);
    out.emplace_back(p.name + ".lora_B", p.linear->lora_b);
  }
  return out;
}

void load_lora_tensors(LlavaModel& model, const NamedTensors& saved, const std::string& where) {
  auto live = lora_tensors(model);
  if (live.size() != saved.size())
    throw Error(where + ": holds " + std::to_string(saved.size()) + " adapter tensors, the model has " +
                std::to_string(live.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i].first != saved[i].first)
      throw Error(where + ": expected adapter " + live[i].first + ", found " + saved[i].first);
    if (live[i].second.sizes() != saved[i].second.sizes())
      throw Error(where + ": adapter " + live[i].first + " has another shape than the model's");
    live[i].second.copy_(saved[i].second);
  }
}

void merge_lora(LlavaModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : attached(model)) {
    auto& l = *p.linear;
    auto delta = torch::matmul(l.lora_b.to(torch::kFloat32), l.lora_a.to(torch::kFloat32)) * l.lora_scale;
    l.weight.add_(delta.to(l.weight.scalar_type()));
    clear(l);
  }
}

void remove_lora(LlavaModel& model) {
  for (auto& p : attached(model)) clear(*p.linear);
}

}  // namespace hipp
