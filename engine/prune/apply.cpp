#include "prune/apply.h"

#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "core/error.h"
#include "prune/cost.h"

namespace hipp {

Blueprint make_blueprint(const LlavaConfig& config, const std::string& model_fingerprint, const PlanRequest& r) {
  const auto layers = prunable_layers(config, r.structure);
  const auto allocation = r.allocation.empty() ? uniform_allocation(layers.size()) : r.allocation;
  const auto budget = map_budget(r.sparsity, allocation, layers, r.budget);
  Blueprint b;
  b.model_fingerprint = model_fingerprint;
  b.structure = r.structure;
  b.sparsity = r.sparsity;
  b.allocation = allocation;
  b.r_max = r.budget.r_max;
  b.align = r.budget.align;
  for (const auto& l : layers) b.units.push_back(l.units);
  b.kept = budget.kept;
  b.importance = r.importance;
  b.calibration_fingerprint = importance_needs_calibration(r.importance) ? r.calibration_fingerprint : "";
  b.achieved_sparsity = budget.achieved_sparsity();
  b.source = r.source;
  return b;
}

Importance compute_importance(LlavaModel& model, Structure structure, ImportanceMethod method,
                              const CalibrationStats* stats) {
  Importance out;
  out.method = method;
  out.stats = stats;
  if (importance_needs_calibration(method) && stats) out.calibration_fingerprint = stats->fingerprint;
  (structure == Structure::MlpChannels ? out.mlp : out.heads) = unit_importance(model, structure, method, stats);
  return out;
}

std::vector<std::vector<int64_t>> kept_units(const Blueprint& b, const std::vector<std::vector<double>>& scores) {
  if (scores.size() != b.layers())
    throw Error("importance scores cover " + std::to_string(scores.size()) + " layers, the blueprint " +
                std::to_string(b.layers()));
  std::vector<std::vector<int64_t>> kept;
  for (size_t l = 0; l < b.layers(); ++l) {
    const auto& s = scores[l];
    if (static_cast<int64_t>(s.size()) != b.units[l])
      throw Error("layer " + std::to_string(l) + " has " + std::to_string(s.size()) + " units, the blueprint says " +
                  std::to_string(b.units[l]));
    std::vector<int64_t> order(s.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t c) { return s[static_cast<size_t>(a)] > s[static_cast<size_t>(c)]; });
    order.resize(static_cast<size_t>(b.kept[l]));
    std::sort(order.begin(), order.end());
    kept.push_back(std::move(order));
  }
  return kept;
}

LlavaModel clone_model(LlavaModel& model) {
  LlavaModel copy(model->config(), model->options());
  torch::NoGradGuard no_grad;
  auto source = model->named_parameters();
  for (auto& p : copy->named_parameters()) p.value().copy_(source[p.key()]);
  return copy;
}

namespace {

const std::vector<std::vector<double>>& scores_for(const Blueprint& b, const Importance& importance) {
  if (importance.method != b.importance)
    throw Error("the blueprint asks for importance '" + importance_name(b.importance) + "' but '" +
                importance_name(importance.method) + "' scores were given");
  if (importance_needs_calibration(b.importance) && importance.calibration_fingerprint != b.calibration_fingerprint)
    throw Error("the blueprint was planned with calibration " + b.calibration_fingerprint +
                ", the scores come from calibration " + importance.calibration_fingerprint);
  const auto& scores = b.structure == Structure::MlpChannels ? importance.mlp : importance.heads;
  if (scores.empty()) throw Error("no " + structure_name(b.structure) + " importance scores were computed");
  return scores;
}

void check_units(LlavaModel& model, const Blueprint& b) {
  const auto layers = prunable_layers(model->config(), b.structure);
  if (layers.size() != b.layers())
    throw Error("the blueprint has " + std::to_string(b.layers()) + " layers, the model " +
                std::to_string(layers.size()));
  for (size_t l = 0; l < layers.size(); ++l)
    if (layers[l].units != b.units[l])
      throw Error("layer " + std::to_string(l) + " of the model has " + std::to_string(layers[l].units) + " " +
                  structure_name(b.structure) + " units, the blueprint expects " + std::to_string(b.units[l]));
}

torch::Tensor index_tensor(const std::vector<int64_t>& values, const torch::Device& device) {
  return torch::tensor(values, torch::kInt64).to(device);
}

// Query-head rows (or o_proj columns) of the kept KV groups.
std::vector<int64_t> head_channels(const std::vector<int64_t>& groups, int64_t heads_per_group, int64_t head_dim) {
  std::vector<int64_t> out;
  for (int64_t g : groups)
    for (int64_t c = g * heads_per_group * head_dim; c < (g + 1) * heads_per_group * head_dim; ++c) out.push_back(c);
  return out;
}

std::vector<int64_t> group_channels(const std::vector<int64_t>& groups, int64_t head_dim) {
  return head_channels(groups, 1, head_dim);
}

std::vector<int64_t> complement(const std::vector<int64_t>& kept, int64_t n) {
  std::vector<int64_t> out;
  size_t k = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (k < kept.size() && kept[k] == i) {
      ++k;
    } else {
      out.push_back(i);
    }
  }
  return out;
}

}  // namespace

namespace {

// The blueprint's widths in a copy of the model's config (flap adds a down_proj bias).
LlavaConfig pruned_config(const LlavaConfig& dense, const Blueprint& b, bool flap) {
  LlavaConfig config = dense;
  auto& widths = config.text.layers;
  for (size_t l = 0; l < widths.size(); ++l) {
    if (b.structure == Structure::MlpChannels) {
      widths[l].intermediate_size = b.kept[l];
    } else {
      const int64_t per_group = widths[l].num_attention_heads / widths[l].num_key_value_heads;
      widths[l].num_key_value_heads = b.kept[l];
      widths[l].num_attention_heads = b.kept[l] * per_group;
    }
  }
  if (flap) config.text.mlp_down_bias = true;
  return config;
}

// Layer l's down_proj bias of the pruned model: the dense one (or zeros),
// plus with flap the removed channels' mean contribution.
torch::Tensor pruned_down_bias(LlamaDecoderLayer& src, const LlavaModel& model, const LlavaConfig& config,
                               const std::vector<int64_t>& kept, const Blueprint& b, size_t l, bool flap,
                               const Importance& importance) {
  const auto device = model->options().device();
  auto bias = src->mlp->down_proj->bias.defined()
                  ? src->mlp->down_proj->bias.clone()
                  : torch::zeros({config.text.hidden_size}, model->options().requires_grad(false));
  if (flap) {
    const auto removed = complement(kept, b.units[l]);
    if (!removed.empty()) {
      std::vector<double> means;
      for (int64_t j : removed) means.push_back(importance.stats->mlp_mean(l, static_cast<size_t>(j)));
      auto w = src->mlp->down_proj->weight.index_select(1, index_tensor(removed, device)).to(torch::kFloat64);
      auto m = torch::tensor(means, torch::kFloat64).to(device);
      bias += torch::matmul(w, m).to(bias.scalar_type());
    }
  }
  return bias;
}

// Hands every parameter of `out` that `given` does not hold the dense
// model's tensor of that name, shared or copied.
void give_unchanged(LlavaModel& model, LlavaModel& out, const std::unordered_set<const void*>& given, bool share) {
  auto source = model->named_parameters();
  for (auto& p : out->named_parameters()) {
    if (given.count(p.value().unsafeGetTensorImpl())) continue;  // sliced
    const auto* from = source.find(p.key());
    if (!from || from->sizes() != p.value().sizes())
      throw Error("pruning: no dense tensor of the right shape for " + p.key());
    p.value().set_data(share ? *from : from->clone());
  }
  out->eval();
}

// Moves rows (dim 0) or columns (dim 1) of `t` in place: position i gets
// what was at order[i].
void reorder_(torch::Tensor& t, int64_t dim, const torch::Tensor& order) { t.copy_(t.index_select(dim, order)); }

torch::Tensor inverse_of(const torch::Tensor& order) {
  auto inverse = torch::empty_like(order);
  inverse.index_put_({order}, torch::arange(order.size(0), order.options()));
  return inverse;
}

// kept (ascending) then the rest (ascending).
std::vector<int64_t> kept_first(const std::vector<int64_t>& kept, int64_t units) {
  auto order = kept;
  const auto rest = complement(kept, units);
  order.insert(order.end(), rest.begin(), rest.end());
  return order;
}

// What every way of applying a blueprint starts with: the checks, the kept
// units, and the pruned model built without weights (each parameter gets
// its tensor through give(), sliced, viewed, shared or copied, so nothing is
// allocated twice).
struct PrunedShell {
  PrunedShell(LlavaModel& model, const std::string& model_fingerprint, const Blueprint& b,
              const Importance& importance) {
    check_blueprint_model(b, model_fingerprint);
    check_units(model, b);
    kept = kept_units(b, scores_for(b, importance));
    flap = b.importance == ImportanceMethod::Flap && b.structure == Structure::MlpChannels;
    if (flap && !importance.stats) throw Error("flap needs calibration statistics for its bias compensation");
    config = pruned_config(model->config(), b, flap);
    out = LlavaModel(config, model->options(), /*allocate=*/false);
  }
  void give(torch::Tensor& parameter, const torch::Tensor& data) {
    parameter.set_data(data);
    given.insert(parameter.unsafeGetTensorImpl());
  }
  std::vector<std::vector<int64_t>> kept;
  bool flap = false;
  LlavaConfig config;
  LlavaModel out{nullptr};
  std::unordered_set<const void*> given;  // parameters that have their tensor
};

}  // namespace

LlavaModel apply_blueprint(LlavaModel& model, const std::string& model_fingerprint, const Blueprint& b,
                           const Importance& importance, WeightSharing sharing) {
  PrunedShell shell(model, model_fingerprint, b, importance);
  torch::NoGradGuard no_grad;

  const auto device = model->options().device();
  auto& src_layers = model->language_model->model->layers;
  auto& dst_layers = shell.out->language_model->model->layers;
  for (size_t l = 0; l < src_layers.size(); ++l) {
    auto& src = src_layers[l];
    auto& dst = dst_layers[l];
    if (b.structure == Structure::MlpChannels) {
      auto idx = index_tensor(shell.kept[l], device);
      shell.give(dst->mlp->gate_proj->weight, src->mlp->gate_proj->weight.index_select(0, idx));
      shell.give(dst->mlp->up_proj->weight, src->mlp->up_proj->weight.index_select(0, idx));
      shell.give(dst->mlp->down_proj->weight, src->mlp->down_proj->weight.index_select(1, idx));
      if (shell.config.text.mlp_down_bias)
        shell.give(dst->mlp->down_proj->bias,
                   pruned_down_bias(src, model, shell.config, shell.kept[l], b, l, shell.flap, importance));
    } else {
      auto& sa = src->self_attn;
      const int64_t per_group = sa->heads / sa->kv_heads;
      auto q_idx = index_tensor(head_channels(shell.kept[l], per_group, sa->head_dim), device);
      auto kv_idx = index_tensor(group_channels(shell.kept[l], sa->head_dim), device);
      shell.give(dst->self_attn->q_proj->weight, sa->q_proj->weight.index_select(0, q_idx));
      shell.give(dst->self_attn->k_proj->weight, sa->k_proj->weight.index_select(0, kv_idx));
      shell.give(dst->self_attn->v_proj->weight, sa->v_proj->weight.index_select(0, kv_idx));
      shell.give(dst->self_attn->o_proj->weight, sa->o_proj->weight.index_select(1, q_idx));
      // Biased q/k/v (Qwen2, LLaMA's attention_bias) lose the same channels.
      if (sa->q_proj->bias.defined()) {
        shell.give(dst->self_attn->q_proj->bias, sa->q_proj->bias.index_select(0, q_idx));
        shell.give(dst->self_attn->k_proj->bias, sa->k_proj->bias.index_select(0, kv_idx));
        shell.give(dst->self_attn->v_proj->bias, sa->v_proj->bias.index_select(0, kv_idx));
      }
    }
  }
  // Everything pruning left unchanged: the dense model's tensors, shared or copied.
  give_unchanged(model, shell.out, shell.given, sharing == WeightSharing::ShareUnchanged);
  return shell.out;
}

InPlacePruned prune_in_place(LlavaModel& model, const std::string& model_fingerprint, const Blueprint& b,
                             const Importance& importance) {
  PrunedShell shell(model, model_fingerprint, b, importance);
  torch::NoGradGuard no_grad;
  // Every reordered tensor with its dimension and order, to undo.
  struct Move {
    torch::Tensor tensor;
    int64_t dim;
    torch::Tensor order;
  };
  auto moves = std::make_shared<std::vector<Move>>();
  auto reorder = [&](torch::Tensor& t, int64_t dim, const torch::Tensor& order) {
    reorder_(t, dim, order);
    moves->push_back({t, dim, order});
  };

  const auto device = model->options().device();
  auto& src_layers = model->language_model->model->layers;
  auto& dst_layers = shell.out->language_model->model->layers;
  for (size_t l = 0; l < src_layers.size(); ++l) {
    auto& src = src_layers[l];
    auto& dst = dst_layers[l];
    const auto k = static_cast<int64_t>(shell.kept[l].size());
    if (b.structure == Structure::MlpChannels) {
      // flap's bias reads the removed channels where they are now.
      torch::Tensor bias;
      if (shell.config.text.mlp_down_bias)
        bias = pruned_down_bias(src, model, shell.config, shell.kept[l], b, l, shell.flap, importance);
      const auto order = index_tensor(kept_first(shell.kept[l], b.units[l]), device);
      reorder(src->mlp->gate_proj->weight, 0, order);
      reorder(src->mlp->up_proj->weight, 0, order);
      reorder(src->mlp->down_proj->weight, 1, order);
      shell.give(dst->mlp->gate_proj->weight, src->mlp->gate_proj->weight.narrow(0, 0, k));
      shell.give(dst->mlp->up_proj->weight, src->mlp->up_proj->weight.narrow(0, 0, k));
      shell.give(dst->mlp->down_proj->weight, src->mlp->down_proj->weight.narrow(1, 0, k));
      if (bias.defined()) shell.give(dst->mlp->down_proj->bias, bias);
    } else {
      auto& sa = src->self_attn;
      const int64_t per_group = sa->heads / sa->kv_heads;
      const auto groups = kept_first(shell.kept[l], b.units[l]);
      const auto q_order = index_tensor(head_channels(groups, per_group, sa->head_dim), device);
      const auto kv_order = index_tensor(group_channels(groups, sa->head_dim), device);
      const int64_t q_rows = k * per_group * sa->head_dim, kv_rows = k * sa->head_dim;
      reorder(sa->q_proj->weight, 0, q_order);
      reorder(sa->k_proj->weight, 0, kv_order);
      reorder(sa->v_proj->weight, 0, kv_order);
      reorder(sa->o_proj->weight, 1, q_order);
      shell.give(dst->self_attn->q_proj->weight, sa->q_proj->weight.narrow(0, 0, q_rows));
      shell.give(dst->self_attn->k_proj->weight, sa->k_proj->weight.narrow(0, 0, kv_rows));
      shell.give(dst->self_attn->v_proj->weight, sa->v_proj->weight.narrow(0, 0, kv_rows));
      shell.give(dst->self_attn->o_proj->weight, sa->o_proj->weight.narrow(1, 0, q_rows));
      if (sa->q_proj->bias.defined()) {
        reorder(sa->q_proj->bias, 0, q_order);
        reorder(sa->k_proj->bias, 0, kv_order);
        reorder(sa->v_proj->bias, 0, kv_order);
        shell.give(dst->self_attn->q_proj->bias, sa->q_proj->bias.narrow(0, 0, q_rows));
        shell.give(dst->self_attn->k_proj->bias, sa->k_proj->bias.narrow(0, 0, kv_rows));
        shell.give(dst->self_attn->v_proj->bias, sa->v_proj->bias.narrow(0, 0, kv_rows));
      }
    }
  }
  give_unchanged(model, shell.out, shell.given, /*share=*/true);
  InPlacePruned result;
  result.model = shell.out;
  result.restore = std::shared_ptr<void>(moves.get(), [moves](void*) {
    torch::NoGradGuard restoring;
    for (auto it = moves->rbegin(); it != moves->rend(); ++it) reorder_(it->tensor, it->dim, inverse_of(it->order));
  });
  return result;
}

LlavaModel mask_blueprint(LlavaModel& model, const Blueprint& b, const Importance& importance) {
  check_units(model, b);
  const auto kept = kept_units(b, scores_for(b, importance));
  auto out = clone_model(model);
  torch::NoGradGuard no_grad;
  const auto device = model->options().device();
  auto& layers = out->language_model->model->layers;
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto removed = complement(kept[l], b.units[l]);
    if (removed.empty()) continue;
    if (b.structure == Structure::MlpChannels) {
      auto idx = index_tensor(removed, device);
      layers[l]->mlp->gate_proj->weight.index_fill_(0, idx, 0);
      layers[l]->mlp->up_proj->weight.index_fill_(0, idx, 0);
      layers[l]->mlp->down_proj->weight.index_fill_(1, idx, 0);
    } else {
      auto& sa = layers[l]->self_attn;
      const int64_t per_group = sa->heads / sa->kv_heads;
      auto q_idx = index_tensor(head_channels(removed, per_group, sa->head_dim), device);
      auto kv_idx = index_tensor(group_channels(removed, sa->head_dim), device);
      sa->q_proj->weight.index_fill_(0, q_idx, 0);
      sa->k_proj->weight.index_fill_(0, kv_idx, 0);
      sa->v_proj->weight.index_fill_(0, kv_idx, 0);
      sa->o_proj->weight.index_fill_(1, q_idx, 0);
    }
  }
  out->eval();
  return out;
}

}  // namespace hipp
