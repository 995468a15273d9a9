#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "model/summary.h"
#include "model/tensor_io.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

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
  EXPECT_TRUE(torch::equal(test::image_logits(model, image_prompt(), pixels),
                           test::image_logits(loaded, image_prompt(), pixels)));
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
  EXPECT_TRUE(torch::equal(test::image_logits(model, image_prompt(), pixels),
                           test::image_logits(loaded, image_prompt(), pixels)));
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

// transformers 5's save layout: the language model under language_model.model
// and language_model.lm_head, the vision tower without "vision_model.".
TEST(Checkpoint, ReadsTheTransformers5SaveLayout) {
  test::TempDir old_layout, v5_layout;
  auto model = test::micro_model(5);
  save_llava(model, old_layout.path());
  NamedTensors renamed;
  const std::string tower = "vision_tower.vision_model.";
  for (const auto& p : model->named_parameters()) {
    std::string name = p.key();
    if (name.rfind(tower, 0) == 0) name = "vision_tower." + name.substr(tower.size());
    renamed.emplace_back(name, p.value());
  }
  ASSERT_EQ(renamed.front().first.rfind("vision_tower.embeddings.", 0), 0u) << renamed.front().first;
  write_safetensors(v5_layout.file("model.safetensors"), renamed);
  fs::copy_file(old_layout.file("config.json"), v5_layout.file("config.json"));
  auto loaded = load_llava(v5_layout.path());
  expect_same_parameters(model, loaded);
  auto pixels = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(torch::equal(test::image_logits(model, image_prompt(), pixels),
                           test::image_logits(loaded, image_prompt(), pixels)));
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
  auto logits = test::image_logits(as_bf16, image_prompt(), torch::randn({1, 3, 32, 32}));
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

  // NaN or infinite weights: refused, naming the tensor.
  save_llava(model, dir.path());
  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t[1].second = t[1].second.clone().fill_(NAN); });
  expect_load_error(dir, "holds NaN or infinite values");
  rewrite_checkpoint(dir, model, [](NamedTensors& t) { t.back().second = t.back().second.clone().fill_(INFINITY); });
  expect_load_error(dir, "holds NaN or infinite values");

  fs::remove(dir.file("config.json"));
  expect_load_error(dir, "config.json: cannot open file");
}

// `info` reads headers only, but a config that does not describe the stored
// tensors (here: no sizes, so LLaVA-7B's defaults) is an error, not a summary.
TEST(Checkpoint, SummaryChecksTheHeadersAgainstTheConfig) {
  test::TempDir dir;
  auto model = test::micro_model(8);
  save_llava(model, dir.path());
  EXPECT_NO_THROW(summarize_model_folder(dir.path()));
  auto config = read_json_file(dir.file("config.json"));
  config["text_config"].erase("hidden_size");
  config["text_config"].erase("num_hidden_layers");
  write_json_file(dir.file("config.json"), config);
  try {
    summarize_model_folder(dir.path());
    ADD_FAILURE() << "summarised a config that does not describe the tensors";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json implies"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, ProjectorBiasAndTiedEmbeddingsLoad) {
  test::TempDir dir;
  auto config = test::micro_config();
  config.multimodal_projector_bias = false;
  auto model = test::micro_model(9, config);
  save_llava(model, dir.path());
  auto loaded = load_llava(dir.path());
  expect_same_parameters(model, loaded);

  // Tied: the stored lm_head may be absent (the embedding is used) or equal;
  // one that differs is refused.
  config.text.tie_word_embeddings = true;
  auto tied = test::micro_model(10, config);
  {
    torch::NoGradGuard no_grad;
    tied->language_model->lm_head->weight.copy_(tied->language_model->model->embed_tokens->weight);
  }
  save_llava(tied, dir.path());
  EXPECT_NO_THROW(load_llava(dir.path()));
  rewrite_checkpoint(dir, tied, [](NamedTensors& t) {
    t.erase(
        std::remove_if(t.begin(), t.end(), [](const auto& n) { return n.first == "language_model.lm_head.weight"; }),
        t.end());
  });
  auto without_head = load_llava(dir.path());
  EXPECT_TRUE(
      torch::equal(without_head->language_model->lm_head->weight, tied->language_model->model->embed_tokens->weight));
  rewrite_checkpoint(dir, tied, [](NamedTensors& t) {
    for (auto& n : t)
      if (n.first == "language_model.lm_head.weight") n.second = n.second + 1;
  });
  expect_load_error(dir, "differs from embed_tokens.weight");
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
  EXPECT_EQ(canonical_tensor_name("vision_tower.embeddings.class_embedding"),
            "vision_tower.vision_model.embeddings.class_embedding");
  EXPECT_EQ(canonical_tensor_name("vision_tower.pre_layrnorm.weight"), "vision_tower.vision_model.pre_layrnorm.weight");
  EXPECT_EQ(canonical_tensor_name("model.vision_tower.encoder.layers.0.mlp.fc1.weight"),
            "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight");
  EXPECT_EQ(canonical_tensor_name("model.vision_tower.vision_model.post_layernorm.bias"),
            "vision_tower.vision_model.post_layernorm.bias");
}

TEST(Checkpoint, RandomCheckpointsStreamTensorByTensorAndLoad) {
  for (bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    test::TempDir dir;
    auto config = test::micro_config();
    config.text.tie_word_embeddings = tied;
    RandomCheckpointOptions options;
    options.seed = 4;
    options.max_shard_bytes = 40000;  // several shards with an index
    std::vector<std::string> files;
    options.progress = [&](const std::string& file) { files.push_back(file); };
    write_random_checkpoint(config, dir.path(), options);
    ASSERT_GT(files.size(), 1u);
    EXPECT_TRUE(fs::exists(dir.file("model.safetensors.index.json")));
    const auto checkpoint = open_checkpoint_files(dir.path());
    bool has_head = false;
    for (const auto& header : checkpoint.shards)
      for (const auto& e : header.tensors) {
        EXPECT_EQ(e.dtype, DType::BF16) << e.name;
        has_head = has_head || e.name == "language_model.lm_head.weight";
      }
    EXPECT_EQ(has_head, !tied) << "a tied output layer is left out";
    for (const auto& f : fs::directory_iterator(dir.path())) EXPECT_NE(f.path().extension(), ".tmp");

    auto model = load_llava(dir.path());
    const auto& layer = model->language_model->model->layers[0];
    EXPECT_TRUE(torch::equal(layer->input_layernorm->weight, torch::ones_like(layer->input_layernorm->weight)));
    EXPECT_TRUE(torch::equal(model->multi_modal_projector->linear_1->bias,
                             torch::zeros_like(model->multi_modal_projector->linear_1->bias)));
    const auto w = layer->mlp->gate_proj->weight;
    EXPECT_NEAR(w.std().item<double>(), 0.02, 0.004);
    EXPECT_NEAR(w.mean().item<double>(), 0.0, 0.002);
    // Tensors differ from each other (each has its own stream) and the same
    // seed writes the same file.
    EXPECT_FALSE(torch::equal(w, model->language_model->model->layers[1]->mlp->gate_proj->weight));
    test::TempDir again;
    options.progress = nullptr;
    write_random_checkpoint(config, again.path(), options);
    auto reloaded = load_llava(again.path());
    expect_same_parameters(model, reloaded);
    LlavaInputs inputs;
    inputs.input_ids = image_prompt();
    inputs.image_features = model->encode_images(torch::randn({1, 3, 32, 32}));
    auto logits = model->forward(inputs);
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  }
}

TEST(Checkpoint, AStreamedWriteThatFailsLeavesNothing) {
  test::TempDir dir;
  int made = 0;
  std::vector<TensorSource> sources = {
      {"a",
       {4, 4},
       torch::kBFloat16,
       [&] {
         return ++made, torch::ones({4, 4});
       }},
      {"b", {2}, torch::kFloat32, [&]() -> torch::Tensor { throw Error("no values for b"); }}};
  EXPECT_THROW(write_safetensors_streaming(dir.file("x.safetensors"), sources), Error);
  EXPECT_EQ(made, 1);
  EXPECT_TRUE(fs::is_empty(dir.path())) << "no temporary file is left";
  // A tensor made in another shape than announced is refused.
  sources[1].make = [] { return torch::zeros({3}); };
  EXPECT_NE(test::error_of([&] { write_safetensors_streaming(dir.file("x.safetensors"), sources); }).find("'b'"),
            std::string::npos);
  sources[1].make = [] { return torch::full({2}, 7.0, torch::kFloat64); };  // converted to the announced dtype
  write_safetensors_streaming(dir.file("x.safetensors"), sources);
  const auto header = read_safetensors_header(dir.file("x.safetensors"));
  EXPECT_EQ(read_tensor(header, *header.find("a")).scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(read_tensor(header, *header.find("b")), torch::full({2}, 7.0f)));
}

}  // namespace
}  // namespace hipp
