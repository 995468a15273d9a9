#include "model/model_folder.h"

#include <filesystem>

#include "core/error.h"

namespace hipp {

void check_preprocessor(const LlavaConfig& config, const PreprocessorConfig& p, const std::string& where) {
  if (config.is_qwen()) {
    const auto& v = config.qwen_vision;
    if (p.kind != PreprocessorConfig::Kind::QwenVl)
      throw Error(where +
                  ": a Qwen2.5-VL model needs the Qwen2-VL image processor (image_processor_type "
                  "Qwen2VLImageProcessor), not CLIP's");
    if (p.patch_size != v.patch_size || p.temporal_patch_size != v.temporal_patch_size ||
        p.merge_size != v.spatial_merge_size)
      throw Error(where + ": patch_size " + std::to_string(p.patch_size) + ", temporal_patch_size " +
                  std::to_string(p.temporal_patch_size) + ", merge_size " + std::to_string(p.merge_size) +
                  " do not match the vision tower's " + std::to_string(v.patch_size) + ", " +
                  std::to_string(v.temporal_patch_size) + ", " + std::to_string(v.spatial_merge_size));
    return;
  }
  if (p.kind != PreprocessorConfig::Kind::Clip)
    throw Error(where + ": a LLaVA model needs CLIP's image processor, not Qwen2-VL's");
  const int64_t size = config.vision.image_size;
  if (!p.do_center_crop || p.crop_height != size || p.crop_width != size)
    throw Error(where + ": crop size " + std::to_string(p.crop_height) + "x" + std::to_string(p.crop_width) +
                " does not match the " + std::to_string(size) + "px vision tower");
}

ModelFolder load_model_folder(const std::string& dir, const LoadOptions& options) {
  const std::filesystem::path root(dir);
  // The config decides the architecture before any other file is read.
  const auto config = read_llava_config((root / "config.json").string());
  const std::string preprocessor_path = (root / "preprocessor_config.json").string();
  auto tokenizer = Tokenizer::load_folder(dir);
  auto preprocessor = read_preprocessor_config(preprocessor_path);
  check_preprocessor(config, preprocessor, preprocessor_path);
  const auto vocab = config.text.vocab_size;
  for (const auto id : {config.image_token_index, config.vision_start_token_id, config.vision_end_token_id})
    if (id >= vocab)
      throw Error((root / "config.json").string() + ": image token id " + std::to_string(id) +
                  " is outside the vocabulary of " + std::to_string(vocab));
  return ModelFolder{std::move(tokenizer), preprocessor, load_llava(dir, options)};
}

}  // namespace hipp
