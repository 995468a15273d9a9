#pragma once
// A model folder as the commands use it: tokenizer, image preprocessing and
// weights, read in that order (cheap checks before the expensive load), with
// the preprocessing checked against the vision tower's input size.
#include <string>

#include "model/checkpoint.h"
#include "model/image.h"
#include "model/tokenizer.h"

namespace hipp {

struct ModelFolder {
  Tokenizer tokenizer;
  PreprocessorConfig preprocessor;
  LlavaModel model;
};

// Reads config.json first (the architecture decides the rest), then the
// tokenizer (tokenizer.model, else tokenizer.json), the image processing and
// the weights.
ModelFolder load_model_folder(const std::string& dir, const LoadOptions& options = {});

// Throws, naming `where`, when the image processing does not fit the model:
// LLaVA takes CLIP's processor cropping to the tower's input size,
// Qwen2.5-VL the Qwen2-VL processor with the tower's patch, temporal patch
// and merge sizes.
void check_preprocessor(const LlavaConfig& config, const PreprocessorConfig& preprocessor, const std::string& where);

}  // namespace hipp
