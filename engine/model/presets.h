#pragma once
// Named model shapes and random-initialised LLaVA checkpoints for tests and
// benchmarks. `micro` runs in milliseconds; `tiny` has the demo model's shape.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/config.h"

namespace hipp {

// Known preset names, for help texts (LLaVA: the demo trains these).
std::vector<std::string> preset_names();
// What random-model writes: the LLaVA presets, "qwen2.5-vl-micro" (a
// Qwen2.5-VL of the same scale as micro) and the full-scale shapes
// "llava-1.5-7b", "llava-1.5-13b" and "qwen2.5-vl-3b" (the released
// models' configs; weights streamed to disk in bf16, tensor by tensor; a
// small tokenizer with the real special-token ids where the format allows).
std::vector<std::string> random_model_preset_names();
bool is_full_scale_preset(const std::string& preset);

// The preset's architecture with the given vocabulary; throws for unknown names.
LlavaConfig preset_config(const std::string& preset, int64_t vocab_size, int64_t image_token_index);

// The vocabulary size a preset's tokenizer is trained for.
int64_t preset_vocab_size(const std::string& preset);

// Short English sentences about everyday objects, enough to train a small tokenizer.
std::vector<std::string> builtin_corpus();

// Writes a complete random-initialised model folder to `out_dir`: config.json,
// the weights, the tokenizer and preprocessor_config.json. The folder
// is assembled under a temporary name and renamed into place; an existing
// non-empty `out_dir` is refused.
// `progress` hears each weight file as it starts (full-scale presets).
void write_random_model(const std::string& preset, const std::string& out_dir, uint64_t seed,
                        const std::function<void(const std::string&)>& progress = nullptr);

// Runs `write` on a fresh temporary folder next to `out_dir` and renames it to
// `out_dir` on success; removes it on failure. Refuses a non-empty `out_dir`.
template <typename Write>
void write_folder_atomically(const std::string& out_dir, Write&& write);

}  // namespace hipp

#include "model/presets_inl.h"
