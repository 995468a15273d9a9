#pragma once
// The LLaVA architecture as Hugging Face's config.json describes it
// (LlavaForConditionalGeneration with a CLIP vision tower and a LLaMA text
// model), plus the per-layer width extension that pruned models carry:
// text_config.layer_intermediate_size, layer_num_attention_heads,
// layer_num_key_value_heads and mlp_down_bias. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hipp {

struct VisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Widths of one decoder layer; pruned layers differ from the base config.
struct DecoderLayerWidths {
  int64_t intermediate_size = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;

  bool operator==(const DecoderLayerWidths& o) const {
    return intermediate_size == o.intermediate_size && num_attention_heads == o.num_attention_heads &&
           num_key_value_heads == o.num_key_value_heads;
  }
};

struct TextConfig {
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 128;
  int64_t vocab_size = 32000;
  int64_t max_position_embeddings = 4096;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  // RoPE scaling, from text_config.rope_parameters (transformers 5) or
  // rope_scaling (4.x): "default", "linear" (positions divided by
  // rope_factor) or "llama3" (low frequencies divided by rope_factor, high
  // ones kept, a smooth blend between); other kinds are refused by name.
  std::string rope_type = "default";
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0, rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position_embeddings = 8192;
  std::string hidden_act = "silu";
  bool tie_word_embeddings = false;
  bool mlp_down_bias = false;  // FLAP-style bias compensation after pruning
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  std::vector<DecoderLayerWidths> layers;  // one entry per decoder layer, always filled

  bool has_uniform_layers() const;
};

struct LlavaConfig {
  VisionConfig vision;
  TextConfig text;
  int64_t image_token_index = 32000;
  int64_t vision_feature_layer = -2;
  std::string vision_feature_select_strategy = "default";
  std::string projector_hidden_act = "gelu";
  bool multimodal_projector_bias = true;
  // The file as read, so that fields this project does not use survive a save.
  nlohmann::json original = nlohmann::json::object();

  // Index into the vision tower's hidden-state list (0 = embeddings).
  int64_t vision_hidden_state_index() const;
  // How many image tokens one image becomes in the language model.
  int64_t num_image_features() const;
};

// Parses a config.json object; `where` names the file in errors.
LlavaConfig parse_llava_config(const nlohmann::json& json, const std::string& where);
LlavaConfig read_llava_config(const std::string& path);
nlohmann::json llava_config_to_json(const LlavaConfig& config);
// Throws hipp::Error when sizes are inconsistent or beyond what this build
// accepts (at most kMaxConfigLayers layers, and bounds on every width).
void validate_llava_config(const LlavaConfig& config, const std::string& where);
inline constexpr int64_t kMaxConfigLayers = 1024;

// The number of parameters the config describes, from its sizes alone
// (weights, not biases or norms): what loading it will allocate.
double parameter_estimate(const LlavaConfig& config);

}  // namespace hipp
