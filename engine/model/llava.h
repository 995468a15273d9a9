#pragma once
// The LLaVA architecture in LibTorch, with Hugging Face's semantics and
// parameter names (the older layout: language_model.model.*, vision_tower.*,
// multi_modal_projector.*), so named_parameters() are checkpoint keys.
//
// Vision: CLIP ViT (patch conv without bias, class + position embeddings,
// pre-layernorm, pre-norm encoder layers with biased attention and
// quick-GELU MLP). Features come from hidden state `vision_feature_layer`
// (-2 by default) with the CLS token dropped ("default" strategy).
// Projector: linear -> GELU -> linear. Language: LLaMA decoder (RMSNorm,
// rotate-half RoPE, grouped-query attention, SwiGLU MLP, final norm, untied
// lm_head), each decoder layer with its own MLP width and head counts.
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/config.h"
#include "model/image.h"
#include "model/layers.h"
#include "model/qwen_vision.h"

namespace hipp {

// ---- CLIP vision tower -------------------------------------------------------

class PatchConvImpl : public torch::nn::Module {
 public:
  PatchConvImpl(int64_t channels, int64_t dim, int64_t patch, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& pixels);
  torch::Tensor weight;  // [D, C, P, P]
  int64_t patch;
};
TORCH_MODULE(PatchConv);

class ClipEmbeddingsImpl : public torch::nn::Module {
 public:
  ClipEmbeddingsImpl(const VisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& pixels);  // [B,C,H,W] -> [B, N+1, D]
  PatchConv patch_embedding{nullptr};
  torch::Tensor class_embedding;  // [D]
  Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipEmbeddings);

class ClipAttentionImpl : public torch::nn::Module {
 public:
  ClipAttentionImpl(const VisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t heads, head_dim;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  ClipMlpImpl(const VisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};
  bool quick_gelu;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  ClipEncoderLayerImpl(const VisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  ClipAttention self_attn{nullptr};
  LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

class ClipEncoderImpl : public torch::nn::Module {
 public:
  ClipEncoderImpl(const VisionConfig& c, const torch::TensorOptions& options);
  std::vector<ClipEncoderLayer> layers;
};
TORCH_MODULE(ClipEncoder);

class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  ClipVisionTransformerImpl(const VisionConfig& c, const torch::TensorOptions& options);
  // Returns hidden state `index` (0 = embeddings after pre-layernorm).
  torch::Tensor hidden_state(const torch::Tensor& pixels, int64_t index, const Tap& tap);
  ClipEmbeddings embeddings{nullptr};
  LayerNorm pre_layrnorm{nullptr};  // sic: Hugging Face's parameter name
  ClipEncoder encoder{nullptr};
  LayerNorm post_layernorm{nullptr};  // loaded and saved; unused by LLaVA
};
TORCH_MODULE(ClipVisionTransformer);

class ClipVisionModelImpl : public torch::nn::Module {
 public:
  ClipVisionModelImpl(const VisionConfig& c, const torch::TensorOptions& options);
  ClipVisionTransformer vision_model{nullptr};
};
TORCH_MODULE(ClipVisionModel);

class ProjectorImpl : public torch::nn::Module {
 public:
  ProjectorImpl(int64_t vision_dim, int64_t text_dim, bool with_bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(Projector);

// ---- LLaMA decoder -------------------------------------------------------------

// Which keys each query may read: `allowed` bool [B, 1, T, K] (causal, no
// padding, and any shared prefix), and the same for a fused attention
// kernel with every fully masked row (a padding query, which no real token
// reads) opened to all keys, so that it stays finite instead of NaN.
struct AttentionMask {
  torch::Tensor allowed;
  torch::Tensor fused;
};
AttentionMask make_attention_mask(torch::Tensor allowed);

// One decoder layer's keys (after the rotary embedding) and values,
// [B, kv_heads, T, head_dim], before query groups repeat them.
struct KeyValues {
  torch::Tensor keys, values;
};

// Whether attention without a tap runs through LibTorch's fused
// scaled_dot_product_attention (LibTorch 2 and later, unless the
// environment sets HIPP_EAGER_ATTENTION=1); otherwise, and whenever a tap
// asks for the probabilities, it is computed explicitly with a float32
// softmax.
bool fused_attention();

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const TextConfig& c, const DecoderLayerWidths& w, const torch::TensorOptions& options);
  // `past`: keys and values of earlier tokens (a shared prefix) that the
  // queries read before their own; `keep`: receives this call's keys and
  // values.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const AttentionMask& mask, int64_t layer, const Tap& tap, const KeyValues* past = nullptr,
                        KeyValues* keep = nullptr);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE(LlamaAttention);

class LlamaMlpImpl : public torch::nn::Module {
 public:
  LlamaMlpImpl(int64_t hidden, int64_t intermediate, bool down_bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, int64_t layer, const Tap& tap);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMlp);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const TextConfig& c, const DecoderLayerWidths& w, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const AttentionMask& mask, int64_t layer, const Tap& tap, bool skip_mlp = false,
                        const KeyValues* past = nullptr, KeyValues* keep = nullptr);
  LlamaAttention self_attn{nullptr};
  LlamaMlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const TextConfig& c, const torch::TensorOptions& options);
  Embedding embed_tokens{nullptr};
  std::vector<LlamaDecoderLayer> layers;
  RMSNorm norm{nullptr};
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  LlamaForCausalLMImpl(const TextConfig& c, const torch::TensorOptions& options);
  LlamaModel model{nullptr};
  Linear lm_head{nullptr};
};
TORCH_MODULE(LlamaForCausalLM);

// ---- LLaVA ----------------------------------------------------------------------

// The rotary inverse frequencies of one head (head_dim / 2, float32) for the
// config's rope_type (default, linear, llama3), computed as transformers does.
torch::Tensor rope_inverse_frequencies(const TextConfig& text, const torch::Device& device = torch::kCPU);

// cos/sin tables [B, 1, T, head_dim] for positions [B, T], or [3, B, T]
// with the text config's mrope_section: each section of the rotary
// channels (in both halves) follows its stream, temporal, height and width
// in turn, as transformers' multimodal rotary embedding does.
std::pair<torch::Tensor, torch::Tensor> rotary_tables(const torch::Tensor& positions, const TextConfig& text,
                                                      torch::ScalarType dtype);

struct LlavaInputs {
  torch::Tensor input_ids;       // int64 [B, T]; image positions hold image_token_index
  torch::Tensor attention_mask;  // optional int64/bool [B, T], 1 = real token (left padding)
  torch::Tensor image_features;  // optional [num_images, N, D] from encode_images() (Qwen2.5-VL: [sum N_i, D])
  // Qwen2.5-VL: the patch grid of every image, in the order the prompts
  // hold them (row by row through the batch); the multimodal positions
  // follow from them.
  std::vector<PatchGrid> image_grids;
};

// Qwen2.5-VL's multimodal position ids [3, B, T] (temporal, height, width),
// as transformers' get_rope_index computes them for images: text tokens
// count on in all three streams; an image's tokens start where the text
// stands, at temporal 0, and spread over its merged rows and columns; the
// text after it continues after the largest position so far. Each run of
// image tokens takes the next grid (several in a row, when one run holds
// several images). Tokens outside the attention mask (left padding) get 1.
// The patch grid of a prepared image.
inline PatchGrid grid_of(const PreparedImage& image) { return {image.grid_t, image.grid_h, image.grid_w}; }

torch::Tensor mrope_position_ids(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                 const std::vector<PatchGrid>& grids, int64_t image_token_id, int64_t merge);

struct ForwardOptions {
  Tap tap;                          // optional
  bool last_position_only = false;  // logits for the final position only: [B, 1, V]
  // Training only (layer dropout): the first N decoder layers are passed
  // over, as if their output projections were zero.
  int64_t skip_first_layers = 0;
  // Training only (MLP dropout): bit l passes over layer l's MLP, as if its
  // down projection were zero.
  uint64_t skip_mlp_mask = 0;
};

// Prompt prefixes that several prompts share (the template and an image's
// tokens), run through the decoder once: each layer's keys and values, for
// forward_after_prefixes to read. Rows are left padded to one length.
struct PrefixCache {
  std::vector<KeyValues> layers;  // [G, kv_heads, P, head_dim] per decoder layer
  torch::Tensor valid;            // bool [G, P], false on padding
  torch::Tensor next_position;    // int64 [G]: the position of the first token after each prefix
  int64_t rows() const { return valid.defined() ? valid.size(0) : 0; }
};

class LlavaModelImpl : public torch::nn::Module {
 public:
  // allocate = false builds uninitialised CPU parameters (their untouched
  // pages take no memory; no GPU memory at all) while options() still names
  // `options`: the caller hands every parameter its tensor with set_data
  // (pruning builds models this way).
  LlavaModelImpl(const LlavaConfig& config, const torch::TensorOptions& options, bool allocate = true);

  const LlavaConfig& config() const { return config_; }
  torch::TensorOptions options() const { return options_; }

  // [num_images, C, H, W] preprocessed pixels -> [num_images, N, D] features (LLaVA).
  torch::Tensor encode_images(const torch::Tensor& pixel_values, const Tap& tap = {});
  // Qwen2.5-VL: [sum of patches, C*T*P*P] patches of images with these grids
  // -> [sum of patches / merge_unit, D] features, image after image.
  torch::Tensor encode_patches(const torch::Tensor& patches, const std::vector<PatchGrid>& grids, const Tap& tap = {});
  // Features of prepared images (prepare_image with the model folder's
  // preprocessing), image after image: [sum of image tokens, D]. The one
  // place that knows how each architecture turns an image into tokens.
  torch::Tensor encode_prepared(const std::vector<const PreparedImage*>& images, const Tap& tap = {});
  // Image tokens that a prepared image of this grid fills.
  int64_t image_tokens(const PatchGrid& grid) const;
  // Token embeddings with image features scattered over the image positions.
  torch::Tensor embed(const torch::Tensor& input_ids, const torch::Tensor& image_features);
  // Logits [B, T, V] (float32 on the model's device).
  torch::Tensor forward(const LlavaInputs& inputs, const ForwardOptions& options = {});
  // The final-normed hidden states [B, T, D] that lm_head turns into logits;
  // training applies lm_head only where it has labels.
  torch::Tensor final_hidden(const LlavaInputs& inputs, const ForwardOptions& options = {});

  // Runs prompt prefixes ([G, P], left padded, images included) through the
  // decoder and keeps their keys and values.
  PrefixCache encode_prefixes(const LlavaInputs& prefixes);
  // Logits [B, T, V] (or [B, 1, V] with last_position_only) of prompts
  // whose first tokens are prefix `prefix_rows[i]` of `cache` and whose
  // remaining tokens are row i of `suffixes` (left padded, no image
  // tokens): what forward() gives for the whole prompts, without
  // recomputing the prefixes. Taps and training options are refused.
  torch::Tensor forward_after_prefixes(const PrefixCache& cache, const torch::Tensor& prefix_rows,
                                       const LlavaInputs& suffixes, const ForwardOptions& options = {});

  // LLaVA: the CLIP tower and the projector; Qwen2.5-VL: `visual` (its
  // merger is the projector). The other architecture's stay null.
  ClipVisionModel vision_tower{nullptr};
  Projector multi_modal_projector{nullptr};
  QwenVisionTower visual{nullptr};
  LlamaForCausalLM language_model{nullptr};

 private:
  LlavaConfig config_;
  torch::TensorOptions options_;
};
TORCH_MODULE(LlavaModel);

// Parameter counts by part of the model.
struct ParameterCounts {
  int64_t language_model = 0;
  int64_t vision_tower = 0;
  int64_t projector = 0;
  std::vector<int64_t> decoder_layers;      // all parameters of each decoder layer
  std::vector<int64_t> decoder_layers_mlp;  // gate/up/down of each decoder layer
  int64_t total() const { return language_model + vision_tower + projector; }
};
ParameterCounts count_parameters(LlavaModel& model);

// Fills the model with the initialisation Hugging Face uses for training from
// scratch: normal(0, std) weights, zero biases, unit norms. std <= 0 scales
// each projection by 1/sqrt(fan_in) instead (embeddings keep 0.02). With
// tie_word_embeddings the output layer is a copy of the embedding.
void init_random(LlavaModel& model, uint64_t seed, double std = 0.02);

}  // namespace hipp
