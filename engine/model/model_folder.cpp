#include "model/model_folder.h"

#include <filesystem>

#include "core/error.h"

namespace hipp {

ModelFolder load_model_folder(const std::string& dir, const LoadOptions& options) {
  const std::filesystem::path root(dir);
  // The config decides the architecture before any other file is read.
  const auto config = read_llava_config((root / "config.json").string());
  if (config.is_qwen())
    throw Error(dir +
                ": a Qwen2.5-VL model; this build reads its config and weights (info) but cannot yet prepare its "
                "prompts and images (tokenizer.json, the Qwen2-VL image processor)");
  const std::string preprocessor_path = (root / "preprocessor_config.json").string();
  ModelFolder folder{Tokenizer::load((root / "tokenizer.model").string()), read_preprocessor_config(preprocessor_path),
                     load_llava(dir, options)};
  const int64_t size = folder.model->config().vision.image_size;
  if (folder.preprocessor.crop_height != size || folder.preprocessor.crop_width != size)
    throw Error(preprocessor_path + ": crop size does not match the " + std::to_string(size) + "px vision tower");
  return folder;
}

}  // namespace hipp
