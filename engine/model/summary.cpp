#include "model/summary.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "model/checkpoint.h"
#include "model/safetensors.h"

namespace hipp {
namespace fs = std::filesystem;

ModelSummary summarize_model_folder(const std::string& dir) {
  ModelSummary s;
  s.dir = dir;
  s.config = read_llava_config((fs::path(dir) / "config.json").string());
  const auto files = open_checkpoint_files(dir);
  // Headers only: a config that does not describe the stored tensors is an
  // error here too, not a summary of a model that is not there.
  check_checkpoint_shapes(files, s.config, dir);
  s.files = files.shards.size();
  s.decoder_layer_params.assign(s.config.text.layers.size(), 0);
  const std::string layer_prefix = "language_model.model.layers.";
  for (const auto& shard : files.shards)
    for (const auto& t : shard.tensors) {
      const std::string name = canonical_tensor_name(t.name, s.config.architecture);
      if (name.empty()) continue;
      s.dtypes[dtype_name(t.dtype)] += 1;
      const int64_t n = t.numel();
      if (name.rfind("language_model.", 0) == 0) {
        s.language_model_params += n;
        if (name.rfind(layer_prefix, 0) == 0) {
          const size_t layer = std::stoul(name.substr(layer_prefix.size()));
          if (layer < s.decoder_layer_params.size()) s.decoder_layer_params[layer] += n;
        }
      } else if (name.rfind("vision_tower.", 0) == 0 ||
                 (name.rfind("visual.", 0) == 0 && name.rfind("visual.merger.", 0) != 0)) {
        s.vision_tower_params += n;
      } else {
        s.projector_params += n;
      }
    }
  return s;
}

nlohmann::json summary_to_json(const ModelSummary& s) {
  const auto& c = s.config;
  nlohmann::json layers = nlohmann::json::array();
  for (size_t l = 0; l < c.text.layers.size(); ++l) {
    const auto& w = c.text.layers[l];
    layers.push_back({{"layer", l},
                      {"intermediate_size", w.intermediate_size},
                      {"num_attention_heads", w.num_attention_heads},
                      {"num_key_value_heads", w.num_key_value_heads},
                      {"parameters", s.decoder_layer_params[l]}});
  }
  const nlohmann::json parameters = {{"language_model", s.language_model_params},
                                     {"vision_tower", s.vision_tower_params},
                                     {"projector", s.projector_params},
                                     {"total", s.total_params()}};
  nlohmann::json text = {{"hidden_size", c.text.hidden_size},
                         {"num_hidden_layers", c.text.num_hidden_layers},
                         {"head_dim", c.text.head_dim},
                         {"vocab_size", c.text.vocab_size},
                         {"rope_theta", c.text.rope_theta},
                         {"rms_norm_eps", c.text.rms_norm_eps},
                         {"uniform_layers", c.text.has_uniform_layers()},
                         {"layers", layers}};
  if (c.is_qwen()) {
    text["mrope_section"] = c.text.mrope_section;
    return {{"dir", s.dir},
            {"architecture", "Qwen2_5_VLForConditionalGeneration"},
            {"vision", qwen_vision_config_to_json(c.qwen_vision)},
            {"text", text},
            {"image_token_index", c.image_token_index},
            {"image_features", "dynamic"},
            {"files", s.files},
            {"dtypes", s.dtypes},
            {"parameters", parameters}};
  }
  return {
      {"dir", s.dir},
      {"architecture", "LlavaForConditionalGeneration"},
      {"vision",
       {{"image_size", c.vision.image_size},
        {"patch_size", c.vision.patch_size},
        {"hidden_size", c.vision.hidden_size},
        {"intermediate_size", c.vision.intermediate_size},
        {"num_hidden_layers", c.vision.num_hidden_layers},
        {"num_attention_heads", c.vision.num_attention_heads},
        {"feature_layer", c.vision_feature_layer},
        {"feature_select_strategy", c.vision_feature_select_strategy}}},
      {"text", text},
      {"image_token_index", c.image_token_index},
      {"image_features", c.num_image_features()},
      {"files", s.files},
      {"dtypes", s.dtypes},
      {"parameters", parameters},
  };
}

namespace {

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

std::string summary_to_text(const ModelSummary& s) {
  const auto& c = s.config;
  std::ostringstream out;
  out << "model          " << s.dir << "\n";
  if (c.is_qwen()) {
    const auto& q = c.qwen_vision;
    out << "architecture   Qwen2_5_VLForConditionalGeneration (windowed ViT + patch merger + Qwen2, M-RoPE)\n"
        << "vision tower   patch " << q.patch_size << " (x" << q.temporal_patch_size << " frames), hidden "
        << q.hidden_size << ", " << q.depth << " blocks, " << q.num_heads << " heads, MLP " << q.intermediate_size
        << ", windows of " << q.window_size << "px, full attention in " << q.fullatt_block_indexes.size() << " blocks\n"
        << "merger         " << q.spatial_merge_size << "x" << q.spatial_merge_size << " patches -> "
        << q.out_hidden_size << "\n"
        << "language model hidden " << c.text.hidden_size << ", " << c.text.num_hidden_layers << " layers, head_dim "
        << c.text.head_dim << ", vocab " << c.text.vocab_size << ", rope_theta " << c.text.rope_theta
        << ", mrope_section " << c.text.mrope_section[0] << "/" << c.text.mrope_section[1] << "/"
        << c.text.mrope_section[2] << (c.text.tie_word_embeddings ? ", tied embeddings" : "") << "\n"
        << "image tokens   one per " << q.spatial_merge_size << "x" << q.spatial_merge_size
        << " patches of the resized image (token id " << c.image_token_index << ")\n";
  } else {
    out << "architecture   LlavaForConditionalGeneration (CLIP ViT + projector + LLaMA)\n"
        << "vision tower   " << c.vision.image_size << "px images, patch " << c.vision.patch_size << ", hidden "
        << c.vision.hidden_size << ", " << c.vision.num_hidden_layers << " layers, " << c.vision.num_attention_heads
        << " heads, MLP " << c.vision.intermediate_size << ", features from layer " << c.vision_feature_layer << " ("
        << c.vision_feature_select_strategy << ")\n"
        << "projector      " << c.vision.hidden_size << " -> " << c.text.hidden_size << " -> " << c.text.hidden_size
        << " (GELU)\n"
        << "language model hidden " << c.text.hidden_size << ", " << c.text.num_hidden_layers << " layers, head_dim "
        << c.text.head_dim << ", vocab " << c.text.vocab_size << ", rope_theta " << c.text.rope_theta << "\n"
        << "image tokens   " << c.num_image_features() << " per image (token id " << c.image_token_index << ")\n";
  }
  out << "checkpoint     " << s.files << (s.files == 1 ? " file" : " files") << ",";
  for (const auto& [dtype, count] : s.dtypes) out << " " << count << " " << dtype;
  out << " tensors\n\n";
  out << "layer  mlp_width  heads  kv_heads  parameters\n";
  for (size_t l = 0; l < c.text.layers.size(); ++l) {
    const auto& w = c.text.layers[l];
    char line[128];
    std::snprintf(line, sizeof line, "%5zu  %9lld  %5lld  %8lld  %10s\n", l,
                  static_cast<long long>(w.intermediate_size), static_cast<long long>(w.num_attention_heads),
                  static_cast<long long>(w.num_key_value_heads), with_commas(s.decoder_layer_params[l]).c_str());
    out << line;
  }
  out << "\nparameters     language model " << with_commas(s.language_model_params) << ", vision tower "
      << with_commas(s.vision_tower_params) << ", projector " << with_commas(s.projector_params) << ", total "
      << with_commas(s.total_params()) << "\n";
  return out.str();
}

}  // namespace hipp
