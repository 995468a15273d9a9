// Qwen2.5-VL as a model of the engine: config.json in both of transformers'
// layouts, the multimodal position ids, the multimodal rotary tables, the
// composed model (vision tower, merger, Qwen2 decoder with q/k/v biases),
// and checkpoints in the hub's key layouts, saved and loaded again.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/llava.h"
#include "model/safetensors.h"
#include "model/summary.h"
#include "model/tensor_io.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// A config.json as transformers 4.x writes Qwen2.5-VL-3B's (language fields at the top level).
json config_3b() {
  return json::parse(R"({
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
    "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
    "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 128000,
    "max_window_layers": 70, "num_attention_heads": 16, "num_hidden_layers": 36, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
    "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false,
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420,
                      "num_heads": 16, "in_chans": 3, "out_hidden_size": 2048, "patch_size": 14,
                      "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
                      "fullatt_block_indexes": [7, 15, 23, 31], "tokens_per_second": 2, "temporal_patch_size": 2},
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936})");
}

TEST(QwenVl, ConfigsOfBothLayoutsReadAlikeAndBadOnesAreRefused) {
  const auto c = parse_llava_config(config_3b(), "config.json");
  EXPECT_TRUE(c.is_qwen());
  EXPECT_EQ(c.text.hidden_size, 2048);
  EXPECT_EQ(c.text.num_hidden_layers, 36);
  EXPECT_EQ(c.text.num_key_value_heads, 2);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.mrope_section, (std::vector<int64_t>{16, 24, 24}));
  EXPECT_EQ(c.text.rope_type, "default");
  EXPECT_EQ(c.text.rope_theta, 1e6);
  EXPECT_TRUE(c.text.tie_word_embeddings);
  EXPECT_TRUE(c.text.qkv_bias);
  EXPECT_EQ(c.qwen_vision.hidden_size, 1280);
  EXPECT_EQ(c.qwen_vision.out_hidden_size, 2048);
  EXPECT_EQ(c.image_token_index, 151655);
  EXPECT_EQ(c.vision_start_token_id, 151652);
  EXPECT_THROW(c.num_image_features(), Error);
  // 3.75 billion weights, plus the tied output layer, which the engine holds as a copy.
  EXPECT_NEAR(parameter_estimate(c) / 1e9, 3.75 + 151936.0 * 2048 / 1e9, 0.05);

  // transformers 5: the language model under text_config, rope_parameters.
  json nested = config_3b();
  json text = json::object();
  for (const char* key :
       {"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "num_key_value_heads",
        "rms_norm_eps", "vocab_size", "max_position_embeddings", "hidden_act", "tie_word_embeddings"}) {
    text[key] = nested[key];
    nested.erase(key);
  }
  nested.erase("rope_scaling");
  nested.erase("rope_theta");
  text["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}, {"mrope_section", {16, 24, 24}}};
  nested["text_config"] = text;
  const auto n = parse_llava_config(nested, "config.json");
  EXPECT_EQ(llava_config_to_json(n)["text_config"]["rope_parameters"]["mrope_section"], json({16, 24, 24}));
  for (const auto* parsed : {&n, &c}) {
    const auto again = parse_llava_config(llava_config_to_json(*parsed), "saved");
    EXPECT_EQ(again.text.hidden_size, 2048);
    EXPECT_EQ(again.text.mrope_section, c.text.mrope_section);
    EXPECT_EQ(again.text.tie_word_embeddings, true);
    EXPECT_EQ(again.qwen_vision.depth, 32);
    EXPECT_EQ(again.text.layers.size(), 36u);
  }

  auto refused = [](json j, const std::string& expect) {
    const auto what = test::error_of([&] { parse_llava_config(j, "config.json"); });
    EXPECT_NE(what.find(expect), std::string::npos) << what;
  };
  json bad = config_3b();
  bad.erase("rope_scaling");
  refused(bad, "mrope_section");
  bad = config_3b();
  bad["rope_scaling"]["mrope_section"] = {16, 24, 16};
  refused(bad, "head_dim / 2");
  bad = config_3b();
  bad["vision_config"]["out_hidden_size"] = 1024;
  refused(bad, "out_hidden_size");
  bad = config_3b();
  bad["use_sliding_window"] = true;
  refused(bad, "use_sliding_window");
  bad = config_3b();
  bad["image_token_id"] = 200000;
  refused(bad, "outside the vocabulary");
  bad = config_3b();
  bad["model_type"] = "qwen3_vl";
  refused(bad, "qwen2_5_vl");
}

torch::Tensor ids_of(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kInt64).view({static_cast<int64_t>(rows.size()), -1});
}

TEST(QwenVl, PositionIdsFollowTheImageGrid) {
  const int64_t I = 9;
  // Text, a 4 x 4-patch image (2 x 2 merged), text.
  auto p = mrope_position_ids(ids_of({{1, 2, I, I, I, I, 3, 4}}), {}, {{1, 4, 4}}, I, 2);
  EXPECT_TRUE(torch::equal(p.select(1, 0),
                           ids_of({{0, 1, 2, 2, 2, 2, 4, 5}, {0, 1, 2, 2, 3, 3, 4, 5}, {0, 1, 2, 3, 2, 3, 4, 5}})));
  // Left padding (position 1, as transformers leaves it), a 2 x 3 merged image: the text after it
  // continues after the widest side; a second row's image takes the next grid.
  const auto ids = ids_of({{0, 1, I, I, I, I, I, I, 2}, {1, I, I, I, I, 2, 3, 4, 5}});
  const auto mask = ids_of({{0, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1}});
  p = mrope_position_ids(ids, mask, {{1, 4, 6}, {1, 4, 4}}, I, 2);
  EXPECT_TRUE(torch::equal(
      p.select(1, 0), ids_of({{1, 0, 1, 1, 1, 1, 1, 1, 4}, {1, 0, 1, 1, 1, 2, 2, 2, 4}, {1, 0, 1, 2, 3, 1, 2, 3, 4}})));
  EXPECT_TRUE(torch::equal(
      p.select(1, 1), ids_of({{0, 1, 1, 1, 1, 3, 4, 5, 6}, {0, 1, 1, 2, 2, 3, 4, 5, 6}, {0, 1, 2, 1, 2, 3, 4, 5, 6}})));
  // Text only: 0, 1, 2, ... in all three streams.
  p = mrope_position_ids(ids_of({{5, 6, 7}}), {}, {}, I, 2);
  EXPECT_TRUE(torch::equal(p.select(1, 0), ids_of({{0, 1, 2}, {0, 1, 2}, {0, 1, 2}})));
  // Too few image tokens for the grid, or grids left over.
  EXPECT_THROW(mrope_position_ids(ids_of({{1, I, I, I, 2}}), {}, {{1, 4, 4}}, I, 2), Error);
  EXPECT_THROW(mrope_position_ids(ids_of({{1, 2}}), {}, {{1, 4, 4}}, I, 2), Error);
  EXPECT_THROW(mrope_position_ids(ids_of({{1, I, I, I, I}}), {}, {}, I, 2), Error);
}

TEST(QwenVl, EachRotarySectionFollowsItsStream) {
  TextConfig t;
  t.head_dim = 8;
  t.rope_theta = 100.0;
  t.mrope_section = {2, 1, 1};
  // Temporal 1, height 10, width 100 at one position.
  const auto positions = torch::tensor({1, 10, 100}, torch::kInt64).view({3, 1, 1});
  const auto [cos, sin] = rotary_tables(positions, t, torch::kFloat32);
  ASSERT_EQ(cos.sizes(), (std::vector<int64_t>{1, 1, 1, 8}));
  const int stream_of[8] = {0, 0, 1, 2, 0, 0, 1, 2};
  const double value[3] = {1, 10, 100};
  for (int j = 0; j < 8; ++j) {
    const double angle = value[stream_of[j]] * (1.0 / std::pow(100.0, (2.0 * (j % 4)) / 8.0));
    EXPECT_NEAR(cos[0][0][0][j].item<double>(), std::cos(angle), 1e-4) << j;
    EXPECT_NEAR(sin[0][0][0][j].item<double>(), std::sin(angle), 1e-4) << j;
  }
  // Equal streams (text) give the ordinary 1-D table.
  TextConfig plain = t;
  plain.mrope_section.clear();
  const auto flat = torch::arange(5, torch::kInt64).view({1, 5});
  const auto [c3, s3] = rotary_tables(flat.unsqueeze(0).expand({3, 1, 5}), t, torch::kFloat32);
  const auto [c1, s1] = rotary_tables(flat, plain, torch::kFloat32);
  EXPECT_TRUE(torch::equal(c3, c1));
  EXPECT_TRUE(torch::equal(s3, s1));
}

// A small Qwen2.5-VL: 2-block tower, 2-layer decoder.
LlavaConfig micro_qwen(bool tied) {
  json j = {{"model_type", "qwen2_5_vl"},
            {"hidden_size", 32},
            {"intermediate_size", 48},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 2},
            {"vocab_size", 64},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},
            {"tie_word_embeddings", tied},
            {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}},
            {"image_token_id", 5},
            {"vision_start_token_id", 6},
            {"vision_end_token_id", 7},
            {"vision_config",
             {{"depth", 2},
              {"hidden_size", 16},
              {"intermediate_size", 24},
              {"num_heads", 2},
              {"patch_size", 2},
              {"window_size", 8},
              {"out_hidden_size", 32},
              {"fullatt_block_indexes", {1}}}}};
  return parse_llava_config(j, "micro");
}

struct Sample {
  LlavaInputs inputs;
  torch::Tensor patches;
};

Sample sample(LlavaModel& model) {
  Sample s;
  const std::vector<PatchGrid> grids{{1, 4, 6}};  // 2 x 3 merged: 6 image tokens
  s.patches = torch::randn({24, model->config().qwen_vision.patch_dim()});
  s.inputs.input_ids = ids_of({{1, 6, 5, 5, 5, 5, 5, 5, 7, 2, 3}});
  s.inputs.image_grids = grids;
  s.inputs.image_features = model->encode_patches(s.patches, grids);
  return s;
}

TEST(QwenVl, SharedPrefixesGiveTheLogitsOfWholePrompts) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  LlavaModel model(micro_qwen(false), torch::TensorOptions().dtype(torch::kFloat32));
  init_random(model, 4);
  model->eval();
  const int64_t dim = model->config().qwen_vision.patch_dim();
  // Images of 2 x 3 and 2 x 2 merged patches: their text continues after
  // different multimodal positions.
  const std::vector<PatchGrid> wide{{1, 4, 6}}, square{{1, 4, 4}};
  const test::PromptPrefix a{{1, 6, 5, 5, 5, 5, 5, 5}, model->encode_patches(torch::randn({24, dim}), wide), wide};
  const test::PromptPrefix b{{1, 9, 6, 5, 5, 5, 5}, model->encode_patches(torch::randn({16, dim}), square), square};
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> suffixes{
      {0, {7, 2, 3}}, {1, {7, 8, 9, 10}}, {0, {7, 11}}, {1, {7}}};
  EXPECT_LT(test::prefix_sharing_error(model, {a, b}, suffixes), 1e-5);
}

TEST(QwenVl, TheModelSavesInTheHubLayoutAndLoadsFromEitherLayout) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  for (bool tied : {true, false}) {
    LlavaModel model(micro_qwen(tied), torch::TensorOptions().dtype(torch::kFloat32));
    init_random(model, 5, 0.0);
    const auto names = model->named_parameters();
    EXPECT_TRUE(names.contains("visual.blocks.1.attn.qkv.bias"));
    EXPECT_TRUE(names.contains("language_model.model.layers.0.self_attn.q_proj.bias"));
    EXPECT_FALSE(names.contains("language_model.model.layers.0.self_attn.o_proj.bias"));
    EXPECT_FALSE(names.contains("vision_tower.vision_model.embeddings.class_embedding"));
    EXPECT_DOUBLE_EQ(names["visual.merger.ln_q.weight"].min().item<double>(), 1.0);
    auto s = sample(model);
    ASSERT_EQ(s.inputs.image_features.sizes(), (std::vector<int64_t>{6, 32}));
    const auto logits = model->forward(s.inputs);
    ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 11, 64}));
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    // The grid shapes the positions: read as 3 x 2 merged instead, the logits move.
    auto transposed = s.inputs;
    transposed.image_grids = {{1, 6, 4}};
    EXPECT_GT((model->forward(transposed) - logits).abs().max().item<double>(), 1e-4);
    EXPECT_THROW(model->encode_images(torch::zeros({1, 3, 8, 8})), Error);

    test::TempDir dir;
    save_llava(model, dir.path());
    const auto header = read_safetensors_header(dir.file("model.safetensors"));
    EXPECT_NE(header.find("model.layers.1.self_attn.k_proj.bias"), nullptr);
    EXPECT_NE(header.find("visual.merger.mlp.2.weight"), nullptr);
    EXPECT_NE(header.find("model.embed_tokens.weight"), nullptr);
    EXPECT_EQ(header.find("lm_head.weight") != nullptr, !tied);
    const auto saved = read_json_file(dir.file("config.json"));
    EXPECT_EQ(saved["model_type"], "qwen2_5_vl");
    EXPECT_EQ(saved["rope_scaling"]["mrope_section"], json({2, 1, 1}));
    auto loaded = load_llava(dir.path());
    for (const auto& item : model->named_parameters())
      EXPECT_TRUE(torch::equal(item.value(), loaded->named_parameters()[item.key()])) << item.key();
    auto again = s.inputs;
    again.image_features = loaded->encode_patches(s.patches, again.image_grids);
    EXPECT_TRUE(torch::equal(loaded->forward(again), logits))
        << (loaded->forward(again) - logits).abs().max().item<double>();

    // transformers 5's in-memory names (model.visual.*, model.language_model.*) load the same.
    NamedTensors renamed;
    for (const auto& e : header.tensors) {
      const std::string name = e.name.rfind("visual.", 0) == 0  ? "model." + e.name
                               : e.name.rfind("model.", 0) == 0 ? "model.language_model." + e.name.substr(6)
                                                                : e.name;
      renamed.emplace_back(name, read_tensor(header, e));
    }
    test::TempDir other;
    write_safetensors(other.file("model.safetensors"), renamed, {{"format", "pt"}});
    fs::copy_file(dir.file("config.json"), other.file("config.json"));
    auto from_new = load_llava(other.path());
    EXPECT_TRUE(torch::equal(from_new->forward(again), logits));

    const auto summary = summarize_model_folder(dir.path());
    EXPECT_EQ(summary.total_params(), [&] {
      int64_t n = 0;
      for (const auto& p : model->parameters()) n += p.numel();
      return n - (tied ? 64 * 32 : 0);
    }());
    EXPECT_NE(summary_to_text(summary).find("Qwen2_5_VLForConditionalGeneration"), std::string::npos);
    EXPECT_EQ(summary_to_json(summary)["image_features"], "dynamic");
    std::string out;
    ASSERT_EQ(test::cli("info " + dir.path(), &out), 0) << out;
    EXPECT_NE(out.find("mrope_section 2/1/1"), std::string::npos) << out;
    // Commands that need prompts and images say what the folder lacks.
    EXPECT_EQ(
        test::cli("prune " + dir.path() + " --sparsity 0.3 --importance magnitude --out " + dir.file("pruned"), &out),
        1)
        << out;
    EXPECT_NE(out.find("no tokenizer (tokenizer.model or tokenizer.json)"), std::string::npos) << out;
  }
}

TEST(QwenVl, RandomModelWritesTheMicroPreset) {
  test::TempDir dir;
  std::string out;
  ASSERT_EQ(test::cli("random-model --preset qwen2.5-vl-micro " + dir.file("m"), &out), 0) << out;
  const auto summary = summarize_model_folder(dir.file("m"));
  EXPECT_TRUE(summary.config.is_qwen());
  EXPECT_EQ(summary.config.text.mrope_section, (std::vector<int64_t>{2, 3, 3}));
  EXPECT_GT(summary.vision_tower_params, 0);
  EXPECT_GT(summary.projector_params, 0);  // the merger
  ASSERT_EQ(test::cli("--json info " + dir.file("m"), &out), 0) << out;
  EXPECT_NE(out.find("Qwen2_5_VLForConditionalGeneration"), std::string::npos) << out;
  // The demo trains LLaVA presets only.
  EXPECT_EQ(test::cli("demo --preset qwen2.5-vl-micro --out " + dir.file("d"), &out), 2) << out;
}

}  // namespace
}  // namespace hipp
