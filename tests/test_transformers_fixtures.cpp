#include <gtest/gtest.h>

#include <filesystem>

#include "model/checkpoint.h"
#include "model/image.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
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

TEST(TransformersFixtures, LogitsAndPixelsMatchTransformers) {
  if (!fs::is_directory(kFixtures))
    GTEST_SKIP() << "no fixtures in " << kFixtures << " (made by scripts/device/make-transformers-fixtures.py)";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (!entry.is_directory()) continue;
    const fs::path dir = entry.path();
    SCOPED_TRACE(dir.filename().string());
    ++cases;
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

}  // namespace
}  // namespace hipp
