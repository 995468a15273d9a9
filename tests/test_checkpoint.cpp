#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

torch::Tensor logits_of(LlavaModel& model, const torch::Tensor& ids, const torch::Tensor& pixels) {
  torch::NoGradGuard no_grad;
  LlavaInputs inputs;
  inputs.input_ids = ids;
  inputs.image_features = model->encode_images(pixels);
  return model->forward(inputs);
}

// ids with one image (16 positions of token 3) after two text tokens.
torch::Tensor image_prompt() {
  auto ids = test::random_ids(1, 24, 64, 99);
  ids.slice(1, 2, 18).fill_(3);
  return ids;
}

void expect_same_parameters(LlavaModel& a, LlavaModel& b) {
  auto pb = b->named_parameters();
  for (const auto& p : a->named_parameters()) {
    ASSERT_NE(pb.find(p.key()), nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  }
}

TEST(Checkpoint, SaveLoadRoundTripIsBitIdentical) {
  test::TempDir dir;
  auto model = test::micro_model(1);
  save_llava(model, dir.path());
  auto loaded = load_llava(dir.path());
  expect_same_parameters(model, loaded);
  auto pixels = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(logits_of(model, image_prompt(), pixels),
                           logits_of(loaded, image_prompt(), pixels)));
}

TEST(Checkpoint, ShardedAndSingleFileGiveTheSameModel) {
  test::TempDir single, sharded;
  auto model = test::micro_model(2);
  save_llava(model, single.path());
  SaveOptions options;
  options.max_shard_bytes = 100'000;
  save_llava(model, sharded.path(), options);
  EXPECT_TRUE(fs::exists(sharded.file("model.safetensors.index.json")));
  EXPECT_FALSE(fs::exists(sharded.file("model.safetensors")));
  const auto files = open_checkpoint_files(sharded.path());
  EXPECT_GT(files.shards.size(), 2u);
  auto a = load_llava(single.path());
  auto b = load_llava(sharded.path());
  expect_same_parameters(a, b);
  // Saving single-file over a sharded folder leaves no stale shards.
  save_llava(model, sharded.path());
  EXPECT_FALSE(fs::exists(sharded.file("model.safetensors.index.json")));
  EXPECT_NO_THROW(load_llava(sharded.path()));
}

TEST(Checkpoint, PerLayerWidthsRoundTrip) {
  test::TempDir dir;
  auto config = test::micro_config();
  config.text.layers[0] = {48, 4, 2};
  config.text.layers[2] = {16, 2, 1};
  auto model = test::micro_model(3, config);
  save_llava(model, dir.path());
  const auto json = read_json_file(dir.file("config.json"));
  EXPECT_EQ(json["text_config"]["layer_intermediate_size"], nlohmann::json({48, 128, 16}));
  auto loaded = load_llava(dir.path());
  EXPECT_EQ(loaded->config().text.layers[2].num_attention_heads, 2);
  expect_same_parameters(model, loaded);
  auto pixels = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(logits_of(model, image_prompt(), pixels),
                           logits_of(loaded, image_prompt(), pixels)));
}

TEST(Checkpoint, ReadsTheNewerKeyLayout) {
  test::TempDir old_layout, new_layout;
  auto model = test::micro_model(4);
  save_llava(model, old_layout.path());
  NamedTensors renamed;
  for (const auto& p : model->named_parameters()) {
    std::string name = p.key();
    if (name == "language_model.lm_head.weight") {
      name = "lm_head.weight";
    } else if (name.rfind("language_model.model.", 0) == 0) {
      name = "model.language_model." + name.substr(21);
    } else {
      name = "model." + name;
    }
    renamed.emplace_back(name, p.value());
  }
  renamed.emplace_back("model.vision_tower.vision_model.embeddings.position_ids",
                       torch::arange(17, torch::kInt64).unsqueeze(0));
  write_safetensors(new_layout.file("model.safetensors"), renamed);
  fs::copy_file(old_layout.file("config.json"), new_layout.file("config.json"));
  auto loaded = load_llava(new_layout.path());
  expect_same_parameters(model, loaded);
}

TEST(Checkpoint, HalfPrecisionStorageLoadsIntoAnyDtype) {
  test::TempDir dir;
  auto model = test::micro_model(5);
  SaveOptions options;
  options.dtype = torch::kBFloat16;
  save_llava(model, dir.path(), options);
  EXPECT_EQ(read_json_file(dir.file("config.json"))["torch_dtype"], "bfloat16");
  auto as_f32 = load_llava(dir.path());
  auto params = model->named_parameters();
  for (const auto& p : as_f32->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), params[p.key()].to(torch::kBFloat16).to(torch::kFloat32)));
  LoadOptions bf16;
  bf16.dtype = torch::kBFloat16;
  auto as_bf16 = load_llava(dir.path(), bf16);
  EXPECT_EQ(as_bf16->language_model->lm_head->weight.scalar_type(), torch::kBFloat16);
  auto logits = logits_of(as_bf16, image_prompt(), torch::randn({1, 3, 32, 32}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

// Rewrites the folder's checkpoint with `edit` applied to its tensor list.
template <typename Edit>
void rewrite_checkpoint(const test::TempDir& dir, LlavaModel& model, Edit edit) {
  NamedTensors tensors;
  for (const auto& p : model->named_parameters()) tensors.emplace_back(p.key(), p.value());
  edit(tensors);
  write_safetensors(dir.file("model.safetensors"), tensors);
}

void expect_load_error(const test::TempDir& dir, const std::string& needle) {
  try {
    load_llava(dir.path());
    FAIL() << "loaded a broken checkpoint; expected: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, BrokenCheckpointsAreClearErrors) {
  test::TempDir dir;
  auto model = test::micro_model(6);
  save_llava(model, dir.path());

  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t.pop_back(); });
  expect_load_error(dir, "missing tensor 'language_model.");

  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t.emplace_back("extra.weight", torch::ones({2})); });
  expect_load_error(dir, "unexpected tensor 'extra.weight'");

  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t[0].second = torch::ones({3, 3}); });
  expect_load_error(dir, "has shape [3, 3] but config.json implies");

  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t[0].second = t[0].second.to(torch::kInt32); });
  expect_load_error(dir, "non-float dtype I32");

  // A truncated file names the file.
  save_llava(model, dir.path());
  fs::resize_file(dir.file("model.safetensors"), fs::file_size(dir.file("model.safetensors")) - 10);
  expect_load_error(dir, "model.safetensors");

  // A missing config field.
  save_llava(model, dir.path());
  auto config = read_json_file(dir.file("config.json"));
  config.erase("vision_config");
  write_json_file(dir.file("config.json"), config);
  expect_load_error(dir, "missing field 'vision_config'");

  fs::remove(dir.file("config.json"));
  expect_load_error(dir, "config.json: cannot open file");
}

TEST(Checkpoint, NamesParseAndDevicesAreChecked) {
  EXPECT_EQ(parse_dtype("bf16"), torch::kBFloat16);
  EXPECT_THROW(parse_dtype("f8"), Error);
  EXPECT_EQ(parse_device("cpu"), torch::Device(torch::kCPU));
  EXPECT_THROW(parse_device("tpu"), Error);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(parse_device("cuda"), Error);
  }
  EXPECT_EQ(canonical_tensor_name("model.language_model.norm.weight"), "language_model.model.norm.weight");
  EXPECT_EQ(canonical_tensor_name("lm_head.weight"), "language_model.lm_head.weight");
  EXPECT_EQ(canonical_tensor_name("vision_tower.vision_model.embeddings.position_ids"), "");
}

}  // namespace
}  // namespace hipp
