#include <gtest/gtest.h>

#include <tuple>

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

std::string config_error(const nlohmann::json& j) {
  try {
    parse_llava_config(j, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Absurd sizes are refused by name before anything is allocated for them
// (a billion layers once made `info` grow past 12 GB).
TEST(Config, AbsurdSizesAreRefusedByName) {
  for (auto [section, field, value] : {std::tuple{"text_config", "num_hidden_layers", int64_t{1000000000}},
                                       {"text_config", "vocab_size", int64_t{1} << 40},
                                       {"text_config", "hidden_size", int64_t{1} << 20},
                                       {"text_config", "intermediate_size", int64_t{1} << 30},
                                       {"vision_config", "num_hidden_layers", int64_t{100000}},
                                       {"vision_config", "image_size", int64_t{1} << 20}}) {
    auto j = llava_15_7b_config();
    j[section][field] = value;
    const auto message = config_error(j);
    EXPECT_NE(message.find(field), std::string::npos) << message;
    EXPECT_TRUE(message.find("more than this build accepts") != std::string::npos ||
                message.find("wider than this build accepts") != std::string::npos)
        << message;
  }
  // LLaVA-1.5-7B itself: about 7 billion parameters.
  const auto estimate = parameter_estimate(parse_llava_config(llava_15_7b_config(), "config.json"));
  EXPECT_GT(estimate, 6.9e9);
  EXPECT_LT(estimate, 7.2e9);
}

// transformers 5 writes rope_parameters; 4.x wrote rope_theta and
// rope_scaling ("type" or "rope_type"). Each is honoured or refused by name.
TEST(Config, RopeFromRopeParametersAndRopeScaling) {
  auto v5 = llava_15_7b_config();
  v5["text_config"]["rope_parameters"] = {{"rope_theta", 500000.0}, {"rope_type", "default"}};
  auto c = parse_llava_config(v5, "config.json");
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 500000.0);
  EXPECT_EQ(c.text.rope_type, "default");

  auto llama3 = llava_15_7b_config();
  llama3["text_config"]["rope_parameters"] = {{"rope_theta", 500000.0},  {"rope_type", "llama3"},
                                              {"factor", 8.0},           {"low_freq_factor", 1.0},
                                              {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  c = parse_llava_config(llama3, "config.json");
  EXPECT_EQ(c.text.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c.text.rope_factor, 8.0);
  EXPECT_DOUBLE_EQ(c.text.rope_high_freq_factor, 4.0);
  EXPECT_EQ(c.text.rope_original_max_position_embeddings, 8192);
  // A saved config reads back the same.
  const auto again = parse_llava_config(llava_config_to_json(c), "saved");
  EXPECT_EQ(again.text.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(again.text.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(again.text.rope_factor, 8.0);

  auto linear = llava_15_7b_config();
  linear["text_config"]["rope_theta"] = 20000.0;
  linear["text_config"]["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  c = parse_llava_config(linear, "config.json");
  EXPECT_EQ(c.text.rope_type, "linear");
  EXPECT_DOUBLE_EQ(c.text.rope_factor, 2.0);
  EXPECT_DOUBLE_EQ(c.text.rope_theta, 20000.0);

  auto yarn = llava_15_7b_config();
  yarn["text_config"]["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(config_error(yarn).find("rope_type 'yarn' is not supported"), std::string::npos) << config_error(yarn);
  auto dynamic = llava_15_7b_config();
  dynamic["text_config"]["rope_parameters"] = {{"rope_theta", 10000.0}, {"rope_type", "dynamic"}, {"factor", 2.0}};
  EXPECT_NE(config_error(dynamic).find("'dynamic'"), std::string::npos);
  auto incomplete = llama3;
  incomplete["text_config"]["rope_parameters"].erase("low_freq_factor");
  EXPECT_NE(config_error(incomplete).find("low_freq_factor"), std::string::npos) << config_error(incomplete);
  auto disagree = v5;
  disagree["text_config"]["rope_theta"] = 10000.0;
  EXPECT_NE(config_error(disagree).find("disagrees"), std::string::npos) << config_error(disagree);
  auto partial = v5;
  partial["text_config"]["rope_parameters"]["partial_rotary_factor"] = 0.5;
  EXPECT_NE(config_error(partial).find("partial_rotary_factor"), std::string::npos);
  auto zero_theta = llava_15_7b_config();
  zero_theta["text_config"]["rope_theta"] = 0.0;
  EXPECT_NE(config_error(zero_theta).find("rope_theta must be positive"), std::string::npos);
  auto negative_eps = llava_15_7b_config();
  negative_eps["text_config"]["rms_norm_eps"] = -1e-6;
  EXPECT_NE(config_error(negative_eps).find("rms_norm_eps"), std::string::npos);
}

TEST(Config, ImageTokenIdIsTheNewerName) {
  auto j = llava_15_7b_config();
  j.erase("image_token_index");
  j["image_token_id"] = 32001;
  EXPECT_EQ(parse_llava_config(j, "config.json").image_token_index, 32001);
  j["image_token_index"] = 32000;
  EXPECT_NE(config_error(j).find("disagrees"), std::string::npos);
  j["image_token_index"] = 32001;
  EXPECT_EQ(parse_llava_config(j, "config.json").image_token_index, 32001);
}

TEST(Config, ProjectorBiasAndTiedEmbeddings) {
  auto j = llava_15_7b_config();
  EXPECT_TRUE(parse_llava_config(j, "config.json").multimodal_projector_bias);
  j["multimodal_projector_bias"] = false;
  auto c = parse_llava_config(j, "config.json");
  EXPECT_FALSE(c.multimodal_projector_bias);
  EXPECT_FALSE(parse_llava_config(llava_config_to_json(c), "saved").multimodal_projector_bias);
  // The top-level tie_word_embeddings counts when text_config has none ...
  j["tie_word_embeddings"] = true;
  EXPECT_TRUE(parse_llava_config(j, "config.json").text.tie_word_embeddings);
  // ... and the language model's own wins when it has one.
  j["text_config"]["tie_word_embeddings"] = false;
  EXPECT_FALSE(parse_llava_config(j, "config.json").text.tie_word_embeddings);
}

}  // namespace
}  // namespace hipp
