#include "prune/importance.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/hash.h"
#include "model/prompt.h"
#include "prune/budget.h"

namespace hipp {
namespace fs = std::filesystem;

double CalibrationStats::mlp_mean(size_t layer, size_t channel) const {
  return tokens > 0 ? layers[layer].mlp_sum[channel] / static_cast<double>(tokens) : 0.0;
}

double CalibrationStats::mlp_variance(size_t layer, size_t channel) const {
  if (tokens < 2) return 0.0;
  const double n = static_cast<double>(tokens);
  const double mean = layers[layer].mlp_sum[channel] / n;
  return std::max(0.0, (layers[layer].mlp_sum_sq[channel] - n * mean * mean) / (n - 1));
}

namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void add_into(std::vector<double>& into, const torch::Tensor& values) {
  const auto v = to_vector(values);
  if (into.empty()) into.assign(v.size(), 0.0);
  for (size_t i = 0; i < v.size(); ++i) into[i] += v[i];
}

}  // namespace

CalibrationStats collect_calibration(Evaluator& evaluator, LlavaModel& model, const Tokenizer& tokenizer,
                                     const SqaDataset& sqa, const CalibrationOptions& options) {
  if (options.samples < 1) throw Error("calibration needs at least one sample");
  auto it = sqa.splits.find(options.split);
  if (it == sqa.splits.end() || it->second.empty())
    throw Error(sqa.dir + ": no ScienceQA '" + options.split + "' problems to calibrate on");
  std::vector<std::string> pids = it->second;
  std::mt19937_64 random(options.seed);
  std::shuffle(pids.begin(), pids.end(), random);
  if (pids.size() > static_cast<size_t>(options.samples)) pids.resize(static_cast<size_t>(options.samples));

  ContentHash fingerprint;
  fingerprint.add("calibration v1 sqa " + options.split + " seed " + std::to_string(options.seed));
  const auto& config = model->config();
  struct Sample {
    std::vector<int64_t> ids;
    std::string image;
  };
  std::vector<Sample> samples;
  const auto format = prompt_format(config);
  for (const auto& pid : pids) {
    const auto& p = sqa.problems.at(pid);
    Sample s;
    const std::string prompt = chat_prompt(format, sqa_prompt_text(p), p.has_image());
    int64_t image_tokens = 0;
    if (p.has_image()) {
      s.image = sqa.image_path(p);
      if (!fs::exists(s.image)) throw Error(s.image + ": ScienceQA image not found (needed for calibration)");
      image_tokens = evaluator.image_entry(s.image).features.size(0);
    }
    s.ids = tokenize_prompt(tokenizer, prompt, format, image_tokens);
    fingerprint.add(pid + "\n" + prompt + "\n");
    samples.push_back(std::move(s));
  }

  CalibrationStats stats;
  const size_t L = model->language_model->model->layers.size();
  stats.layers.resize(L);
  torch::NoGradGuard no_grad;
  const auto device = model->options().device();
  const size_t batch = static_cast<size_t>(std::max(1, options.batch_size));
  for (size_t start = 0; start < samples.size(); start += batch) {
    const size_t end = std::min(samples.size(), start + batch);
    size_t longest = 0;
    std::vector<torch::Tensor> features;
    std::vector<PatchGrid> grids;
    for (size_t i = start; i < end; ++i) {
      longest = std::max(longest, samples[i].ids.size());
      if (!samples[i].image.empty()) {
        const auto& entry = evaluator.image_entry(samples[i].image);
        features.push_back(entry.features);
        grids.push_back(entry.grid);
        // The image's content, not its path, is what the statistics depend on.
        auto f = features.back();
        fingerprint.add(f.data_ptr(), static_cast<size_t>(std::min<int64_t>(f.numel(), 64)) * sizeof(float));
      }
    }
    const auto rows = static_cast<int64_t>(end - start);
    auto ids = torch::zeros({rows, static_cast<int64_t>(longest)}, torch::kInt64);
    auto mask = torch::zeros({rows, static_cast<int64_t>(longest)}, torch::kInt64);
    for (size_t i = start; i < end; ++i) {
      const auto pad = static_cast<int64_t>(longest - samples[i].ids.size());
      ids[static_cast<int64_t>(i - start)].slice(0, pad).copy_(torch::tensor(samples[i].ids, torch::kInt64));
      mask[static_cast<int64_t>(i - start)].slice(0, pad).fill_(1);
    }
    LlavaInputs inputs;
    inputs.input_ids = ids.to(device);
    inputs.attention_mask = mask.to(device);
    if (!features.empty()) inputs.image_features = torch::cat(features).to(device).to(model->options().dtype());
    inputs.image_grids = std::move(grids);
    auto keep = mask.to(device).reshape({-1}).nonzero().squeeze(1);
    // Per row: image positions, and text queries = real tokens after the last image token.
    auto ids_cpu = ids;
    auto image_mask = (ids_cpu == config.image_token_index) & (mask != 0);
    auto positions = torch::arange(static_cast<int64_t>(longest), torch::kInt64).unsqueeze(0).expand_as(ids_cpu);
    auto last_image = torch::where(image_mask, positions, torch::full_like(positions, -1)).amax(1, true);
    auto text_mask = (mask != 0) & (positions > last_image) & (last_image >= 0);
    std::vector<int64_t> vision_rows;
    for (int64_t r = 0; r < rows; ++r)
      if (text_mask[r].any().item<bool>()) vision_rows.push_back(r);
    // The attention statistics are computed where the probabilities are
    // (a GPU's [heads, T, T] per row and layer never crosses to the host);
    // only their scalar results do.
    const auto image_on_device = image_mask.to(device), text_on_device = text_mask.to(device);
    std::vector<torch::Tensor> rollout(static_cast<size_t>(rows));

    ForwardOptions forward;
    forward.last_position_only = true;
    forward.tap = [&](const std::string& name, int64_t layer, const torch::Tensor& value) {
      auto& into = stats.layers[static_cast<size_t>(layer)];
      if (name == "attn.probs") {
        for (int64_t r : vision_rows) {
          auto probs = value[r].to(torch::kFloat64);
          into.vision_mass_sum += vision_attention_mass(probs, image_on_device[r], text_on_device[r]);
          auto& R = rollout[static_cast<size_t>(r)];
          if (layer == 0) R = torch::eye(probs.size(-1), probs.options());
          R = rollout_step(probs.mean(0), R);
          into.vision_flow_sum += rollout_vision_flow(R, image_on_device[r], text_on_device[r]);
        }
        return;
      }
      if (name != "mlp.down_in" && name != "attn.out_in") return;
      auto x = value.reshape({-1, value.size(-1)}).index_select(0, keep).to(torch::kFloat64);
      if (name == "mlp.down_in") {
        add_into(into.mlp_sum, x.sum(0));
        add_into(into.mlp_sum_sq, x.square().sum(0));
        auto norms = x.norm(2, 1);
        into.token_norm_sum += norms.sum().item<double>();
        into.token_norm_sum_sq += norms.square().sum().item<double>();
      } else {
        add_into(into.attn_sum_sq, x.square().sum(0));
      }
    };
    model->final_hidden(inputs, forward);
    stats.tokens += keep.numel();
    stats.vision_samples += static_cast<int64_t>(vision_rows.size());
  }
  fingerprint.add(std::to_string(stats.tokens));
  stats.fingerprint = fingerprint.hex();
  return stats;
}

double vision_attention_mass(const torch::Tensor& probs, const torch::Tensor& image, const torch::Tensor& text) {
  auto p = probs.to(torch::kFloat64);
  auto text_rows = text.to(p.device()).nonzero().squeeze(1);
  auto image_cols = image.to(p.device()).nonzero().squeeze(1);
  if (text_rows.numel() == 0 || image_cols.numel() == 0) return 0.0;
  // [H, Tq, Tk] -> mass on image keys per head and query, then the mean.
  return p.index_select(1, text_rows).index_select(2, image_cols).sum(2).mean().item<double>();
}

torch::Tensor rollout_step(const torch::Tensor& head_mean_probs, const torch::Tensor& previous) {
  auto a = head_mean_probs.to(torch::kFloat64);
  auto eye = torch::eye(a.size(0), a.options());
  return torch::matmul(0.5 * a + 0.5 * eye, previous.to(torch::kFloat64));
}

double rollout_vision_flow(const torch::Tensor& rollout, const torch::Tensor& image, const torch::Tensor& text) {
  return vision_attention_mass(rollout.unsqueeze(0), image, text);
}

namespace {

torch::Tensor f64(const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); }

std::vector<double> mlp_importance(LlamaDecoderLayer& layer, ImportanceMethod method, const CalibrationStats* stats,
                                   size_t l) {
  auto& mlp = layer->mlp;
  auto down_sq = f64(mlp->down_proj->weight).square().sum(0);  // [I]
  if (method == ImportanceMethod::Magnitude) {
    auto g = f64(mlp->gate_proj->weight).square().sum(1);
    auto u = f64(mlp->up_proj->weight).square().sum(1);
    return to_vector((g + u + down_sq).sqrt());
  }
  const auto channels = static_cast<size_t>(down_sq.size(0));
  if (stats->layers[l].mlp_sum_sq.size() != channels)
    throw Error("calibration statistics do not match the model's MLP widths (recollect them)");
  const auto down = to_vector(down_sq);
  std::vector<double> out(channels);
  for (size_t j = 0; j < channels; ++j)
    out[j] = method == ImportanceMethod::WandaSp ? std::sqrt(stats->layers[l].mlp_sum_sq[j]) * std::sqrt(down[j])
                                                 : stats->mlp_variance(l, j) * down[j];  // flap
  return out;
}

}  // namespace

std::vector<std::vector<double>> unit_importance(LlavaModel& model, Structure structure, ImportanceMethod method,
                                                 const CalibrationStats* stats) {
  if (importance_needs_calibration(method) && !stats)
    throw Error("importance '" + importance_name(method) + "' needs calibration data (give a benchmark folder)");
  torch::NoGradGuard no_grad;
  auto& layers = model->language_model->model->layers;
  if (stats && stats->layers.size() != layers.size())
    throw Error("calibration statistics have " + std::to_string(stats->layers.size()) + " layers, the model " +
                std::to_string(layers.size()));
  std::vector<std::vector<double>> scores;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto& layer = layers[l];
    const LayerActivations* act = stats ? &stats->layers[l] : nullptr;
    if (structure == Structure::MlpChannels) {
      scores.push_back(mlp_importance(layer, method, stats, l));
      continue;
    }
    // KV groups: query heads g*q_per_kv .. (g+1)*q_per_kv-1 and KV head g.
    auto& attn = layer->self_attn;
    if (method == ImportanceMethod::Flap) throw Error("flap importance is defined for mlp_channels only");
    const int64_t hd = attn->head_dim, kv = attn->kv_heads, q_per_kv = attn->heads / attn->kv_heads;
    auto o_col = f64(attn->o_proj->weight).square().sum(0);  // [H*hd]
    std::vector<double> s(static_cast<size_t>(kv), 0.0);
    if (method == ImportanceMethod::Magnitude) {
      auto q_row = f64(attn->q_proj->weight).square().sum(1);
      auto k_row = f64(attn->k_proj->weight).square().sum(1);
      auto v_row = f64(attn->v_proj->weight).square().sum(1);
      for (int64_t g = 0; g < kv; ++g) {
        const auto q_slice = q_row.slice(0, g * q_per_kv * hd, (g + 1) * q_per_kv * hd);
        const auto o_slice = o_col.slice(0, g * q_per_kv * hd, (g + 1) * q_per_kv * hd);
        const auto kv_slice = k_row.slice(0, g * hd, (g + 1) * hd) + v_row.slice(0, g * hd, (g + 1) * hd);
        s[static_cast<size_t>(g)] = std::sqrt((q_slice.sum() + o_slice.sum() + kv_slice.sum()).item<double>());
      }
    } else {
      if (act->attn_sum_sq.size() != static_cast<size_t>(o_col.size(0)))
        throw Error("calibration statistics do not match the model's attention widths (recollect them)");
      const auto o = to_vector(o_col);
      for (int64_t c = 0; c < o_col.size(0); ++c)
        s[static_cast<size_t>(c / (q_per_kv * hd))] +=
            std::sqrt(act->attn_sum_sq[static_cast<size_t>(c)]) * std::sqrt(o[static_cast<size_t>(c)]);
    }
    scores.push_back(std::move(s));
  }
  return scores;
}

std::vector<double> layer_outlier_ratios(LlavaModel& model, const CalibrationStats& stats, double m) {
  torch::NoGradGuard no_grad;
  auto& layers = model->language_model->model->layers;
  std::vector<double> ratios;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto w = f64(layers[l]->mlp->down_proj->weight).abs();  // [D, I]
    const auto& sq = stats.layers.at(l).mlp_sum_sq;
    if (sq.size() != static_cast<size_t>(w.size(1)))
      throw Error("calibration statistics do not match the model's MLP widths (recollect them)");
    auto norms = torch::tensor(sq, torch::kFloat64).sqrt();
    auto score = w * norms.unsqueeze(0);
    const double mean = score.mean().item<double>();
    ratios.push_back(mean > 0 ? (score > m * mean).to(torch::kFloat64).mean().item<double>() : 0.0);
  }
  return ratios;
}

std::vector<double> owl_allocation(const std::vector<double>& outlier_ratios, double sparsity, double lambda) {
  if (outlier_ratios.empty()) throw Error("OWL allocation needs at least one layer");
  const auto [lo_it, hi_it] = std::minmax_element(outlier_ratios.begin(), outlier_ratios.end());
  const double lo = *lo_it, hi = *hi_it;
  std::vector<double> ratios;
  for (double d : outlier_ratios) {
    const double unit = hi > lo ? (d - lo) / (hi - lo) : 0.5;  // 1 = most outliers
    ratios.push_back(sparsity + lambda - 2 * lambda * unit);
  }
  // Shift so the mean ratio is the target, then clamp at a small positive
  // share so every layer takes part in the budget.
  double mean = 0;
  for (double r : ratios) mean += r;
  mean /= static_cast<double>(ratios.size());
  for (double& r : ratios) r = std::max(1e-4, r - mean + sparsity);
  return normalise_allocation(ratios);
}

}  // namespace hipp
