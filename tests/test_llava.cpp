#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include <torch/version.h>

#include "core/error.h"
#include "model/llava.h"
#include "support.h"

namespace hipp {
namespace {

torch::Tensor logits_of(LlavaModel& model, const torch::Tensor& ids, const torch::Tensor& features = {},
                        const torch::Tensor& mask = {}) {
  torch::NoGradGuard no_grad;
  LlavaInputs inputs;
  inputs.input_ids = ids;
  inputs.image_features = features;
  inputs.attention_mask = mask;
  return model->forward(inputs);
}

TEST(Llava, ParameterNamesFollowHuggingFace) {
  auto model = test::micro_model(1);
  auto params = model->named_parameters();
  for (const char* name :
       {"vision_tower.vision_model.embeddings.patch_embedding.weight",
        "vision_tower.vision_model.embeddings.class_embedding",
        "vision_tower.vision_model.embeddings.position_embedding.weight",
        "vision_tower.vision_model.pre_layrnorm.weight",
        "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.bias",
        "vision_tower.vision_model.encoder.layers.2.mlp.fc2.weight", "vision_tower.vision_model.post_layernorm.bias",
        "multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_2.bias",
        "language_model.model.embed_tokens.weight", "language_model.model.layers.1.self_attn.k_proj.weight",
        "language_model.model.layers.2.mlp.down_proj.weight",
        "language_model.model.layers.0.post_attention_layernorm.weight", "language_model.model.norm.weight",
        "language_model.lm_head.weight"})
    EXPECT_NE(params.find(name), nullptr) << name;
  EXPECT_EQ(params["language_model.model.layers.1.self_attn.k_proj.weight"].sizes(), torch::IntArrayRef({2 * 16, 64}));
}

TEST(Llava, ChangingALaterTokenNeverChangesEarlierLogits) {
  auto model = test::micro_model(2);
  auto ids = test::random_ids(1, 12, 64, 7);
  auto changed = ids.clone();
  changed[0][8] = (ids[0][8].item<int64_t>() + 5 - 4) % 60 + 4;
  const auto a = logits_of(model, ids), b = logits_of(model, changed);
  EXPECT_TRUE(torch::allclose(a.slice(1, 0, 8), b.slice(1, 0, 8), 1e-6, 1e-6));
  EXPECT_FALSE(torch::allclose(a.slice(1, 8), b.slice(1, 8), 1e-4, 1e-4));
}

TEST(Llava, GroupedQueryAttentionEqualsDuplicatedHeads) {
  auto gqa_config = test::micro_config();
  auto gqa = test::micro_model(3, gqa_config);
  auto mha_config = gqa_config;
  mha_config.text.num_key_value_heads = mha_config.text.num_attention_heads;
  for (auto& w : mha_config.text.layers) w.num_key_value_heads = w.num_attention_heads;
  LlavaModel mha(mha_config, torch::TensorOptions());
  mha->eval();
  {
    torch::NoGradGuard no_grad;
    auto source = gqa->named_parameters();
    const int64_t group = 4 / 2, head_dim = 16;
    for (auto& p : mha->named_parameters()) {
      auto value = source[p.key()];
      const bool kv = p.key().find("k_proj") != std::string::npos || p.key().find("v_proj") != std::string::npos;
      if (kv && p.key().rfind("language_model", 0) == 0) {
        // KV head g serves query heads g*group .. g*group+group-1.
        value = value.view({-1, head_dim, value.size(1)}).repeat_interleave(group, 0).reshape(p.value().sizes());
      }
      p.value().copy_(value);
    }
  }
  auto ids = test::random_ids(2, 9, 64, 11);
  EXPECT_TRUE(torch::allclose(logits_of(gqa, ids), logits_of(mha, ids), 1e-5, 1e-5));
}

TEST(Llava, PerLayerWidthsRun) {
  auto config = test::micro_config();
  config.text.layers[0] = {32, 4, 2};
  config.text.layers[1] = {128, 2, 1};
  config.text.layers[2] = {1, 4, 4};
  auto model = test::micro_model(4, config);
  auto logits = logits_of(model, test::random_ids(1, 6, 64, 5));
  EXPECT_EQ(logits.sizes(), torch::IntArrayRef({1, 6, 64}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  EXPECT_EQ(model->language_model->model->layers[2]->mlp->gate_proj->weight.sizes(), torch::IntArrayRef({1, 64}));
}

TEST(Llava, LeftPaddingGivesTheSameLogitsAsNoPadding) {
  auto model = test::micro_model(5);
  auto longer = test::random_ids(1, 8, 64, 21);
  auto shorter = test::random_ids(1, 5, 64, 22);
  auto batch = torch::zeros({2, 8}, torch::kInt64);
  batch[0] = longer[0];
  batch.slice(1, 3)[1] = shorter[0];
  auto mask = torch::ones({2, 8}, torch::kInt64);
  mask[1].slice(0, 0, 3).zero_();
  const auto batched = logits_of(model, batch, {}, mask);
  EXPECT_TRUE(torch::allclose(batched[0], logits_of(model, longer)[0], 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(batched[1].slice(0, 3), logits_of(model, shorter)[0], 1e-5, 1e-5));
}

TEST(Llava, SharedPrefixesGiveTheLogitsOfWholePrompts) {
  auto config = test::micro_config();
  config.text.layers[1] = {128, 2, 1};  // a pruned layer with its own head counts; the others share KV heads
  auto model = test::micro_model(6, config);
  const int64_t n = config.num_image_features(), d = config.text.hidden_size;
  std::vector<int64_t> with_image{1, 9, 10};
  with_image.insert(with_image.end(), static_cast<size_t>(n), config.image_token_index);
  torch::manual_seed(7);
  const test::PromptPrefix image_prefix{with_image, torch::randn({n, d}) * 0.5, {}};
  const test::PromptPrefix text_prefix{{1, 12, 13, 14, 15, 16, 17}, {}, {}};
  const test::PromptPrefix no_prefix{{}, {}, {}};
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> suffixes{
      {0, {20, 21, 22}}, {1, {23, 24}}, {0, {25, 26, 27, 28, 29}}, {2, {30, 31, 32, 33}}, {1, {34}}};
  EXPECT_LT(test::prefix_sharing_error(model, {image_prefix, text_prefix, no_prefix}, suffixes), 1e-5);
  EXPECT_LT(test::prefix_sharing_error(model, {no_prefix}, {{0, {20, 21}}, {0, {22}}}), 1e-5);
  // A prefix row the cache does not hold, and a tap, are refused.
  LlavaInputs suffix;
  suffix.input_ids = torch::tensor(std::vector<int64_t>{20, 21, 22}).unsqueeze(0);
  LlavaInputs prefixes;
  prefixes.input_ids = torch::tensor(with_image).unsqueeze(0);
  prefixes.image_features = image_prefix.features;
  torch::NoGradGuard no_grad;
  const auto cache = model->encode_prefixes(prefixes);
  EXPECT_NE(test::error_of([&] { model->forward_after_prefixes(cache, torch::tensor({1}), suffix); }), "(no error)");
  ForwardOptions tapped;
  tapped.tap = [](const std::string&, int64_t, const torch::Tensor&) {};
  EXPECT_NE(test::error_of([&] { model->forward_after_prefixes(cache, torch::tensor({0}), suffix, tapped); }),
            "(no error)");
}

// The fused kernel takes a boolean mask and gives a row that may read no key
// NaN. The mask it gets must give every query that reads something what the
// explicit float32 softmax gives, and a padding query (which no real token
// ever reads) a finite row.
TEST(Llava, FusedAttentionMaskReadsWhatTheExplicitSoftmaxReads) {
  const auto allowed = torch::tensor({1, 0, 0, 1, 1, 0, 0, 0, 0}, torch::kBool).view({1, 1, 3, 3});
  const auto mask = make_attention_mask(allowed);
  EXPECT_TRUE(torch::equal(mask.allowed, allowed));
  torch::manual_seed(5);
  const auto scores = torch::randn({1, 1, 3, 3});
  const auto explicit_probs =
      torch::softmax(scores.masked_fill(allowed.logical_not(), std::numeric_limits<float>::lowest()), -1);
  const auto fused_probs =
      torch::softmax(scores.masked_fill(mask.fused.logical_not(), -std::numeric_limits<float>::infinity()), -1);
  EXPECT_TRUE(torch::isfinite(fused_probs).all().item<bool>());
  EXPECT_TRUE(torch::allclose(fused_probs.slice(2, 0, 2), explicit_probs.slice(2, 0, 2), 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(explicit_probs[0][0][2], torch::full({3}, 1.0 / 3), 1e-6, 1e-6));
  // This LibTorch (1.x) has no fused kernel: attention is explicit everywhere.
  EXPECT_EQ(fused_attention(), TORCH_VERSION_MAJOR >= 2);
}

TEST(Llava, ImageFeaturesFillTheImagePositions) {
  auto model = test::micro_model(6);
  torch::NoGradGuard no_grad;
  auto pixels = torch::randn({2, 3, 32, 32});
  auto features = model->encode_images(pixels);
  EXPECT_EQ(features.sizes(), torch::IntArrayRef({2, 16, 64}));
  // Images are independent: encoding one alone gives the same features.
  EXPECT_TRUE(torch::allclose(features[1], model->encode_images(pixels.slice(0, 1, 2))[0], 1e-5, 1e-5));

  auto ids = test::random_ids(2, 20, 64, 3);
  ids.slice(1, 2, 18).fill_(3);  // image token index of micro_config()
  auto logits = logits_of(model, ids, features);
  auto other = logits_of(model, ids, model->encode_images(torch::randn({2, 3, 32, 32})));
  EXPECT_FALSE(torch::allclose(logits.slice(1, 18), other.slice(1, 18), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(logits.slice(1, 0, 2), other.slice(1, 0, 2), 1e-6, 1e-6));
  // Too few features for the image positions is an error, not a crash.
  EXPECT_THROW(logits_of(model, ids, features.slice(0, 0, 1)), Error);
  EXPECT_THROW(model->encode_images(torch::randn({1, 3, 16, 16})), Error);
  EXPECT_THROW(logits_of(model, torch::full({1, 3}, 500, torch::kInt64)), Error);
}

TEST(Llava, TapSeesEveryLayer) {
  auto config = test::micro_config();
  config.text.layers[1].intermediate_size = 40;
  auto model = test::micro_model(7, config);
  std::map<std::string, std::vector<std::vector<int64_t>>> seen;
  ForwardOptions options;
  options.tap = [&](const std::string& name, int64_t layer, const torch::Tensor& value) {
    auto& list = seen[name];
    if (static_cast<int64_t>(list.size()) <= layer) list.resize(static_cast<size_t>(layer + 1));
    list[static_cast<size_t>(layer)] = value.sizes().vec();
  };
  LlavaInputs inputs;
  inputs.input_ids = test::random_ids(2, 7, 64, 1);
  torch::NoGradGuard no_grad;
  model->forward(inputs, options);
  ASSERT_EQ(seen["mlp.down_in"].size(), 3u);
  EXPECT_EQ(seen["mlp.down_in"][1], (std::vector<int64_t>{2, 7, 40}));
  EXPECT_EQ(seen["attn.probs"][0], (std::vector<int64_t>{2, 4, 7, 7}));
  EXPECT_EQ(seen["layer.out"].size(), 3u);
}

TEST(Llava, AttentionProbabilitiesAreCausalDistributions) {
  auto model = test::micro_model(8);
  torch::Tensor probs;
  ForwardOptions options;
  options.tap = [&](const std::string& name, int64_t layer, const torch::Tensor& value) {
    if (name == "attn.probs" && layer == 0) probs = value.clone();
  };
  LlavaInputs inputs;
  inputs.input_ids = test::random_ids(1, 6, 64, 2);
  torch::NoGradGuard no_grad;
  model->forward(inputs, options);
  EXPECT_TRUE(torch::allclose(probs.sum(-1), torch::ones({1, 4, 6}), 1e-5, 1e-5));
  EXPECT_EQ(probs.triu(1).abs().max().item<float>(), 0.0f);
}

TEST(Llava, LastPositionOnlyMatchesFullLogits) {
  auto model = test::micro_model(9);
  auto ids = test::random_ids(2, 5, 64, 4);
  LlavaInputs inputs;
  inputs.input_ids = ids;
  ForwardOptions last;
  last.last_position_only = true;
  torch::NoGradGuard no_grad;
  auto tail = model->forward(inputs, last);
  EXPECT_EQ(tail.sizes(), torch::IntArrayRef({2, 1, 64}));
  EXPECT_TRUE(torch::allclose(tail, model->forward(inputs).slice(1, 4), 1e-5, 1e-5));
}

// Layer dropout: skipping the first layer gives the logits of the same model
// with that layer's output projections zeroed (the layer as the identity),
// and differs from the full forward.
TEST(Llava, SkippingTheFirstLayersActsAsIdentityLayers) {
  auto model = test::micro_model(9);
  LlavaInputs inputs;
  inputs.input_ids = test::random_ids(2, 5, 64, 4);
  ForwardOptions skip;
  skip.skip_first_layers = 1;
  torch::NoGradGuard no_grad;
  const auto full = model->forward(inputs);
  const auto skipped = model->forward(inputs, skip);
  EXPECT_FALSE(torch::allclose(full, skipped, 1e-4, 1e-4));
  auto& layer0 = model->language_model->model->layers[0];
  layer0->self_attn->o_proj->weight.zero_();
  layer0->mlp->down_proj->weight.zero_();
  EXPECT_TRUE(torch::allclose(model->forward(inputs), skipped, 1e-5, 1e-5));
  skip.skip_first_layers = 1000;  // more than there are: every layer passed over, still runs
  EXPECT_EQ(model->forward(inputs, skip).sizes(), full.sizes());
}

// MLP dropout: passing over layer 1's MLP gives the logits of the same model
// with that MLP's down projection zeroed, and differs from the full forward.
TEST(Llava, SkippingAnMlpActsAsAZeroMlp) {
  auto model = test::micro_model(9);
  LlavaInputs inputs;
  inputs.input_ids = test::random_ids(2, 5, 64, 4);
  ForwardOptions skip;
  skip.skip_mlp_mask = uint64_t{1} << 1;
  torch::NoGradGuard no_grad;
  const auto full = model->forward(inputs);
  const auto skipped = model->forward(inputs, skip);
  EXPECT_FALSE(torch::allclose(full, skipped, 1e-4, 1e-4));
  model->language_model->model->layers[1]->mlp->down_proj->weight.zero_();
  EXPECT_TRUE(torch::allclose(model->forward(inputs), skipped, 1e-5, 1e-5));
  skip.skip_mlp_mask = ~uint64_t{0};  // bits past the last layer are ignored
  EXPECT_EQ(model->forward(inputs, skip).sizes(), full.sizes());
}

TEST(Llava, ParameterCountsAddUp) {
  auto model = test::micro_model(10);
  const auto counts = count_parameters(model);
  int64_t all = 0;
  for (const auto& p : model->parameters()) all += p.numel();
  EXPECT_EQ(counts.total(), all);
  // gate + up + down of a 64-wide layer with 128 channels.
  EXPECT_EQ(counts.decoder_layers_mlp[0], 3 * 64 * 128);
  EXPECT_EQ(counts.projector, 32 * 64 + 64 + 64 * 64 + 64);
}

// RoPE as transformers computes it: linear divides every frequency by the
// factor; llama3 keeps the high frequencies, divides the low ones and blends
// in between.
TEST(Llava, RopeScalingFrequencies) {
  TextConfig t;
  t.head_dim = 128;
  t.rope_theta = 500000.0;
  const auto base = rope_inverse_frequencies(t);
  ASSERT_EQ(base.size(0), 64);
  EXPECT_FLOAT_EQ(base[0].item<float>(), 1.0f);
  EXPECT_NEAR(base[63].item<double>(), std::pow(500000.0, -126.0 / 128), 1e-12);
  t.rope_type = "linear";
  t.rope_factor = 4.0;
  EXPECT_TRUE(torch::allclose(rope_inverse_frequencies(t), base / 4.0));
  t.rope_type = "llama3";
  t.rope_factor = 8.0;
  t.rope_low_freq_factor = 1.0;
  t.rope_high_freq_factor = 4.0;
  t.rope_original_max_position_embeddings = 8192;
  const auto scaled = rope_inverse_frequencies(t);
  int kept = 0, divided = 0, blended = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const double f = base[i].item<double>(), g = scaled[i].item<double>();
    const double wavelen = 2 * M_PI / f;
    if (wavelen < 8192.0 / 4) {
      EXPECT_DOUBLE_EQ(g, f) << i;
      ++kept;
    } else if (wavelen > 8192.0) {
      EXPECT_NEAR(g, f / 8, f * 1e-6) << i;
      ++divided;
    } else {
      const double smooth = (8192.0 / wavelen - 1.0) / 3.0;
      EXPECT_NEAR(g, (1 - smooth) * f / 8 + smooth * f, f * 1e-5) << i;
      ++blended;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
}

TEST(Llava, ProjectorWithoutBias) {
  auto config = test::micro_config();
  config.multimodal_projector_bias = false;
  auto model = test::micro_model(7, config);
  const auto params = model->named_parameters();
  EXPECT_EQ(params.find("multi_modal_projector.linear_1.bias"), nullptr);
  EXPECT_NE(params.find("multi_modal_projector.linear_1.weight"), nullptr);
  auto features = model->encode_images(torch::randn({1, 3, config.vision.image_size, config.vision.image_size}));
  EXPECT_EQ(features.size(-1), config.text.hidden_size);
}

}  // namespace
}  // namespace hipp
