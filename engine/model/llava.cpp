#include "model/llava.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <torch/version.h>

#include "core/error.h"

namespace hipp {
namespace F = torch::nn::functional;

// ---- CLIP ------------------------------------------------------------------------

PatchConvImpl::PatchConvImpl(int64_t channels, int64_t dim, int64_t patch_, const torch::TensorOptions& options)
    : patch(patch_) {
  weight = register_parameter("weight", torch::empty({dim, channels, patch, patch}, options));
}

torch::Tensor PatchConvImpl::forward(const torch::Tensor& pixels) {
  return torch::conv2d(pixels, weight, /*bias=*/{}, /*stride=*/patch);
}

ClipEmbeddingsImpl::ClipEmbeddingsImpl(const VisionConfig& c, const torch::TensorOptions& options) {
  patch_embedding = register_module("patch_embedding", PatchConv(c.num_channels, c.hidden_size, c.patch_size, options));
  class_embedding = register_parameter("class_embedding", torch::empty({c.hidden_size}, options));
  position_embedding = register_module("position_embedding", Embedding(c.num_patches() + 1, c.hidden_size, options));
}

torch::Tensor ClipEmbeddingsImpl::forward(const torch::Tensor& pixels) {
  auto patches = patch_embedding(pixels).flatten(2).transpose(1, 2);  // [B, N, D]
  auto cls = class_embedding.expand({patches.size(0), 1, class_embedding.size(0)});
  auto x = torch::cat({cls, patches}, 1);
  return x + position_embedding->weight.unsqueeze(0);
}

ClipAttentionImpl::ClipAttentionImpl(const VisionConfig& c, const torch::TensorOptions& options)
    : heads(c.num_attention_heads), head_dim(c.head_dim()) {
  const int64_t d = c.hidden_size;
  q_proj = register_module("q_proj", Linear(d, d, true, options));
  k_proj = register_module("k_proj", Linear(d, d, true, options));
  v_proj = register_module("v_proj", Linear(d, d, true, options));
  out_proj = register_module("out_proj", Linear(d, d, true, options));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1);
  auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads, head_dim}).transpose(1, 2); };
  auto q = split(q_proj(x)), k = split(k_proj(x)), v = split(v_proj(x));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
  auto probs = torch::softmax(scores.to(torch::kFloat32), -1).to(q.scalar_type());
  auto out = torch::matmul(probs, v).transpose(1, 2).reshape({b, t, heads * head_dim});
  return out_proj(out);
}

ClipMlpImpl::ClipMlpImpl(const VisionConfig& c, const torch::TensorOptions& options)
    : quick_gelu(c.hidden_act == "quick_gelu") {
  fc1 = register_module("fc1", Linear(c.hidden_size, c.intermediate_size, true, options));
  fc2 = register_module("fc2", Linear(c.intermediate_size, c.hidden_size, true, options));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  auto h = fc1(x);
  h = quick_gelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const VisionConfig& c, const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", ClipAttention(c, options));
  layer_norm1 = register_module("layer_norm1", LayerNorm(c.hidden_size, c.layer_norm_eps, options));
  mlp = register_module("mlp", ClipMlp(c, options));
  layer_norm2 = register_module("layer_norm2", LayerNorm(c.hidden_size, c.layer_norm_eps, options));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  auto h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipEncoderImpl::ClipEncoderImpl(const VisionConfig& c, const torch::TensorOptions& options) {
  auto list = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    layers.push_back(ClipEncoderLayer(c, options));
    list->push_back(layers.back());
  }
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const VisionConfig& c, const torch::TensorOptions& options) {
  embeddings = register_module("embeddings", ClipEmbeddings(c, options));
  pre_layrnorm = register_module("pre_layrnorm", LayerNorm(c.hidden_size, c.layer_norm_eps, options));
  encoder = register_module("encoder", ClipEncoder(c, options));
  post_layernorm = register_module("post_layernorm", LayerNorm(c.hidden_size, c.layer_norm_eps, options));
}

torch::Tensor ClipVisionTransformerImpl::hidden_state(const torch::Tensor& pixels, int64_t index, const Tap& tap) {
  auto x = pre_layrnorm(embeddings(pixels));
  for (int64_t l = 0; l < index; ++l) {
    x = encoder->layers[static_cast<size_t>(l)](x);
    if (tap) tap("vision.hidden", l, x);
  }
  return x;
}

ClipVisionModelImpl::ClipVisionModelImpl(const VisionConfig& c, const torch::TensorOptions& options) {
  vision_model = register_module("vision_model", ClipVisionTransformer(c, options));
}

ProjectorImpl::ProjectorImpl(int64_t vision_dim, int64_t text_dim, bool with_bias,
                             const torch::TensorOptions& options) {
  linear_1 = register_module("linear_1", Linear(vision_dim, text_dim, with_bias, options));
  linear_2 = register_module("linear_2", Linear(text_dim, text_dim, with_bias, options));
}

torch::Tensor ProjectorImpl::forward(const torch::Tensor& x) { return linear_2(torch::gelu(linear_1(x))); }

// ---- LLaMA -------------------------------------------------------------------------

namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

torch::Tensor rope_inverse_frequencies(const TextConfig& t, const torch::Device& device) {
  // float32 throughout, in transformers' order of operations.
  auto float_opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto exponents = torch::arange(0, t.head_dim, 2, float_opts) / static_cast<double>(t.head_dim);
  auto inv_freq = 1.0 / torch::pow(t.rope_theta, exponents);  // [hd/2]
  if (t.rope_type == "linear") return inv_freq / t.rope_factor;
  if (t.rope_type != "llama3") return inv_freq;
  const double context = static_cast<double>(t.rope_original_max_position_embeddings);
  const double low_wavelen = context / t.rope_low_freq_factor;    // longer waves are slowed by the factor
  const double high_wavelen = context / t.rope_high_freq_factor;  // shorter ones are kept
  auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_wavelen, inv_freq / t.rope_factor, inv_freq);
  auto smooth = (context / wavelen - t.rope_low_freq_factor) / (t.rope_high_freq_factor - t.rope_low_freq_factor);
  auto blended = (1 - smooth) * scaled / t.rope_factor + smooth * scaled;
  auto medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return torch::where(medium, blended, scaled);
}

std::pair<torch::Tensor, torch::Tensor> rotary_tables(const torch::Tensor& positions, const TextConfig& text,
                                                      torch::ScalarType dtype) {
  auto inv_freq = rope_inverse_frequencies(text, positions.device());
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq;  // [(3,) B, T, hd/2]
  auto emb = torch::cat({freqs, freqs}, -1);                            // [(3,) B, T, hd]
  if (!text.mrope_section.empty()) {
    std::vector<torch::Tensor> parts;
    int64_t start = 0;
    for (int half = 0; half < 2; ++half)
      for (size_t s = 0; s < text.mrope_section.size(); ++s) {
        const int64_t width = text.mrope_section[s];
        parts.push_back(emb[static_cast<int64_t>(s)].slice(-1, start, start + width));
        start += width;
      }
    emb = torch::cat(parts, -1);  // [B, T, hd]
  }
  emb = emb.unsqueeze(1);  // [B, 1, T, hd]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

LlamaAttentionImpl::LlamaAttentionImpl(const TextConfig& c, const DecoderLayerWidths& w,
                                       const torch::TensorOptions& options)
    : heads(w.num_attention_heads), kv_heads(w.num_key_value_heads), head_dim(c.head_dim) {
  const int64_t d = c.hidden_size;
  q_proj = register_module("q_proj", Linear(d, heads * head_dim, c.qkv_bias, options));
  k_proj = register_module("k_proj", Linear(d, kv_heads * head_dim, c.qkv_bias, options));
  v_proj = register_module("v_proj", Linear(d, kv_heads * head_dim, c.qkv_bias, options));
  o_proj = register_module("o_proj", Linear(heads * head_dim, d, false, options));
}

AttentionMask make_attention_mask(torch::Tensor allowed) {
  AttentionMask mask;
  mask.fused = allowed | allowed.any(-1, /*keepdim=*/true).logical_not();
  mask.allowed = std::move(allowed);
  return mask;
}

bool fused_attention() {
#if TORCH_VERSION_MAJOR >= 2
  static const bool enabled = [] {
    const char* eager = std::getenv("HIPP_EAGER_ATTENTION");
    return eager == nullptr || std::string(eager) != "1";
  }();
  return enabled;
#else
  return false;
#endif
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                          const AttentionMask& mask, int64_t layer, const Tap& tap,
                                          const KeyValues* past, KeyValues* keep) {
  const int64_t b = x.size(0), t = x.size(1);
  auto q = q_proj(x).view({b, t, heads, head_dim}).transpose(1, 2);
  auto k = k_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
  auto v = v_proj(x).view({b, t, kv_heads, head_dim}).transpose(1, 2);
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  if (keep) *keep = {k, v};
  if (past) {
    k = torch::cat({past->keys, k}, 2);
    v = torch::cat({past->values, v}, 2);
  }
  if (kv_heads != heads) {  // query head h reads key/value head h / (heads / kv_heads)
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  torch::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  if (!tap && fused_attention()) out = at::scaled_dot_product_attention(q, k, v, mask.fused, 0.0, false);
#endif
  if (!out.defined()) {
    auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
    // Masked scores get the float32 minimum rather than -inf, so that fully
    // masked rows (padding queries) stay finite.
    auto probs = torch::softmax(
        scores.to(torch::kFloat32).masked_fill(mask.allowed.logical_not(), std::numeric_limits<float>::lowest()), -1);
    if (tap) tap("attn.probs", layer, probs);
    out = torch::matmul(probs.to(q.scalar_type()), v);
  }
  auto merged = out.transpose(1, 2).reshape({b, t, heads * head_dim});
  if (tap) tap("attn.out_in", layer, merged);
  return o_proj(merged);
}

LlamaMlpImpl::LlamaMlpImpl(int64_t hidden, int64_t intermediate, bool down_bias, const torch::TensorOptions& options) {
  gate_proj = register_module("gate_proj", Linear(hidden, intermediate, false, options));
  up_proj = register_module("up_proj", Linear(hidden, intermediate, false, options));
  down_proj = register_module("down_proj", Linear(intermediate, hidden, down_bias, options));
}

torch::Tensor LlamaMlpImpl::forward(const torch::Tensor& x, int64_t layer, const Tap& tap) {
  auto h = torch::silu(gate_proj(x)) * up_proj(x);
  if (tap) tap("mlp.down_in", layer, h);
  return down_proj(h);
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const TextConfig& c, const DecoderLayerWidths& w,
                                             const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", LlamaAttention(c, w, options));
  mlp = register_module("mlp", LlamaMlp(c.hidden_size, w.intermediate_size, c.mlp_down_bias, options));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                             const AttentionMask& mask, int64_t layer, const Tap& tap, bool skip_mlp,
                                             const KeyValues* past, KeyValues* keep) {
  auto h = x + self_attn->forward(input_layernorm(x), cos, sin, mask, layer, tap, past, keep);
  if (skip_mlp) return h;
  return h + mlp(post_attention_layernorm(h), layer, tap);
}

LlamaModelImpl::LlamaModelImpl(const TextConfig& c, const torch::TensorOptions& options) {
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, options));
  auto list = register_module("layers", torch::nn::ModuleList());
  for (const auto& widths : c.layers) {
    layers.push_back(LlamaDecoderLayer(c, widths, options));
    list->push_back(layers.back());
  }
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const TextConfig& c, const torch::TensorOptions& options) {
  model = register_module("model", LlamaModel(c, options));
  lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false, options));
}

// ---- LLaVA ---------------------------------------------------------------------------

torch::Tensor mrope_position_ids(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const std::vector<PatchGrid>& grids, int64_t image_token_id, int64_t merge) {
  const auto ids = input_ids.to(torch::kCPU, torch::kInt64).contiguous();
  const int64_t b = ids.size(0), t = ids.size(1);
  // 1 = attended; every token when no mask is given.
  const auto valid = attention_mask.defined() ? attention_mask.to(torch::kCPU).to(torch::kBool).contiguous()
                                              : torch::ones({b, t}, torch::TensorOptions().dtype(torch::kBool));
  if (valid.sizes() != ids.sizes()) throw Error("attention_mask must have the shape of input_ids");
  auto out = torch::ones({3, b, t}, torch::TensorOptions().dtype(torch::kInt64));
  auto pos = out.accessor<int64_t, 3>();
  const auto tokens = ids.accessor<int64_t, 2>();
  const auto mask = valid.accessor<bool, 2>();
  size_t next_grid = 0;
  for (int64_t row = 0; row < b; ++row) {
    int64_t next = 0;  // the next free position
    int64_t i = 0;
    auto attended = [&](int64_t k) { return mask[row][k]; };
    while (i < t) {
      if (!attended(i)) {
        ++i;
        continue;
      }
      if (tokens[row][i] != image_token_id) {
        for (int s = 0; s < 3; ++s) pos[s][row][i] = next;
        ++next, ++i;
        continue;
      }
      if (next_grid >= grids.size())
        throw Error("the prompts hold more images than the " + std::to_string(grids.size()) + " grids given");
      const auto& g = grids[next_grid++];
      const int64_t rows = g.h / merge, cols = g.w / merge, count = g.t * rows * cols;
      int64_t placed = 0;
      for (int64_t f = 0; f < g.t; ++f)
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t q = 0; q < cols; ++q) {
            if (i >= t || !attended(i) || tokens[row][i] != image_token_id)
              throw Error("an image of grid " + std::to_string(g.t) + "x" + std::to_string(g.h) + "x" +
                          std::to_string(g.w) + " needs " + std::to_string(count) +
                          " image tokens in a row; the prompt has " + std::to_string(placed));
            pos[0][row][i] = next;  // still images: temporal index 0
            pos[1][row][i] = next + r;
            pos[2][row][i] = next + q;
            ++i, ++placed;
          }
      next += std::max({rows, cols, int64_t{1}});
    }
  }
  if (next_grid != grids.size())
    throw Error(std::to_string(grids.size()) + " image grids given for " + std::to_string(next_grid) +
                " images in the prompts");
  return out.to(input_ids.device());
}

LlavaModelImpl::LlavaModelImpl(const LlavaConfig& config, const torch::TensorOptions& real_options, bool allocate)
    : config_(config), options_(real_options) {
  validate_llava_config(config_, "model config");
  // Unallocated: uninitialised CPU tensors (untouched pages hold no memory)
  // that set_data replaces, which works across devices.
  const auto options = allocate ? real_options : real_options.device(torch::kCPU);
  if (config_.is_qwen()) {
    visual = register_module("visual", QwenVisionTower(config_.qwen_vision, options));
  } else {
    vision_tower = register_module("vision_tower", ClipVisionModel(config_.vision, options));
    multi_modal_projector = register_module(
        "multi_modal_projector",
        Projector(config_.vision.hidden_size, config_.text.hidden_size, config_.multimodal_projector_bias, options));
  }
  language_model = register_module("language_model", LlamaForCausalLM(config_.text, options));
}

torch::Tensor LlavaModelImpl::encode_patches(const torch::Tensor& patches, const std::vector<PatchGrid>& grids,
                                             const Tap& tap) {
  if (!config_.is_qwen()) throw Error("encode_patches is for Qwen2.5-VL models; LLaVA takes encode_images");
  return visual(patches.to(options_.device(), options_.dtype().toScalarType()), grids, tap);
}

torch::Tensor LlavaModelImpl::encode_images(const torch::Tensor& pixel_values, const Tap& tap) {
  if (config_.is_qwen())
    throw Error("a Qwen2.5-VL model takes image patches and grids (encode_patches), not fixed-size pixels");
  const auto& v = config_.vision;
  if (pixel_values.dim() != 4 || pixel_values.size(1) != v.num_channels || pixel_values.size(2) != v.image_size ||
      pixel_values.size(3) != v.image_size)
    throw Error("pixel values must be [N, " + std::to_string(v.num_channels) + ", " + std::to_string(v.image_size) +
                ", " + std::to_string(v.image_size) + "]");
  auto pixels = pixel_values.to(options_.device(), options_.dtype().toScalarType());
  auto hidden = vision_tower->vision_model->hidden_state(pixels, config_.vision_hidden_state_index(), tap);
  if (config_.vision_feature_select_strategy == "default") hidden = hidden.slice(1, 1);
  return multi_modal_projector(hidden);
}

torch::Tensor LlavaModelImpl::encode_prepared(const std::vector<const PreparedImage*>& images, const Tap& tap) {
  if (images.empty()) return {};
  std::vector<torch::Tensor> parts;
  for (const auto* image : images) {
    const auto expected = config_.is_qwen() ? 2U : 3U;
    if (image->shape.size() != expected)
      throw Error("a prepared image of the wrong kind for this model (" + std::to_string(image->shape.size()) +
                  "-d; preprocessor_config.json of another architecture?)");
    parts.push_back(torch::from_blob(const_cast<float*>(image->values.data()), image->shape, torch::kFloat32));
  }
  if (!config_.is_qwen()) {
    auto features = encode_images(torch::stack(parts), tap);
    return features.reshape({-1, features.size(-1)});
  }
  std::vector<PatchGrid> grids;
  for (const auto* image : images) grids.push_back(grid_of(*image));
  return encode_patches(torch::cat(parts), grids, tap);
}

int64_t LlavaModelImpl::image_tokens(const PatchGrid& grid) const {
  if (!config_.is_qwen()) return config_.num_image_features();
  const int64_t m = config_.qwen_vision.spatial_merge_size;
  return grid.patches() / (m * m);
}

torch::Tensor LlavaModelImpl::embed(const torch::Tensor& input_ids, const torch::Tensor& image_features) {
  auto ids = input_ids.to(options_.device(), torch::kInt64);
  auto is_image = ids == config_.image_token_index;
  const int64_t image_positions = is_image.sum().item<int64_t>();
  const int64_t feature_rows = image_features.defined() ? image_features.numel() / config_.text.hidden_size : 0;
  if (image_positions != feature_rows)
    throw Error("the prompt has " + std::to_string(image_positions) + " image tokens but the images give " +
                std::to_string(feature_rows) + " features");
  const int64_t vocab = config_.text.vocab_size;
  auto safe_ids = ids.masked_fill(is_image, 0);
  if ((safe_ids < 0).any().item<bool>() || (safe_ids >= vocab).any().item<bool>())
    throw Error("token id outside the vocabulary of " + std::to_string(vocab));
  auto embeds = language_model->model->embed_tokens(safe_ids);
  if (image_positions == 0) return embeds;
  auto features = image_features.to(embeds.device(), embeds.scalar_type()).reshape({-1});
  return embeds.masked_scatter(is_image.unsqueeze(-1).expand_as(embeds), features);
}

torch::Tensor LlavaModelImpl::forward(const LlavaInputs& inputs, const ForwardOptions& options) {
  return language_model->lm_head(final_hidden(inputs, options)).to(torch::kFloat32);
}

namespace {

// Which tokens are real (bool [B, T]; all without a mask) and their rotary
// positions ([B, T], counting real tokens only, or [3, B, T] for
// Qwen2.5-VL's multimodal positions).
// Which tokens are real: the attention mask as booleans, or all of them.
torch::Tensor token_validity(const LlavaInputs& inputs, const torch::Device& device) {
  if (!inputs.attention_mask.defined())
    return torch::ones(inputs.input_ids.sizes(), torch::TensorOptions().dtype(torch::kBool).device(device));
  auto valid = inputs.attention_mask.to(device).to(torch::kBool);
  if (valid.sizes() != inputs.input_ids.sizes()) throw Error("attention_mask must have the shape of input_ids");
  return valid;
}

std::pair<torch::Tensor, torch::Tensor> token_positions(const LlavaConfig& config, const LlavaInputs& inputs,
                                                        const torch::Device& device) {
  const auto valid = token_validity(inputs, device);
  torch::Tensor positions;
  if (!config.text.mrope_section.empty())
    positions = mrope_position_ids(inputs.input_ids, inputs.attention_mask, inputs.image_grids,
                                   config.image_token_index, config.qwen_vision.spatial_merge_size)
                    .to(device);
  else
    positions = (valid.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
  return {valid, positions};
}

// Causal attention among [B, T] tokens of which `valid` are real: [B, T, T].
torch::Tensor causal_allowed(const torch::Tensor& valid) {
  const int64_t t = valid.size(1);
  auto causal = torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(valid.device())).tril();
  return causal.unsqueeze(0) & valid.unsqueeze(1);
}

void check_ids(const LlavaInputs& inputs) {
  if (!inputs.input_ids.defined() || inputs.input_ids.dim() != 2)
    throw Error("input_ids must be a [batch, tokens] tensor");
}

}  // namespace

torch::Tensor LlavaModelImpl::final_hidden(const LlavaInputs& inputs, const ForwardOptions& options) {
  check_ids(inputs);
  const auto& tc = config_.text;
  auto x = embed(inputs.input_ids, inputs.image_features);
  const int64_t t = x.size(1);
  const auto [valid, positions] = token_positions(config_, inputs, x.device());
  const auto mask = make_attention_mask(causal_allowed(valid).unsqueeze(1));
  auto [cos, sin] = rotary_tables(positions, tc, x.scalar_type());

  auto& lm = language_model->model;
  const auto first =
      static_cast<size_t>(std::clamp<int64_t>(options.skip_first_layers, 0, static_cast<int64_t>(lm->layers.size())));
  for (size_t l = first; l < lm->layers.size(); ++l) {
    const bool skip_mlp = l < 64 && ((options.skip_mlp_mask >> l) & 1U) != 0;
    x = lm->layers[l]->forward(x, cos, sin, mask, static_cast<int64_t>(l), options.tap, skip_mlp);
    if (options.tap) options.tap("layer.out", static_cast<int64_t>(l), x);
  }
  if (options.last_position_only) x = x.slice(1, t - 1);
  return lm->norm(x);
}

PrefixCache LlavaModelImpl::encode_prefixes(const LlavaInputs& prefixes) {
  check_ids(prefixes);
  auto x = embed(prefixes.input_ids, prefixes.image_features);
  const auto [valid, positions] = token_positions(config_, prefixes, x.device());
  const auto mask = make_attention_mask(causal_allowed(valid).unsqueeze(1));
  auto [cos, sin] = rotary_tables(positions, config_.text, x.scalar_type());
  auto& lm = language_model->model;
  PrefixCache cache;
  cache.layers.resize(lm->layers.size());
  for (size_t l = 0; l < lm->layers.size(); ++l) {
    // The last layer's MLP output is nobody's input: only its keys and values are kept.
    const bool skip_mlp = l + 1 == lm->layers.size();
    x = lm->layers[l]->forward(x, cos, sin, mask, static_cast<int64_t>(l), {}, skip_mlp, nullptr, &cache.layers[l]);
  }
  cache.valid = valid;
  const auto flat = positions.dim() == 3 ? std::get<0>(positions.max(0)) : positions;
  cache.next_position = flat.size(1) == 0 ? torch::zeros({flat.size(0)}, flat.options())
                                          : std::get<0>(flat.masked_fill(valid.logical_not(), -1).max(1)) + 1;
  return cache;
}

torch::Tensor LlavaModelImpl::forward_after_prefixes(const PrefixCache& cache, const torch::Tensor& prefix_rows,
                                                     const LlavaInputs& suffixes, const ForwardOptions& options) {
  if (options.tap || options.skip_first_layers != 0 || options.skip_mlp_mask != 0)
    throw Error("forward_after_prefixes takes no tap and no layer dropout");
  check_ids(suffixes);
  auto& lm = language_model->model;
  if (cache.layers.size() != lm->layers.size()) throw Error("the prefix cache belongs to another model");
  auto x = embed(suffixes.input_ids, suffixes.image_features);
  const int64_t b = x.size(0), t = x.size(1);
  const auto device = x.device();
  const auto rows = prefix_rows.to(device, torch::kInt64);
  if (rows.dim() != 1 || rows.size(0) != b) throw Error("prefix_rows must give one prefix per suffix row");
  if (b > 0 && (rows.min().item<int64_t>() < 0 || rows.max().item<int64_t>() >= cache.rows()))
    throw Error("prefix_rows names a prefix the cache does not hold");
  const auto valid = token_validity(suffixes, device);
  // The text after a prefix counts on from its next position, in every
  // stream of multimodal positions alike (no image follows).
  auto positions = cache.next_position.to(device).index_select(0, rows).unsqueeze(1) +
                   (valid.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
  if (!config_.text.mrope_section.empty()) positions = positions.unsqueeze(0).expand({3, b, t});
  const auto prefix_valid = cache.valid.to(device).index_select(0, rows);  // [B, P]
  const auto allowed =
      torch::cat({prefix_valid.unsqueeze(1).expand({b, t, prefix_valid.size(1)}), causal_allowed(valid)}, 2);
  const auto mask = make_attention_mask(allowed.unsqueeze(1));
  auto [cos, sin] = rotary_tables(positions, config_.text, x.scalar_type());
  for (size_t l = 0; l < lm->layers.size(); ++l) {
    const KeyValues past{cache.layers[l].keys.index_select(0, rows), cache.layers[l].values.index_select(0, rows)};
    x = lm->layers[l]->forward(x, cos, sin, mask, static_cast<int64_t>(l), {}, false, &past);
  }
  if (options.last_position_only) x = x.slice(1, t - 1);
  return language_model->lm_head(lm->norm(x)).to(torch::kFloat32);
}

ParameterCounts count_parameters(LlavaModel& model) {
  ParameterCounts counts;
  const size_t layers = model->language_model->model->layers.size();
  counts.decoder_layers.assign(layers, 0);
  counts.decoder_layers_mlp.assign(layers, 0);
  for (const auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    const int64_t n = p.value().numel();
    if (name.rfind("language_model.", 0) == 0) {
      counts.language_model += n;
    } else if (name.rfind("vision_tower.", 0) == 0 ||
               (name.rfind("visual.", 0) == 0 && name.rfind("visual.merger.", 0) != 0)) {
      counts.vision_tower += n;
    } else {
      counts.projector += n;
    }
  }
  for (size_t l = 0; l < layers; ++l) {
    auto& layer = model->language_model->model->layers[l];
    for (const auto& p : layer->parameters()) counts.decoder_layers[l] += p.numel();
    for (const auto& p : layer->mlp->parameters()) counts.decoder_layers_mlp[l] += p.numel();
  }
  return counts;
}

void init_random(LlavaModel& model, uint64_t seed, double std) {
  torch::NoGradGuard no_grad;
  auto generator = at::detail::createCPUGenerator(seed);
  for (auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    auto& tensor = p.value();
    const bool is_norm = name.find("norm") != std::string::npos || name.find(".ln_q.") != std::string::npos;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_bias) {
      tensor.zero_();
    } else if (is_norm) {
      tensor.fill_(1.0);
    } else {
      // std <= 0: projections get 1/sqrt(fan_in) (unit-scale outputs, so
      // attention starts away from uniform), embeddings and lm_head 0.02.
      double s = std;
      if (s <= 0) {
        const bool table = name.find("embed_tokens") != std::string::npos ||
                           name.find("lm_head") != std::string::npos || name.find("embedding") != std::string::npos;
        s = table || tensor.dim() < 2 ? 0.02 : 1.0 / std::sqrt(static_cast<double>(tensor.numel() / tensor.size(0)));
      }
      auto values = at::normal(0.0, s, tensor.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32));
      tensor.copy_(values);
    }
  }
  // Tied: the output layer is the embedding, as loading makes it.
  if (model->config().text.tie_word_embeddings)
    model->language_model->lm_head->weight.copy_(model->language_model->model->embed_tokens->weight);
}

}  // namespace hipp
