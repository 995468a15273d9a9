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
  for (const char* n : {"qwen2.5-vl-micro", "llava-1.5-7b", "llava-1.5-13b", "qwen2.5-vl-3b"}) names.emplace_back(n);
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

// The released models' config.json (llava-hf/llava-1.5-{7b,13b}-hf,
// Qwen/Qwen2.5-VL-3B-Instruct), with the fields transformers fills in
// written out.
nlohmann::json llava_15_config(bool large) {
  const int64_t hidden = large ? 5120 : 4096, layers = large ? 40 : 32, heads = large ? 40 : 32;
  return {{"architectures", {"LlavaForConditionalGeneration"}},
          {"model_type", "llava"},
          {"ignore_index", -100},
          {"image_token_index", 32000},
          {"pad_token_id", 32001},
          {"projector_hidden_act", "gelu"},
          {"vision_feature_layer", -2},
          {"vision_feature_select_strategy", "default"},
          {"tie_word_embeddings", false},
          {"vocab_size", 32064},
          {"text_config",
           {{"model_type", "llama"},
            {"architectures", {"LlamaForCausalLM"}},
            {"hidden_size", hidden},
            {"intermediate_size", large ? 13824 : 11008},
            {"num_hidden_layers", layers},
            {"num_attention_heads", heads},
            {"num_key_value_heads", heads},
            {"max_position_embeddings", 4096},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"hidden_act", "silu"},
            {"vocab_size", 32064}}},
          {"vision_config",
           {{"model_type", "clip_vision_model"},
            {"hidden_size", 1024},
            {"image_size", 336},
            {"intermediate_size", 4096},
            {"num_attention_heads", 16},
            {"num_hidden_layers", 24},
            {"patch_size", 14},
            {"projection_dim", 768},
            {"hidden_act", "quick_gelu"},
            {"layer_norm_eps", 1e-5}}}};
}

nlohmann::json qwen_3b_config() {
  return {{"architectures", {"Qwen2_5_VLForConditionalGeneration"}},
          {"model_type", "qwen2_5_vl"},
          {"bos_token_id", 151643},
          {"eos_token_id", 151645},
          {"vision_start_token_id", 151652},
          {"vision_end_token_id", 151653},
          {"vision_token_id", 151654},
          {"image_token_id", 151655},
          {"video_token_id", 151656},
          {"hidden_act", "silu"},
          {"hidden_size", 2048},
          {"intermediate_size", 11008},
          {"max_position_embeddings", 128000},
          {"max_window_layers", 70},
          {"num_attention_heads", 16},
          {"num_hidden_layers", 36},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-6},
          {"rope_theta", 1000000.0},
          {"sliding_window", 32768},
          {"tie_word_embeddings", true},
          {"use_sliding_window", false},
          {"vocab_size", 151936},
          {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}}},
          {"vision_config",
           {{"depth", 32},
            {"hidden_act", "silu"},
            {"hidden_size", 1280},
            {"intermediate_size", 3420},
            {"num_heads", 16},
            {"in_chans", 3},
            {"out_hidden_size", 2048},
            {"patch_size", 14},
            {"spatial_merge_size", 2},
            {"spatial_patch_size", 14},
            {"window_size", 112},
            {"fullatt_block_indexes", {7, 15, 23, 31}},
            {"tokens_per_second", 2},
            {"temporal_patch_size", 2}}}};
}

// Refuses to start a write that the disk cannot hold.
void require_space(const std::string& out_dir, double bytes) {
  std::error_code ec;
  auto parent = fs::absolute(out_dir, ec).parent_path();
  const auto space = fs::space(parent, ec);
  if (!ec && static_cast<double>(space.available) < bytes * 1.02 + 1e8)
    throw Error(out_dir + ": the checkpoint needs about " + std::to_string(static_cast<int64_t>(bytes / 1e9 + 0.5)) +
                " GB but " + std::to_string(static_cast<int64_t>(static_cast<double>(space.available) / 1e9)) +
                " GB are free there");
}

// The full-scale presets: real configs, weights streamed in bf16.
void write_full_scale(const std::string& preset, const std::string& out_dir, uint64_t seed,
                      const std::function<void(const std::string&)>& progress) {
  const bool qwen = preset == "qwen2.5-vl-3b";
  const auto config =
      parse_llava_config(qwen ? qwen_3b_config() : llava_15_config(preset == "llava-1.5-13b"), "preset " + preset);
  require_space(out_dir, parameter_estimate(config) * 2);
  write_folder_atomically(out_dir, [&](const std::string& dir) {
    if (qwen) {
      // A small byte-level BPE with Qwen's special tokens at their real ids.
      ByteBpeTraining training;
      training.merges = 512;
      training.special_tokens = {"<|endoftext|>",    "<|im_start|>",   "<|im_end|>",
                                 "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"};
      training.special_ids = {151643, 151644, 151645, 151652, 151653, 151655};
      training.eos_token = "<|im_end|>";
      train_byte_bpe(builtin_corpus(), training, dir);
      const auto& v = config.qwen_vision;
      write_preprocessor_config(
          qwen_preprocessor(v.patch_size, v.spatial_merge_size, v.temporal_patch_size, 56 * 56, 28 * 28 * 16384),
          (fs::path(dir) / "preprocessor_config.json").string());
    } else {
      TokenizerTraining training;
      training.vocab_size = 1024;
      training.user_symbols = {kImagePlaceholder};
      train_tokenizer(builtin_corpus(), training, (fs::path(dir) / "tokenizer.model").string());
      write_preprocessor_config(clip_preprocessor(config.vision.image_size),
                                (fs::path(dir) / "preprocessor_config.json").string());
    }
    RandomCheckpointOptions options;
    options.seed = seed;
    options.dtype = torch::kBFloat16;
    options.progress = progress;
    write_random_checkpoint(config, dir, options);
  });
}

}  // namespace

bool is_full_scale_preset(const std::string& preset) {
  return preset == "llava-1.5-7b" || preset == "llava-1.5-13b" || preset == "qwen2.5-vl-3b";
}

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

void write_random_model(const std::string& preset, const std::string& out_dir, uint64_t seed,
                        const std::function<void(const std::string&)>& progress) {
  if (is_full_scale_preset(preset)) {
    write_full_scale(preset, out_dir, seed, progress);
    return;
  }
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
