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

// Field defaults: transformers' Qwen2_5_VLVisionConfig class defaults.
struct QwenVisionConfig {
  int64_t depth = 32;
  int64_t hidden_size = 3584;
  int64_t intermediate_size = 3420;
  int64_t num_heads = 16;
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t spatial_merge_size = 2;
  int64_t window_size = 112;  // pixels
  int64_t out_hidden_size = 3584;
  std::vector<int64_t> fullatt_block_indexes{7, 15, 23, 31};
  std::string hidden_act = "silu";

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Inputs per patch: C x T x P x P.
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  // Patches joined into one language-model token.
  int64_t merge_unit() const { return spatial_merge_size * spatial_merge_size; }
  // Window side in merged units.
  int64_t window_units() const { return window_size / spatial_merge_size / patch_size; }
};

// One image's (or video's) grid in patches: t frames, h x w patches.
struct PatchGrid {
  int64_t t = 1, h = 0, w = 0;
  int64_t patches() const { return t * h * w; }
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
  bool qkv_bias = false;       // biases on q_proj, k_proj and v_proj (Qwen2), none on o_proj
  // Multimodal RoPE (Qwen2.5-VL): the rotary channels split into sections
  // that follow the temporal, height and width position streams in turn;
  // empty = ordinary 1-D RoPE. The sections add up to head_dim / 2.
  std::vector<int64_t> mrope_section;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  std::vector<DecoderLayerWidths> layers;  // one entry per decoder layer, always filled

  bool has_uniform_layers() const;
};

// Which vision-language model a config.json describes; config.json decides
// (model_type "llava" or "qwen2_5_vl"), nothing else does.
enum class Architecture { Llava, Qwen2_5_VL };
const char* architecture_name(Architecture architecture);

// Either backbone (the name is the first one's): LLaVA uses `vision` (CLIP)
// and the projector fields; Qwen2.5-VL uses `qwen_vision`, whose merger is
// its projector, and the vision start/end token ids.
struct LlavaConfig {
  Architecture architecture = Architecture::Llava;
  VisionConfig vision;
  QwenVisionConfig qwen_vision;
  int64_t vision_start_token_id = -1, vision_end_token_id = -1;
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
  // How many image tokens one image becomes in the language model (LLaVA:
  // fixed; Qwen2.5-VL: it depends on the image, and asking is an Error).
  int64_t num_image_features() const;
  // Image tokens the cost estimates assume for one image: LLaVA's fixed
  // count; for Qwen2.5-VL 256, what a 448 x 448 image gives the released
  // models (patch 14, merge 2), whatever the tower's patch size.
  int64_t nominal_image_tokens() const;
  bool is_qwen() const { return architecture == Architecture::Qwen2_5_VL; }
};

// A Qwen2.5-VL vision_config object as transformers writes it; fields it
// leaves out take the class defaults above (Qwen2.5-VL configs are sparse).
// Sizes that cannot work are an Error naming the field.
QwenVisionConfig parse_qwen_vision_config(const nlohmann::json& json, const std::string& where);
nlohmann::json qwen_vision_config_to_json(const QwenVisionConfig& config);

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
