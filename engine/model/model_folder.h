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

ModelFolder load_model_folder(const std::string& dir, const LoadOptions& options = {});

}  // namespace hipp
