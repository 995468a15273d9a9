#include "model/config.h"

#include <algorithm>

#include <cmath>
#include <tuple>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {
namespace {

using nlohmann::json;

VisionConfig parse_vision(const json& j, const std::string& where) {
  VisionConfig v;
  v.hidden_size = optional_field<int64_t>(j, "hidden_size", v.hidden_size, where);
  v.intermediate_size = optional_field<int64_t>(j, "intermediate_size", v.intermediate_size, where);
  v.num_hidden_layers = optional_field<int64_t>(j, "num_hidden_layers", v.num_hidden_layers, where);
  v.num_attention_heads = optional_field<int64_t>(j, "num_attention_heads", v.num_attention_heads, where);
  v.num_channels = optional_field<int64_t>(j, "num_channels", v.num_channels, where);
  v.image_size = optional_field<int64_t>(j, "image_size", v.image_size, where);
  v.patch_size = optional_field<int64_t>(j, "patch_size", v.patch_size, where);
  v.layer_norm_eps = optional_field<double>(j, "layer_norm_eps", v.layer_norm_eps, where);
  v.hidden_act = optional_field<std::string>(j, "hidden_act", v.hidden_act, where);
  return v;
}

std::vector<int64_t> per_layer(const json& j, const std::string& key, int64_t count, int64_t fallback,
                               const std::string& where) {
  auto values = optional_field<std::vector<int64_t>>(j, key, {}, where);
  if (values.empty()) return std::vector<int64_t>(static_cast<size_t>(count), fallback);
  if (static_cast<int64_t>(values.size()) != count)
    throw Error(where + ": field '" + key + "' has " + std::to_string(values.size()) +
                " entries but num_hidden_layers is " + std::to_string(count));
  return values;
}

// RoPE from transformers 5's rope_parameters ({"rope_theta", "rope_type",
// ...}) or 4.x's rope_scaling ({"rope_type" or "type", "factor", ...}).
void parse_rope(const json& j, TextConfig* t, const std::string& where) {
  const char* key = nullptr;
  for (const char* k : {"rope_parameters", "rope_scaling"})
    if (!key && j.contains(k) && !j[k].is_null()) key = k;
  if (!key) return;
  const json& r = j[key];
  const std::string at = where + " " + key;
  if (!r.is_object()) throw Error(at + ": expected an object");
  if (r.contains("rope_theta")) {
    const double theta = required_field<double>(r, "rope_theta", at);
    if (j.contains("rope_theta") && !j["rope_theta"].is_null() && j["rope_theta"].get<double>() != theta)
      throw Error(at + ": rope_theta " + std::to_string(theta) + " disagrees with rope_theta " +
                  std::to_string(t->rope_theta));
    t->rope_theta = theta;
  }
  if (r.contains("rope_type")) {
    t->rope_type = required_field<std::string>(r, "rope_type", at);
  } else if (r.contains("type")) {
    t->rope_type = required_field<std::string>(r, "type", at);
  }
  // Qwen2.5-VL: the multimodal sections ride along; "mrope" is the default
  // kind of rotation (transformers renames it so).
  if (r.contains("mrope_section")) t->mrope_section = required_field<std::vector<int64_t>>(r, "mrope_section", at);
  if (t->rope_type == "mrope") t->rope_type = "default";
  const double partial = optional_field<double>(r, "partial_rotary_factor",
                                                optional_field<double>(j, "partial_rotary_factor", 1.0, where), at);
  if (partial != 1.0) throw Error(at + ": partial_rotary_factor " + std::to_string(partial) + " is not supported");
  if (t->rope_type == "default") return;
  if (t->rope_type != "linear" && t->rope_type != "llama3")
    throw Error(at + ": rope_type '" + t->rope_type + "' is not supported (default, linear and llama3 are)");
  t->rope_factor = required_field<double>(r, "factor", at);
  if (!(t->rope_factor > 0) || !std::isfinite(t->rope_factor)) throw Error(at + ": factor must be positive");
  if (t->rope_type == "llama3") {
    t->rope_low_freq_factor = required_field<double>(r, "low_freq_factor", at);
    t->rope_high_freq_factor = required_field<double>(r, "high_freq_factor", at);
    t->rope_original_max_position_embeddings = required_field<int64_t>(r, "original_max_position_embeddings", at);
    if (!(t->rope_low_freq_factor > 0) || !(t->rope_high_freq_factor > t->rope_low_freq_factor))
      throw Error(at + ": llama3 needs 0 < low_freq_factor < high_freq_factor");
    if (t->rope_original_max_position_embeddings <= 0)
      throw Error(at + ": original_max_position_embeddings must be positive");
  }
}

TextConfig parse_text(const json& j, const std::string& where, const TextConfig& defaults = {}) {
  TextConfig t = defaults;
  t.hidden_size = optional_field<int64_t>(j, "hidden_size", t.hidden_size, where);
  t.intermediate_size = optional_field<int64_t>(j, "intermediate_size", t.intermediate_size, where);
  t.num_hidden_layers = optional_field<int64_t>(j, "num_hidden_layers", t.num_hidden_layers, where);
  t.num_attention_heads = optional_field<int64_t>(j, "num_attention_heads", t.num_attention_heads, where);
  t.num_key_value_heads =
      optional_field<int64_t>(j, "num_key_value_heads",
                              j.contains("num_attention_heads") ? t.num_attention_heads : t.num_key_value_heads, where);
  if (t.num_attention_heads <= 0) throw Error(where + ": num_attention_heads must be positive");
  t.head_dim = optional_field<int64_t>(j, "head_dim", t.hidden_size / t.num_attention_heads, where);
  t.vocab_size = optional_field<int64_t>(j, "vocab_size", t.vocab_size, where);
  t.max_position_embeddings = optional_field<int64_t>(j, "max_position_embeddings", t.max_position_embeddings, where);
  t.rms_norm_eps = optional_field<double>(j, "rms_norm_eps", t.rms_norm_eps, where);
  t.rope_theta = optional_field<double>(j, "rope_theta", t.rope_theta, where);
  parse_rope(j, &t, where);
  t.hidden_act = optional_field<std::string>(j, "hidden_act", t.hidden_act, where);
  t.tie_word_embeddings = optional_field<bool>(j, "tie_word_embeddings", t.tie_word_embeddings, where);
  t.mlp_down_bias = optional_field<bool>(j, "mlp_down_bias", t.mlp_down_bias, where);
  t.bos_token_id = optional_field<int64_t>(j, "bos_token_id", t.bos_token_id, where);
  t.eos_token_id = optional_field<int64_t>(j, "eos_token_id", t.eos_token_id, where);
  if (j.value("attention_bias", false)) throw Error(where + ": attention_bias is not supported");
  if (j.value("mlp_bias", false)) throw Error(where + ": mlp_bias is not supported");

  const int64_t n = t.num_hidden_layers;
  if (n <= 0) throw Error(where + ": num_hidden_layers must be positive");
  // Bounded before anything is allocated per layer.
  if (n > kMaxConfigLayers)
    throw Error(where + ": num_hidden_layers " + std::to_string(n) + " is more than this build accepts (" +
                std::to_string(kMaxConfigLayers) + ")");
  auto inter = per_layer(j, "layer_intermediate_size", n, t.intermediate_size, where);
  auto heads = per_layer(j, "layer_num_attention_heads", n, t.num_attention_heads, where);
  auto kv = per_layer(j, "layer_num_key_value_heads", n, t.num_key_value_heads, where);
  t.layers.resize(static_cast<size_t>(n));
  for (size_t l = 0; l < t.layers.size(); ++l) t.layers[l] = {inter[l], heads[l], kv[l]};
  return t;
}

void require_positive(int64_t value, const std::string& name, const std::string& where) {
  if (value <= 0) throw Error(where + ": " + name + " must be positive, got " + std::to_string(value));
}

bool known_activation(const std::string& act) {
  return act == "silu" || act == "gelu" || act == "gelu_pytorch_tanh" || act == "quick_gelu";
}

}  // namespace

QwenVisionConfig parse_qwen_vision_config(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) throw Error(where + ": vision_config must be an object");
  QwenVisionConfig c;
  c.depth = optional_field<int64_t>(json, "depth", c.depth, where);
  c.hidden_size = optional_field<int64_t>(json, "hidden_size", c.hidden_size, where);
  c.intermediate_size = optional_field<int64_t>(json, "intermediate_size", c.intermediate_size, where);
  c.num_heads = optional_field<int64_t>(json, "num_heads", c.num_heads, where);
  c.in_channels = optional_field<int64_t>(json, "in_channels", c.in_channels, where);
  c.patch_size = optional_field<int64_t>(json, "patch_size", c.patch_size, where);
  c.temporal_patch_size = optional_field<int64_t>(json, "temporal_patch_size", c.temporal_patch_size, where);
  c.spatial_merge_size = optional_field<int64_t>(json, "spatial_merge_size", c.spatial_merge_size, where);
  c.window_size = optional_field<int64_t>(json, "window_size", c.window_size, where);
  c.out_hidden_size = optional_field<int64_t>(json, "out_hidden_size", c.out_hidden_size, where);
  c.fullatt_block_indexes =
      optional_field<std::vector<int64_t>>(json, "fullatt_block_indexes", c.fullatt_block_indexes, where);
  c.hidden_act = optional_field<std::string>(json, "hidden_act", c.hidden_act, where);

  auto positive = [&](int64_t value, const char* field, int64_t most) {
    if (value < 1 || value > most)
      throw Error(where + ": vision_config." + field + " = " + std::to_string(value) + " is outside 1.." +
                  std::to_string(most));
  };
  positive(c.depth, "depth", 1024);
  positive(c.hidden_size, "hidden_size", 65536);
  positive(c.intermediate_size, "intermediate_size", 262144);
  positive(c.num_heads, "num_heads", 1024);
  positive(c.in_channels, "in_channels", 16);
  positive(c.patch_size, "patch_size", 1024);
  positive(c.temporal_patch_size, "temporal_patch_size", 64);
  positive(c.spatial_merge_size, "spatial_merge_size", 64);
  positive(c.window_size, "window_size", 65536);
  positive(c.out_hidden_size, "out_hidden_size", 65536);
  if (c.hidden_size % c.num_heads != 0 || c.head_dim() % 4 != 0)
    throw Error(where + ": vision_config.hidden_size " + std::to_string(c.hidden_size) + " over num_heads " +
                std::to_string(c.num_heads) + " must give a head size divisible by 4 (2-D rotary positions)");
  if (c.window_size % (c.spatial_merge_size * c.patch_size) != 0)
    throw Error(where + ": vision_config.window_size " + std::to_string(c.window_size) +
                " must be a multiple of spatial_merge_size x patch_size (" +
                std::to_string(c.spatial_merge_size * c.patch_size) + ")");
  for (int64_t index : c.fullatt_block_indexes)
    if (index < 0 || index >= c.depth)
      throw Error(where + ": vision_config.fullatt_block_indexes holds " + std::to_string(index) + ", not a block of " +
                  std::to_string(c.depth));
  if (!known_activation(c.hidden_act))
    throw Error(where + ": vision_config.hidden_act '" + c.hidden_act +
                "' is not supported (silu, gelu, gelu_pytorch_tanh, quick_gelu)");
  return c;
}

nlohmann::json qwen_vision_config_to_json(const QwenVisionConfig& c) {
  return {{"depth", c.depth},
          {"hidden_size", c.hidden_size},
          {"intermediate_size", c.intermediate_size},
          {"num_heads", c.num_heads},
          {"in_channels", c.in_channels},
          {"patch_size", c.patch_size},
          {"temporal_patch_size", c.temporal_patch_size},
          {"spatial_merge_size", c.spatial_merge_size},
          {"window_size", c.window_size},
          {"out_hidden_size", c.out_hidden_size},
          {"fullatt_block_indexes", c.fullatt_block_indexes},
          {"hidden_act", c.hidden_act}};
}

bool TextConfig::has_uniform_layers() const {
  for (const auto& w : layers)
    if (!(w == DecoderLayerWidths{intermediate_size, num_attention_heads, num_key_value_heads})) return false;
  return true;
}

int64_t LlavaConfig::vision_hidden_state_index() const {
  // hidden_states has num_hidden_layers + 1 entries (embeddings first).
  return vision_feature_layer < 0 ? vision.num_hidden_layers + 1 + vision_feature_layer : vision_feature_layer;
}

const char* architecture_name(Architecture architecture) {
  return architecture == Architecture::Qwen2_5_VL ? "qwen2_5_vl" : "llava";
}

int64_t LlavaConfig::num_image_features() const {
  if (is_qwen()) throw Error("a Qwen2.5-VL image becomes as many tokens as its size gives (no fixed count per image)");
  return vision.num_patches() + (vision_feature_select_strategy == "full" ? 1 : 0);
}

int64_t LlavaConfig::nominal_image_tokens() const { return is_qwen() ? 256 : num_image_features(); }

namespace {

// Qwen2_5_VLTextConfig's class defaults (transformers), for fields a config leaves out.
TextConfig qwen_text_defaults() {
  TextConfig t;
  t.vocab_size = 152064;
  t.hidden_size = 8192;
  t.intermediate_size = 29568;
  t.num_hidden_layers = 80;
  t.num_attention_heads = 64;
  t.num_key_value_heads = 8;
  t.max_position_embeddings = 32768;
  t.rms_norm_eps = 1e-5;
  t.rope_theta = 1000000.0;
  t.bos_token_id = 151643;
  t.eos_token_id = 151645;
  return t;
}

// transformers 4.x writes the language model's fields at the top level of a
// Qwen2.5-VL config.json; 5.x writes them under text_config. Both are read.
LlavaConfig parse_qwen_config(const json& j, const std::string& where) {
  LlavaConfig c;
  c.original = j;
  c.architecture = Architecture::Qwen2_5_VL;
  const bool nested = j.contains("text_config") && j["text_config"].is_object();
  const json& tj = nested ? j["text_config"] : j;
  const std::string text_where = nested ? where + " text_config" : where;
  c.text = parse_text(tj, text_where, qwen_text_defaults());
  if (!j.contains("tie_word_embeddings") && !tj.contains("tie_word_embeddings")) c.text.tie_word_embeddings = false;
  if (nested && !tj.contains("tie_word_embeddings") && j.contains("tie_word_embeddings"))
    c.text.tie_word_embeddings = optional_field<bool>(j, "tie_word_embeddings", false, where);
  c.text.qkv_bias = true;
  if (c.text.mrope_section.empty())
    throw Error(text_where +
                ": a Qwen2.5-VL config needs rope_scaling.mrope_section (or rope_parameters.mrope_section)");
  if (optional_field<bool>(tj, "use_sliding_window", false, text_where))
    throw Error(text_where + ": use_sliding_window is not supported");
  if (!j.contains("vision_config") || !j["vision_config"].is_object())
    throw Error(where + ": missing field 'vision_config'");
  c.qwen_vision = parse_qwen_vision_config(j["vision_config"], where + " vision_config");
  auto token = [&](const char* key, int64_t fallback) {
    return optional_field<int64_t>(j, key, optional_field<int64_t>(tj, key, fallback, text_where), where);
  };
  c.image_token_index = token("image_token_id", 151655);
  c.vision_start_token_id = token("vision_start_token_id", 151652);
  c.vision_end_token_id = token("vision_end_token_id", 151653);
  validate_llava_config(c, where);
  return c;
}

}  // namespace

LlavaConfig parse_llava_config(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  if (j.contains("model_type") && j["model_type"] == "qwen2_5_vl") return parse_qwen_config(j, where);
  LlavaConfig c;
  c.original = j;
  if (j.contains("model_type") && j["model_type"].is_string() && j["model_type"] != "llava")
    throw Error(where + ": model_type is '" + j["model_type"].get<std::string>() +
                "'; this build reads 'llava' and 'qwen2_5_vl'");
  if (!j.contains("text_config") || !j["text_config"].is_object()) throw Error(where + ": missing field 'text_config'");
  if (!j.contains("vision_config") || !j["vision_config"].is_object())
    throw Error(where + ": missing field 'vision_config'");
  c.text = parse_text(j["text_config"], where + " text_config");
  c.vision = parse_vision(j["vision_config"], where + " vision_config");
  c.image_token_index = optional_field<int64_t>(j, "image_token_index", c.image_token_index, where);
  // Newer transformers name it image_token_id.
  if (j.contains("image_token_id") && !j["image_token_id"].is_null()) {
    const auto id = optional_field<int64_t>(j, "image_token_id", c.image_token_index, where);
    if (j.contains("image_token_index") && !j["image_token_index"].is_null() && id != c.image_token_index)
      throw Error(where + ": image_token_id " + std::to_string(id) + " disagrees with image_token_index " +
                  std::to_string(c.image_token_index));
    c.image_token_index = id;
  }
  if (j.contains("vision_feature_layer") && j["vision_feature_layer"].is_array())
    throw Error(where + ": a list of vision_feature_layer values is not supported");
  c.vision_feature_layer = optional_field<int64_t>(j, "vision_feature_layer", c.vision_feature_layer, where);
  c.vision_feature_select_strategy =
      optional_field<std::string>(j, "vision_feature_select_strategy", c.vision_feature_select_strategy, where);
  c.projector_hidden_act = optional_field<std::string>(j, "projector_hidden_act", c.projector_hidden_act, where);
  c.multimodal_projector_bias =
      optional_field<bool>(j, "multimodal_projector_bias", c.multimodal_projector_bias, where);
  // The language model's own tie_word_embeddings decides; the top-level one
  // (transformers 5 writes it there too) counts when text_config has none.
  if (!j["text_config"].contains("tie_word_embeddings") && j.contains("tie_word_embeddings") &&
      !j["tie_word_embeddings"].is_null())
    c.text.tie_word_embeddings = optional_field<bool>(j, "tie_word_embeddings", false, where);
  validate_llava_config(c, where);
  return c;
}

LlavaConfig read_llava_config(const std::string& path) { return parse_llava_config(read_json_file(path), path); }

namespace {

void validate_text(const TextConfig& t, const std::string& where) {
  for (auto [value, name] :
       {std::pair{t.hidden_size, "text hidden_size"}, {t.head_dim, "text head_dim"}, {t.vocab_size, "text vocab_size"}})
    require_positive(value, name, where);
  for (auto [value, limit, name] : {std::tuple{t.hidden_size, int64_t{1} << 16, "text hidden_size"},
                                    {t.head_dim, int64_t{1} << 12, "text head_dim"},
                                    {t.vocab_size, int64_t{1} << 22, "text vocab_size"},
                                    {t.max_position_embeddings, int64_t{1} << 24, "text max_position_embeddings"}})
    if (value > limit)
      throw Error(where + ": " + name + " " + std::to_string(value) + " is more than this build accepts (" +
                  std::to_string(limit) + ")");
  if (!(t.rope_theta > 0) || !std::isfinite(t.rope_theta))
    throw Error(where + ": text rope_theta must be positive, got " + std::to_string(t.rope_theta));
  if (!(t.rms_norm_eps >= 0) || !std::isfinite(t.rms_norm_eps))
    throw Error(where + ": text rms_norm_eps must be non-negative, got " + std::to_string(t.rms_norm_eps));
  if (t.hidden_act != "silu") throw Error(where + ": text hidden_act '" + t.hidden_act + "' is not supported");
  if (!t.mrope_section.empty()) {
    int64_t sum = 0;
    for (int64_t s : t.mrope_section) {
      if (s < 0) throw Error(where + ": mrope_section entries must not be negative");
      sum += s;
    }
    if (t.mrope_section.size() != 3 || sum != t.head_dim / 2)
      throw Error(where + ": mrope_section must be three sections adding up to head_dim / 2 (" +
                  std::to_string(t.head_dim / 2) + ")");
  }
  if (static_cast<int64_t>(t.layers.size()) != t.num_hidden_layers)
    throw Error(where + ": per-layer widths do not match num_hidden_layers");
  for (size_t l = 0; l < t.layers.size(); ++l) {
    const auto& w = t.layers[l];
    const std::string layer = where + ": decoder layer " + std::to_string(l);
    if (w.intermediate_size <= 0) throw Error(layer + " intermediate size must be positive");
    if (w.num_attention_heads <= 0 || w.num_key_value_heads <= 0) throw Error(layer + " head counts must be positive");
    if (w.intermediate_size > (int64_t{1} << 20) || w.num_attention_heads > (int64_t{1} << 12))
      throw Error(layer +
                  " is wider than this build accepts (intermediate_size at most 1048576, "
                  "num_attention_heads at most 4096)");
    if (w.num_attention_heads % w.num_key_value_heads != 0)
      throw Error(layer + " num_attention_heads is not a multiple of num_key_value_heads");
  }
}

}  // namespace

void validate_llava_config(const LlavaConfig& c, const std::string& where) {
  const auto& t = c.text;
  validate_text(t, where);
  if (c.is_qwen()) {
    // parse_qwen_vision_config checked the tower; the merger must feed the decoder.
    if (c.qwen_vision.out_hidden_size != t.hidden_size)
      throw Error(where + ": vision_config.out_hidden_size " + std::to_string(c.qwen_vision.out_hidden_size) +
                  " differs from the language model's hidden_size " + std::to_string(t.hidden_size));
    if (t.mrope_section.empty()) throw Error(where + ": a Qwen2.5-VL model needs mrope_section");
    for (int64_t id : {c.image_token_index, c.vision_start_token_id, c.vision_end_token_id})
      if (id < 0 || id >= t.vocab_size)
        throw Error(where + ": image/vision token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(t.vocab_size));
    return;
  }
  const auto& v = c.vision;
  for (auto [value, name] : {std::pair{v.hidden_size, "vision hidden_size"},
                             {v.intermediate_size, "vision intermediate_size"},
                             {v.num_hidden_layers, "vision num_hidden_layers"},
                             {v.num_attention_heads, "vision num_attention_heads"},
                             {v.image_size, "vision image_size"},
                             {v.patch_size, "vision patch_size"},
                             {v.num_channels, "vision num_channels"}})
    require_positive(value, name, where);
  // Far above any published model, far below what would overflow a size or
  // exhaust memory before the checkpoint is even compared with the config.
  for (auto [value, limit, name] : {std::tuple{v.hidden_size, int64_t{1} << 16, "vision hidden_size"},
                                    {v.intermediate_size, int64_t{1} << 20, "vision intermediate_size"},
                                    {v.num_hidden_layers, kMaxConfigLayers, "vision num_hidden_layers"},
                                    {v.num_attention_heads, int64_t{1} << 12, "vision num_attention_heads"},
                                    {v.image_size, int64_t{1} << 14, "vision image_size"},
                                    {v.num_channels, int64_t{64}, "vision num_channels"}})
    if (value > limit)
      throw Error(where + ": " + name + " " + std::to_string(value) + " is more than this build accepts (" +
                  std::to_string(limit) + ")");
  if (!(v.layer_norm_eps >= 0) || !std::isfinite(v.layer_norm_eps))
    throw Error(where + ": vision layer_norm_eps must be non-negative, got " + std::to_string(v.layer_norm_eps));
  if (v.hidden_size % v.num_attention_heads != 0)
    throw Error(where + ": vision hidden_size is not a multiple of num_attention_heads");
  if (v.image_size % v.patch_size != 0) throw Error(where + ": vision image_size is not a multiple of patch_size");
  if (v.hidden_act != "quick_gelu" && v.hidden_act != "gelu")
    throw Error(where + ": vision hidden_act '" + v.hidden_act + "' is not supported");
  if (c.projector_hidden_act != "gelu")
    throw Error(where + ": projector_hidden_act '" + c.projector_hidden_act + "' is not supported");
  const int64_t index = c.vision_hidden_state_index();
  if (index < 1 || index > v.num_hidden_layers)
    throw Error(where + ": vision_feature_layer " + std::to_string(c.vision_feature_layer) +
                " is outside the vision tower's " + std::to_string(v.num_hidden_layers) + " layers");
  if (c.vision_feature_select_strategy != "default" && c.vision_feature_select_strategy != "full")
    throw Error(where + ": vision_feature_select_strategy '" + c.vision_feature_select_strategy + "' is not supported");
  if (!t.mrope_section.empty()) throw Error(where + ": mrope_section belongs to Qwen2.5-VL, not LLaVA");
}

namespace {

// The language model's sizes and settings, as both architectures name them.
void write_text_fields(const TextConfig& t, json& tj) {
  tj["hidden_size"] = t.hidden_size;
  tj["intermediate_size"] = t.intermediate_size;
  tj["num_hidden_layers"] = t.num_hidden_layers;
  tj["num_attention_heads"] = t.num_attention_heads;
  tj["num_key_value_heads"] = t.num_key_value_heads;
  tj["head_dim"] = t.head_dim;
  tj["vocab_size"] = t.vocab_size;
  tj["max_position_embeddings"] = t.max_position_embeddings;
  tj["rms_norm_eps"] = t.rms_norm_eps;
  tj["rope_theta"] = t.rope_theta;
  tj["hidden_act"] = t.hidden_act;
  tj["tie_word_embeddings"] = t.tie_word_embeddings;
  tj["bos_token_id"] = t.bos_token_id;
  tj["eos_token_id"] = t.eos_token_id;
}

// The per-layer widths a pruned model carries (this project's extension).
void write_layer_widths(const TextConfig& t, json& tj) {
  for (const char* key :
       {"layer_intermediate_size", "layer_num_attention_heads", "layer_num_key_value_heads", "mlp_down_bias"})
    tj.erase(key);
  if (t.mlp_down_bias) tj["mlp_down_bias"] = true;
  if (!t.has_uniform_layers()) {
    json inter = json::array(), heads = json::array(), kv = json::array();
    for (const auto& w : t.layers) {
      inter.push_back(w.intermediate_size);
      heads.push_back(w.num_attention_heads);
      kv.push_back(w.num_key_value_heads);
    }
    tj["layer_intermediate_size"] = inter;
    tj["layer_num_attention_heads"] = heads;
    tj["layer_num_key_value_heads"] = kv;
  }
}

// Qwen2.5-VL as transformers 4.x writes it (the language model's fields at
// the top level), which transformers 5 reads too; a config read in 5.x's
// nested layout is written back nested.
json qwen_config_to_json(const LlavaConfig& c) {
  json j = c.original.is_object() ? c.original : json::object();
  j["architectures"] = {"Qwen2_5_VLForConditionalGeneration"};
  j["model_type"] = "qwen2_5_vl";
  j["image_token_id"] = c.image_token_index;
  j["vision_start_token_id"] = c.vision_start_token_id;
  j["vision_end_token_id"] = c.vision_end_token_id;
  json& v = j["vision_config"];
  if (!v.is_object()) v = json::object();
  const json vision = qwen_vision_config_to_json(c.qwen_vision);
  for (const auto& [key, value] : vision.items()) v[key] = value;
  const bool nested = j.contains("text_config") && j["text_config"].is_object();
  json& tj = nested ? j["text_config"] : j;
  const auto& t = c.text;
  write_text_fields(t, tj);
  if (t.head_dim == t.hidden_size / t.num_attention_heads) tj.erase("head_dim");  // Qwen2 derives it
  tj.erase("rope_scaling");
  tj.erase("rope_parameters");
  if (nested) {
    tj["rope_parameters"] = {
        {"rope_type", "default"}, {"rope_theta", t.rope_theta}, {"mrope_section", t.mrope_section}};
  } else {
    tj["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", t.mrope_section}};
  }
  write_layer_widths(t, tj);
  return j;
}

}  // namespace

json llava_config_to_json(const LlavaConfig& c) {
  if (c.is_qwen()) return qwen_config_to_json(c);
  json j = c.original.is_object() ? c.original : json::object();
  j["architectures"] = {"LlavaForConditionalGeneration"};
  j["model_type"] = "llava";
  j["image_token_index"] = c.image_token_index;
  j["vision_feature_layer"] = c.vision_feature_layer;
  j["vision_feature_select_strategy"] = c.vision_feature_select_strategy;
  j["projector_hidden_act"] = c.projector_hidden_act;
  j["multimodal_projector_bias"] = c.multimodal_projector_bias;

  json& v = j["vision_config"];
  if (!v.is_object()) v = json::object();
  v["model_type"] = "clip_vision_model";
  v["hidden_size"] = c.vision.hidden_size;
  v["intermediate_size"] = c.vision.intermediate_size;
  v["num_hidden_layers"] = c.vision.num_hidden_layers;
  v["num_attention_heads"] = c.vision.num_attention_heads;
  v["num_channels"] = c.vision.num_channels;
  v["image_size"] = c.vision.image_size;
  v["patch_size"] = c.vision.patch_size;
  v["layer_norm_eps"] = c.vision.layer_norm_eps;
  v["hidden_act"] = c.vision.hidden_act;

  const auto& t = c.text;
  json& tj = j["text_config"];
  if (!tj.is_object()) tj = json::object();
  tj["model_type"] = "llama";
  write_text_fields(t, tj);
  write_layer_widths(t, tj);
  return j;
}

double parameter_estimate(const LlavaConfig& c) {
  const auto& v = c.vision;
  const auto& t = c.text;
  const double vh = static_cast<double>(v.hidden_size), th = static_cast<double>(t.hidden_size);
  if (c.is_qwen()) {
    const auto& q = c.qwen_vision;
    const double d = static_cast<double>(q.hidden_size), merged = d * static_cast<double>(q.merge_unit());
    double count = static_cast<double>(q.patch_dim()) * d +
                   static_cast<double>(q.depth) * (4 * d * d + 3 * d * static_cast<double>(q.intermediate_size)) +
                   merged * merged + merged * static_cast<double>(q.out_hidden_size) +
                   2 * th * static_cast<double>(t.vocab_size);
    for (const auto& w : t.layers)
      count += th * static_cast<double>(t.head_dim) * (2.0 * w.num_attention_heads + 2.0 * w.num_key_value_heads) +
               3 * th * static_cast<double>(w.intermediate_size);
    return count;
  }
  double count = static_cast<double>(v.num_channels) * v.patch_size * v.patch_size * vh +
                 (static_cast<double>(v.num_patches()) + 1) * vh +
                 static_cast<double>(v.num_hidden_layers) * (4 * vh * vh + 2 * vh * v.intermediate_size) + vh * th +
                 th * th + 2 * th * static_cast<double>(t.vocab_size);
  for (const auto& w : t.layers)
    count += th * static_cast<double>(t.head_dim) * (2.0 * w.num_attention_heads + 2.0 * w.num_key_value_heads) +
             3 * th * static_cast<double>(w.intermediate_size);
  return count;
}

}  // namespace hipp
