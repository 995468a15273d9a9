#include <gtest/gtest.h>

#include <filesystem>

#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/image.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/tokenizer.h"
#include "support.h"

// Golden logits from transformers: micro LLaVA checkpoints saved by
// transformers 5 (and rewritten in the 4.x hub layout), with GQA, rope_theta
// 500000, llama3 and linear RoPE scaling, a projector without bias, tied
// embeddings and a non-square input image, made by
// scripts/device/make-transformers-fixtures.py (docs/formats.md). Each case:
// the engine's logits within 1e-4 of transformers' on transformers' pixels,
// within 1e-3 on its own preprocessing, whose pixels differ by at most 1e-2
// (mean 1e-3) from CLIPImageProcessor's.

namespace hipp {
namespace {
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(HIPP_TEST_FIXTURES) / "transformers";

torch::Tensor golden(const fs::path& file, const std::string& name) {
  const auto header = read_safetensors_header(file.string());
  const auto* entry = header.find(name);
  if (!entry) throw std::runtime_error(file.string() + ": no tensor " + name);
  return read_tensor(header, *entry);
}

// Qwen2.5-VL: the engine's logits within 1e-4 of transformers' on
// transformers' patches and grid; its own processing gives the same grid and
// patches within 1e-2 (mean 1e-3), and logits within 1e-3 on them.
void check_qwen_case(const fs::path& dir) {
  auto model = load_llava((dir / "model").string());
  const auto file = dir / "golden.safetensors";
  const auto ids = golden(file, "input_ids").to(torch::kInt64);
  const auto patches = golden(file, "pixel_values").to(torch::kFloat32);
  const auto g = golden(file, "image_grid_thw").to(torch::kInt64).reshape({-1});
  const PatchGrid grid{g[0].item<int64_t>(), g[1].item<int64_t>(), g[2].item<int64_t>()};
  const auto expected = golden(file, "logits").to(torch::kFloat32);
  torch::NoGradGuard no_grad;
  auto logits_on = [&](const torch::Tensor& pixels) {
    LlavaInputs inputs;
    inputs.input_ids = ids;
    inputs.image_features = model->encode_patches(pixels, {grid});
    inputs.image_grids = {grid};
    return model->forward(inputs);
  };
  const auto logits = logits_on(patches);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-4);

  const auto preprocessor = read_preprocessor_config((dir / "model" / "preprocessor_config.json").string());
  const auto prepared = prepare_image(load_image((dir / "image.png").string()), preprocessor);
  ASSERT_EQ(prepared.grid_t, grid.t);
  ASSERT_EQ(prepared.grid_h, grid.h);
  ASSERT_EQ(prepared.grid_w, grid.w);
  auto own = torch::from_blob(const_cast<float*>(prepared.values.data()), prepared.shape, torch::kFloat32).clone();
  ASSERT_EQ(own.sizes(), patches.sizes());
  const auto diff = (own - patches).abs();
  EXPECT_LE(diff.max().item<double>(), 1e-2);
  EXPECT_LE(diff.mean().item<double>(), 1e-3);
  EXPECT_LT((logits_on(own) - expected).abs().max().item<double>(), 1e-3);
}

TEST(TransformersFixtures, LogitsAndPixelsMatchTransformers) {
  if (!fs::is_directory(kFixtures))
    GTEST_SKIP() << "no fixtures in " << kFixtures << " (made by scripts/device/make-transformers-fixtures.py)";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (!entry.is_directory()) continue;
    const fs::path dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    ++cases;
    if (read_llava_config((dir / "model" / "config.json").string()).is_qwen()) {
      check_qwen_case(dir);
      continue;
    }
    auto model = load_llava((dir / "model").string());
    const auto ids = golden(dir / "golden.safetensors", "input_ids").to(torch::kInt64);
    const auto pixels = golden(dir / "golden.safetensors", "pixel_values").to(torch::kFloat32);
    const auto expected = golden(dir / "golden.safetensors", "logits").to(torch::kFloat32);
    const auto logits = test::image_logits(model, ids, pixels);
    ASSERT_EQ(logits.sizes(), expected.sizes());
    EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-4);

    const auto preprocessor = read_preprocessor_config((dir / "model" / "preprocessor_config.json").string());
    const auto image = load_image((dir / "image.png").string());
    auto values = preprocess_image(image, preprocessor);
    auto own = torch::from_blob(values.data(), pixels.sizes(), torch::kFloat32).clone();
    const auto diff = (own - pixels).abs();
    EXPECT_LE(diff.max().item<double>(), 1e-2);
    EXPECT_LE(diff.mean().item<double>(), 1e-3);
    EXPECT_LT((test::image_logits(model, ids, own) - expected).abs().max().item<double>(), 1e-3);
  }
  EXPECT_GT(cases, 0);
}

// The byte-level BPE against the tokenizers library on the same tokenizer.json.
TEST(TransformersFixtures, ByteLevelBpeMatchesTheTokenizersLibrary) {
  const auto path = kFixtures / "tokenizer-ids.json";
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path << " (made by scripts/device/make-transformers-fixtures.py)";
  const auto tokenizer = Tokenizer::load((fs::path(HIPP_TEST_FIXTURES) / "qwen-tokenizer" / "tokenizer.json").string());
  const auto cases = read_json_file(path.string());
  ASSERT_TRUE(cases.is_array());
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(tokenizer.encode(text), c["ids"].get<std::vector<int64_t>>()) << text;
  }
}

}  // namespace
}  // namespace hipp
