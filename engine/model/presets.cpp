#include "model/presets.h"

#include <filesystem>

#include "model/byte_bpe.h"
#include "model/checkpoint.h"
#include "model/image.h"
#include "model/llava.h"
#include "model/prompt.h"
#include "model/tokenizer.h"

namespace hipp {
namespace fs = std::filesystem;

std::vector<std::string> preset_names() { return {"micro", "tiny", "demo"}; }

std::vector<std::string> random_model_preset_names() {
  auto names = preset_names();
  names.push_back("qwen2.5-vl-micro");
  return names;
}

namespace {

// Qwen2.5-VL at micro scale: a 2-block tower (one windowed, one full) of 8 px
// windows over 2 px patches, a 3-layer decoder 64 wide with 2 KV heads, tied
// embeddings as the 3B model has them.
LlavaConfig qwen_micro_config() {
  const nlohmann::json j = {{"model_type", "qwen2_5_vl"},
                            {"hidden_size", 64},
                            {"intermediate_size", 128},
                            {"num_hidden_layers", 3},
                            {"num_attention_heads", 4},
                            {"num_key_value_heads", 2},
                            {"vocab_size", 384},
                            {"max_position_embeddings", 512},
                            {"rms_norm_eps", 1e-6},
                            {"rope_theta", 1000000.0},
                            {"tie_word_embeddings", true},
                            {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 3, 3}}}},
                            {"image_token_id", 381},
                            {"vision_start_token_id", 382},
                            {"vision_end_token_id", 383},
                            {"vision_config",
                             {{"depth", 2},
                              {"hidden_size", 32},
                              {"intermediate_size", 64},
                              {"num_heads", 2},
                              {"patch_size", 2},
                              {"window_size", 8},
                              {"out_hidden_size", 64},
                              {"fullatt_block_indexes", {1}}}}};
  return parse_llava_config(j, "preset qwen2.5-vl-micro");
}

}  // namespace

int64_t preset_vocab_size(const std::string& preset) {
  if (preset == "micro") return 384;
  if (preset == "tiny" || preset == "demo") return 1024;
  throw Error("unknown preset '" + preset + "' (expected micro, tiny or demo)");
}

LlavaConfig preset_config(const std::string& preset, int64_t vocab_size, int64_t image_token_index) {
  LlavaConfig c;
  auto& v = c.vision;
  auto& t = c.text;
  if (preset == "micro") {
    v.image_size = 32, v.patch_size = 8, v.hidden_size = 32, v.intermediate_size = 64;
    v.num_hidden_layers = 3, v.num_attention_heads = 2;
    t.hidden_size = 64, t.intermediate_size = 128, t.num_hidden_layers = 3;
    t.num_attention_heads = 4, t.num_key_value_heads = 2;
  } else if (preset == "tiny") {
    // The demo model's shape: ViT 64-wide on 48x48 images in 12-pixel patches (16 image
    // tokens, about one per object), decoder 128-wide.
    v.image_size = 48, v.patch_size = 12, v.hidden_size = 64, v.intermediate_size = 256;
    v.num_hidden_layers = 4, v.num_attention_heads = 4;
    t.hidden_size = 128, t.intermediate_size = 352, t.num_hidden_layers = 4;
    t.num_attention_heads = 4, t.num_key_value_heads = 4;
  } else if (preset == "demo") {
    // The embedded demo model: tiny's vision tower, a decoder twice as deep
    // and with narrower MLPs (8 layers, MLP 256), deep enough that grounding
    // and knowledge settle in different layers (docs/demo.md).
    v.image_size = 48, v.patch_size = 12, v.hidden_size = 64, v.intermediate_size = 256;
    v.num_hidden_layers = 4, v.num_attention_heads = 4;
    t.hidden_size = 128, t.intermediate_size = 256, t.num_hidden_layers = 8;
    t.num_attention_heads = 4, t.num_key_value_heads = 4;
  } else {
    throw Error("unknown preset '" + preset + "' (expected micro, tiny or demo)");
  }
  t.head_dim = t.hidden_size / t.num_attention_heads;
  t.vocab_size = vocab_size;
  t.max_position_embeddings = 512;
  t.rms_norm_eps = 1e-5;
  t.layers.assign(static_cast<size_t>(t.num_hidden_layers),
                  {t.intermediate_size, t.num_attention_heads, t.num_key_value_heads});
  c.image_token_index = image_token_index;
  validate_llava_config(c, "preset " + preset);
  return c;
}

std::vector<std::string> builtin_corpus() {
  const char* objects[] = {"person", "dog",  "cat",   "car",  "bicycle", "chair", "table",  "cup",
                           "bottle", "bird", "horse", "boat", "clock",   "book",  "laptop", "apple"};
  const char* templates[] = {"Is there a %s in the image?", "Yes, there is a %s.",        "No, there is no %s.",
                             "How many %ss are there?",     "The %s is on the left.",     "The %s is on the right.",
                             "What is next to the %s?",     "A %s is heavier than a cup."};
  std::vector<std::string> sentences;
  for (const char* t : templates)
    for (const char* o : objects) {
      char buffer[160];
      std::snprintf(buffer, sizeof buffer, t, o);
      sentences.emplace_back(buffer);
    }
  for (const char* s : {"USER: <image>\nWhat objects are in the image? ASSISTANT:",
                        "Answer with the option's letter from the given choices directly.",
                        "A. yes B. no C. two D. three", "Yes", "No", "0 1 2 3 4 5 6 7 8 9"})
    sentences.emplace_back(s);
  return sentences;
}

void write_random_model(const std::string& preset, const std::string& out_dir, uint64_t seed) {
  if (preset == "qwen2.5-vl-micro") {
    write_folder_atomically(out_dir, [&](const std::string& dir) {
      // A byte-level BPE of Qwen's kind with its special tokens, trained on
      // the built-in sentences; the config takes its ids.
      ByteBpeTraining training;
      training.merges = 384 - 256 - 6;
      training.special_tokens = {"<|endoftext|>", "<|im_start|>",     "<|im_end|>",
                                 "<|image_pad|>", "<|vision_start|>", "<|vision_end|>"};
      training.eos_token = "<|im_end|>";
      std::vector<std::string> corpus = builtin_corpus();
      corpus.emplace_back("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>assistant\n");
      train_byte_bpe(corpus, training, dir);
      const auto tokenizer = Tokenizer::load((fs::path(dir) / "tokenizer.json").string());
      auto config = qwen_micro_config();
      config.text.vocab_size = tokenizer.vocab_size();
      config.image_token_index = tokenizer.piece_id("<|image_pad|>");
      config.vision_start_token_id = tokenizer.piece_id("<|vision_start|>");
      config.vision_end_token_id = tokenizer.piece_id("<|vision_end|>");
      LlavaModel model(config, torch::TensorOptions().dtype(torch::kFloat32));
      init_random(model, seed);
      save_llava(model, dir);
      const auto& v = config.qwen_vision;
      // Images up to 32 x 32 pixels after the resize: 64 image tokens.
      write_preprocessor_config(
          qwen_preprocessor(v.patch_size, v.spatial_merge_size, v.temporal_patch_size, 16 * 16, 32 * 32),
          (fs::path(dir) / "preprocessor_config.json").string());
    });
    return;
  }
  const int64_t vocab = preset_vocab_size(preset);  // validates the name before any write
  write_folder_atomically(out_dir, [&](const std::string& dir) {
    const std::string tokenizer_path = (fs::path(dir) / "tokenizer.model").string();
    TokenizerTraining training;
    training.vocab_size = vocab;
    training.user_symbols = {kImagePlaceholder};
    train_tokenizer(builtin_corpus(), training, tokenizer_path);
    auto tokenizer = Tokenizer::load(tokenizer_path);
    auto config = preset_config(preset, tokenizer.vocab_size(), tokenizer.piece_id(kImagePlaceholder));
    LlavaModel model(config, torch::TensorOptions().dtype(torch::kFloat32));
    init_random(model, seed);
    save_llava(model, dir);
    write_preprocessor_config(clip_preprocessor(config.vision.image_size),
                              (fs::path(dir) / "preprocessor_config.json").string());
  });
}

}  // namespace hipp
