#include <gtest/gtest.h>

#include "core/error.h"
#include "model/config.h"

namespace hipp {
namespace {

// The shape of llava-hf/llava-1.5-7b-hf's config.json: the text config leans
// on LlamaConfig's defaults and the vision config on some of CLIP's.
nlohmann::json llava_15_7b_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlavaForConditionalGeneration"],
    "ignore_index": -100,
    "image_token_index": 32000,
    "model_type": "llava",
    "pad_token_id": 32001,
    "projector_hidden_act": "gelu",
    "text_config": {
      "_name_or_path": "lmsys/vicuna-7b-v1.5",
      "architectures": ["LlamaForCausalLM"],
      "max_position_embeddings": 4096,
      "model_type": "llama",
      "rms_norm_eps": 1e-05,
      "torch_dtype": "float16",
      "vocab_size": 32064
    },
    "tie_word_embeddings": false,
    "torch_dtype": "float16",
    "vision_config": {
      "hidden_size": 1024,
      "image_size": 336,
      "intermediate_size": 4096,
      "model_type": "clip_vision_model",
      "num_attention_heads": 16,
      "num_hidden_layers": 24,
      "patch_size": 14,
      "projection_dim": 768,
      "vocab_size": 32000
    },
    "vision_feature_layer": -2,
    "vision_feature_select_strategy": "default",
    "vocab_size": 32064
  })");
}

TEST(Config, ReadsLlava15WithHuggingFaceDefaults) {
  const auto c = parse_llava_config(llava_15_7b_config(), "config.json");
  EXPECT_EQ(c.text.hidden_size, 4096);
  EXPECT_EQ(c.text.intermediate_size, 11008);
  EXPECT_EQ(c.text.num_hidden_layers, 32);
  EXPECT_EQ(c.text.num_key_value_heads, 32);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.vocab_size, 32064);
  EXPECT_DOUBLE_EQ(c.text.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.vision.num_patches(), 576);
  EXPECT_EQ(c.num_image_features(), 576);
  EXPECT_EQ(c.vision_hidden_state_index(), 23);
  EXPECT_EQ(c.image_token_index, 32000);
  ASSERT_EQ(c.text.layers.size(), 32u);
  EXPECT_EQ(c.text.layers[31].intermediate_size, 11008);
  EXPECT_TRUE(c.text.has_uniform_layers());
}

TEST(Config, PerLayerWidthsRoundTrip) {
  auto j = llava_15_7b_config();
  std::vector<int64_t> widths(32, 11008);
  widths[3] = 5504;
  j["text_config"]["layer_intermediate_size"] = widths;
  const auto c = parse_llava_config(j, "config.json");
  EXPECT_EQ(c.text.layers[3].intermediate_size, 5504);
  EXPECT_FALSE(c.text.has_uniform_layers());
  const auto again = parse_llava_config(llava_config_to_json(c), "written");
  EXPECT_EQ(again.text.layers[3].intermediate_size, 5504);
  EXPECT_EQ(again.text.layers[4].intermediate_size, 11008);
  // Fields this project does not use survive.
  EXPECT_EQ(llava_config_to_json(c)["text_config"]["_name_or_path"], "lmsys/vicuna-7b-v1.5");
}

TEST(Config, MissingOrWrongFieldsAreClearErrors) {
  auto no_text = llava_15_7b_config();
  no_text.erase("text_config");
  try {
    parse_llava_config(no_text, "config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "config.json: missing field 'text_config'");
  }
  auto wrong_type = llava_15_7b_config();
  wrong_type["text_config"]["hidden_size"] = "big";
  EXPECT_THROW(parse_llava_config(wrong_type, "config.json"), Error);
  auto wrong_length = llava_15_7b_config();
  wrong_length["text_config"]["layer_intermediate_size"] = {1, 2, 3};
  EXPECT_THROW(parse_llava_config(wrong_length, "config.json"), Error);
  auto bad_gqa = llava_15_7b_config();
  bad_gqa["text_config"]["num_key_value_heads"] = 5;
  EXPECT_THROW(parse_llava_config(bad_gqa, "config.json"), Error);
  auto bad_layer = llava_15_7b_config();
  bad_layer["vision_feature_layer"] = -30;
  EXPECT_THROW(parse_llava_config(bad_layer, "config.json"), Error);
  EXPECT_THROW(parse_llava_config(nlohmann::json::array(), "config.json"), Error);
}

}  // namespace
}  // namespace hipp
