#pragma once
// Loading and saving LLaVA checkpoint folders in the Hugging Face layout:
// config.json + model.safetensors, or sharded model-0000N-of-0000M.safetensors
// with model.safetensors.index.json. Every key layout transformers writes is
// read (the hub's language_model.model.* / vision_tower.vision_model.* /
// multi_modal_projector.*, the in-memory model.language_model.* /
// model.vision_tower.* / lm_head.*, and transformers 5's saves with the vision
// tower as vision_tower.embeddings.*, vision_tower.encoder.*); the first is
// written.
#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "model/llava.h"
#include "model/safetensors.h"

namespace hipp {

struct LoadOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
};

// Maps a checkpoint tensor name to this project's parameter name; returns an
// empty string for tensors that carry no weights (position_ids buffers and
// rotary inv_freq tables).
// Qwen2.5-VL checkpoints name the vision tower visual.* and the language
// model model.* (transformers 4.x) or model.visual.* / model.language_model.*
// (5.x in memory), the output layer lm_head.weight.
std::string canonical_tensor_name(const std::string& checkpoint_name, Architecture architecture = Architecture::Llava);
// The name a parameter is saved under: LLaVA's hub layout as is; Qwen2.5-VL's
// as its hub checkpoints have it (visual.*, model.*, lm_head.weight).
std::string saved_tensor_name(const std::string& parameter_name, Architecture architecture);

// Checks every stored tensor's name, shape and dtype against the model that
// `config` describes (built on the meta device: no weights are allocated),
// and that none is missing; errors name the file and tensor.
void check_checkpoint_shapes(const CheckpointFiles& files, const LlavaConfig& config, const std::string& dir);

// Builds the model from dir/config.json and fills it from the safetensors
// files. Tensors are read one at a time straight into the parameters, so the
// peak memory is the model plus its largest tensor. Errors name the file and
// tensor: missing, unexpected, or shaped unlike the config says. With
// tie_word_embeddings the output layer is the embedding (a stored lm_head
// that differs is an error).
LlavaModel load_llava(const std::string& dir, const LoadOptions& options = {});

struct SaveOptions {
  // Files larger than this are split into shards with an index; 0 = never split.
  uint64_t max_shard_bytes = 0;
  // Stored dtype; kFloat32/kFloat16/kBFloat16, or the model's own when unset.
  std::optional<torch::ScalarType> dtype;
};

// Writes config.json and the safetensors file(s) into `dir` (created if
// needed). Each file is written to a temporary name and renamed into place.
void save_llava(LlavaModel& model, const std::string& dir, const SaveOptions& options = {});

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  double std = 0.02;
  torch::ScalarType dtype = torch::kBFloat16;
  uint64_t max_shard_bytes = 5'000'000'000ULL;            // as save_pretrained's default 5GB
  std::function<void(const std::string& file)> progress;  // each file as it starts
};

// Writes a random-initialised checkpoint of `config` straight to `dir`
// (config.json, safetensors in `dtype`), tensor by tensor: nothing but the
// tensor being written is in memory, so a 7B-parameter model needs about its
// largest tensor (the embedding), never a float32 copy of the whole model.
// Values follow init_random's rules (normal(0, std) weights, zero biases,
// unit norms) from a generator seeded per tensor (by seed and name), so they
// differ from init_random's; a tied output layer is left out.
void write_random_checkpoint(const LlavaConfig& config, const std::string& dir,
                             const RandomCheckpointOptions& options = {});

// "f32" | "f16" | "bf16" -> scalar type; throws hipp::Error otherwise.
torch::ScalarType parse_dtype(const std::string& name);
// "cpu" | "cuda" | "cuda:N"; throws hipp::Error when CUDA is asked for and absent.
torch::Device parse_device(const std::string& name);

}  // namespace hipp
