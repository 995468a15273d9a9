#include "model/checkpoint.h"

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "core/error.h"
#include "core/memory.h"
#include "core/json_fields.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

const std::string kLmHead = "language_model.lm_head.weight";

}  // namespace

std::string canonical_tensor_name(const std::string& name, Architecture architecture) {
  if (ends_with(name, "position_ids") || ends_with(name, "rotary_emb.inv_freq")) return "";
  if (architecture == Architecture::Qwen2_5_VL) {
    if (name == "lm_head.weight") return kLmHead;
    if (starts_with(name, "model.visual.")) return name.substr(6);
    if (starts_with(name, "model.language_model.")) return "language_model.model." + name.substr(21);
    if (starts_with(name, "model.")) return "language_model.model." + name.substr(6);
    return name;
  }
  static const std::pair<const char*, const char*> kNewLayout[] = {
      {"model.language_model.", "language_model.model."},
      {"model.vision_tower.", "vision_tower."},
      {"model.multi_modal_projector.", "multi_modal_projector."},
  };
  std::string out = name;
  for (const auto& [from, to] : kNewLayout)
    if (starts_with(name, from)) out = to + name.substr(std::string(from).size());
  if (out == "lm_head.weight") return "language_model.lm_head.weight";
  // transformers 5 saves the vision tower without CLIPVisionModel's
  // "vision_model." level: vision_tower.embeddings.*, vision_tower.encoder.*.
  static const std::string kTower = "vision_tower.";
  if (starts_with(out, kTower) && !starts_with(out, kTower + "vision_model."))
    out = kTower + "vision_model." + out.substr(kTower.size());
  return out;
}

std::string saved_tensor_name(const std::string& name, Architecture architecture) {
  if (architecture != Architecture::Qwen2_5_VL) return name;
  if (name == kLmHead) return "lm_head.weight";
  if (starts_with(name, "language_model.model.")) return "model." + name.substr(21);
  return name;
}

void check_checkpoint_shapes(const CheckpointFiles& files, const LlavaConfig& config, const std::string& dir) {
  // The model config.json describes, on the meta device: shapes, no memory.
  LlavaModel shapes(config, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kMeta));
  auto params = shapes->named_parameters();
  std::set<std::string> filled;
  for (const auto& [checkpoint_name, shard_index] : files.tensor_shard) {
    const std::string name = canonical_tensor_name(checkpoint_name, config.architecture);
    if (name.empty()) continue;
    const auto& shard = files.shards[shard_index];
    const auto* param = params.find(name);
    if (!param)
      throw Error(shard.path + ": unexpected tensor '" + checkpoint_name +
                  "' (not part of the model that config.json describes)");
    const auto* entry = shard.find(checkpoint_name);
    if (entry->shape != param->sizes().vec())
      throw Error(shard.path + ": tensor '" + checkpoint_name + "' has shape " + shape_text(entry->shape) +
                  " but config.json implies " + shape_text(param->sizes().vec()));
    if (!filled.insert(name).second) throw Error(shard.path + ": tensor '" + checkpoint_name + "' appears twice");
    const auto dtype = entry->dtype;
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16 && dtype != DType::F64)
      throw Error(shard.path + ": tensor '" + checkpoint_name + "' has non-float dtype " + dtype_name(dtype));
  }
  for (const auto& p : params)
    if (!filled.count(p.key()) && !(p.key() == kLmHead && config.text.tie_word_embeddings))
      throw Error(dir + ": checkpoint is missing tensor '" + p.key() + "'");
}

LlavaModel load_llava(const std::string& dir, const LoadOptions& options) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_directory(dir)) throw Error(dir + ": not a model folder");
  auto config = read_llava_config(config_path);
  auto files = open_checkpoint_files(dir);
  check_checkpoint_shapes(files, config, dir);
  if (options.device.is_cpu())
    require_memory(parameter_estimate(config) * static_cast<double>(c10::elementSize(options.dtype)),
                   dir + ": loading the model");

  torch::NoGradGuard no_grad;
  LlavaModel model(config, torch::TensorOptions().dtype(options.dtype).device(options.device));
  auto params = model->named_parameters();
  bool has_lm_head = false;
  for (const auto& [checkpoint_name, shard_index] : files.tensor_shard) {
    const std::string name = canonical_tensor_name(checkpoint_name, config.architecture);
    if (name.empty()) continue;
    const auto& shard = files.shards[shard_index];
    auto& param = params[name];
    param.copy_(read_tensor(shard, *shard.find(checkpoint_name)));
    // A NaN or infinite weight makes every answer garbage (a model that always
    // says "yes" scores POPE F1 0.75): refused here, on the tensor's device.
    if (!torch::isfinite(param).all().item<bool>())
      throw Error(shard.path + ": tensor '" + checkpoint_name + "' holds NaN or infinite values");
    has_lm_head |= name == kLmHead;
  }
  if (config.text.tie_word_embeddings) {
    // Tied: the output layer is the input embedding, as transformers ties it;
    // a stored lm_head that says otherwise is refused, not silently dropped.
    auto& embedding = params["language_model.model.embed_tokens.weight"];
    if (has_lm_head && !torch::equal(params[kLmHead], embedding))
      throw Error(dir +
                  ": config.json sets tie_word_embeddings but the stored lm_head.weight differs from "
                  "embed_tokens.weight; set tie_word_embeddings to false to use the stored lm_head");
    params[kLmHead].copy_(embedding);
  }
  model->eval();
  return model;
}

namespace {

// Writes config.json and the tensors of `sources` (in order, each made when
// due) as one file or shards of at most max_shard_bytes with an index.
void write_checkpoint(const LlavaConfig& config, const std::vector<TensorSource>& sources, const std::string& dir,
                      uint64_t max_shard_bytes, torch::ScalarType stored,
                      const std::function<void(const std::string&)>& progress) {
  fs::create_directories(dir);
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  // Group tensors into shards of at most max_shard_bytes (a tensor larger than
  // the limit gets a shard of its own).
  std::vector<std::vector<TensorSource>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const auto& source : sources) {
    const uint64_t bytes = source.bytes();
    if (max_shard_bytes && shard_bytes > 0 && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(source);
    shard_bytes += bytes;
    total += bytes;
  }

  const fs::path root(dir);
  // Files of an earlier save in the other layout would confuse the loader.
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string file = entry.path().filename().string();
    if (file == "model.safetensors" || file == "model.safetensors.index.json" ||
        (starts_with(file, "model-") && ends_with(file, ".safetensors")))
      fs::remove(entry.path());
  }
  if (shards.size() == 1) {
    if (progress) progress("model.safetensors");
    write_safetensors_streaming((root / "model.safetensors").string(), shards[0], metadata);
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t s = 0; s < shards.size(); ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
      if (progress) progress(name);
      write_safetensors_streaming((root / name).string(), shards[s], metadata);
      for (const auto& source : shards[s]) weight_map[source.name] = name;
    }
    write_json_file((root / "model.safetensors.index.json").string(),
                    {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
  }
  auto config_json = llava_config_to_json(config);
  config_json["torch_dtype"] = stored == torch::kFloat16    ? "float16"
                               : stored == torch::kBFloat16 ? "bfloat16"
                                                            : "float32";
  write_json_file((root / "config.json").string(), config_json);
}

}  // namespace

void save_llava(LlavaModel& model, const std::string& dir, const SaveOptions& options) {
  const auto& config = model->config();
  const auto stored = options.dtype.value_or(model->options().dtype().toScalarType());
  std::vector<TensorSource> sources;
  for (const auto& p : model->named_parameters()) {
    // A tied output layer is the embedding: Qwen2.5-VL checkpoints leave it out.
    if (config.is_qwen() && config.text.tie_word_embeddings && p.key() == kLmHead) continue;
    auto t = p.value().detach();
    // Converted one tensor at a time as the file is written.
    sources.push_back({saved_tensor_name(p.key(), config.architecture), t.sizes().vec(), stored, [t] { return t; }});
  }
  write_checkpoint(config, sources, dir, options.max_shard_bytes, stored, nullptr);
}

void write_random_checkpoint(const LlavaConfig& config, const std::string& dir,
                             const RandomCheckpointOptions& options) {
  validate_llava_config(config, dir + "/config.json");
  // The model on the meta device: names and shapes, no weights.
  LlavaModel meta(config, torch::TensorOptions().device(torch::kMeta).dtype(torch::kFloat32));
  std::vector<TensorSource> sources;
  for (const auto& p : meta->named_parameters()) {
    const std::string name = p.key();
    if (config.text.tie_word_embeddings && name == kLmHead) continue;  // the embedding
    const bool is_norm = name.find("norm") != std::string::npos || name.find(".ln_q.") != std::string::npos;
    const bool is_bias = ends_with(name, ".bias");
    const auto shape = p.value().sizes().vec();
    const uint64_t seed = options.seed * 1000003ULL + std::hash<std::string>{}(name);
    const double std = options.std;
    sources.push_back({saved_tensor_name(name, config.architecture), shape, options.dtype, [=] {
                         if (is_bias) return torch::zeros(shape);
                         if (is_norm) return torch::ones(shape);
                         auto generator = at::detail::createCPUGenerator(seed);
                         return at::normal(0.0, std, shape, generator, torch::TensorOptions().dtype(torch::kFloat32));
                       }});
  }
  write_checkpoint(config, sources, dir, options.max_shard_bytes, options.dtype, options.progress);
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "f32" || name == "float32") return torch::kFloat32;
  if (name == "f16" || name == "float16") return torch::kFloat16;
  if (name == "bf16" || name == "bfloat16") return torch::kBFloat16;
  throw Error("unknown dtype '" + name + "' (expected f32, f16 or bf16)");
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (starts_with(name, "cuda")) {
    if (!torch::cuda::is_available())
      throw Error("--device " + name + ": this LibTorch build has no usable CUDA device");
    try {
      return torch::Device(name);
    } catch (const std::exception&) {
      throw Error("invalid device '" + name + "'");
    }
  }
  throw Error("unknown device '" + name + "' (expected cpu or cuda)");
}

}  // namespace hipp
