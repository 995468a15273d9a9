// Qwen2.5-VL's vision tower (model/qwen_vision.h): its config, the processor's
// patch order, the window plan, and the tower's output against a reference
// written here a second way (a Conv3d patch embedding, rotary angles from
// each patch's row and column, attention restricted by a mask in the
// processor's order instead of reordered windows).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "model/qwen_vision.h"
#include "support.h"

namespace hipp {
namespace {

QwenVisionConfig tiny() {
  QwenVisionConfig c;
  c.depth = 3;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_heads = 2;
  c.patch_size = 2;
  c.temporal_patch_size = 2;
  c.spatial_merge_size = 2;
  c.window_size = 8;  // 2 x 2 merged units
  c.out_hidden_size = 40;
  c.fullatt_block_indexes = {1};
  return c;
}

TEST(QwenVision, ASparseConfigTakesTheClassDefaultsAndBadSizesAreRefused) {
  const auto c = parse_qwen_vision_config({{"hidden_size", 1280}, {"out_hidden_size", 2048}}, "config.json");
  EXPECT_EQ(c.depth, 32);
  EXPECT_EQ(c.intermediate_size, 3420);
  EXPECT_EQ(c.num_heads, 16);
  EXPECT_EQ(c.window_size, 112);
  EXPECT_EQ(c.window_units(), 4);
  EXPECT_EQ(c.spatial_merge_size, 2);
  EXPECT_EQ(c.temporal_patch_size, 2);
  EXPECT_EQ(c.patch_dim(), 3 * 2 * 14 * 14);
  EXPECT_EQ(c.fullatt_block_indexes, (std::vector<int64_t>{7, 15, 23, 31}));
  EXPECT_EQ(parse_qwen_vision_config(qwen_vision_config_to_json(c), "x").hidden_size, 1280);
  for (const auto& [bad, field] :
       std::vector<std::pair<nlohmann::json, std::string>>{{{{"window_size", 100}}, "window_size"},
                                                           {{{"num_heads", 5}}, "hidden_size"},
                                                           {{{"depth", 4}}, "fullatt_block_indexes"},
                                                           {{{"hidden_act", "swish2"}}, "hidden_act"},
                                                           {{{"depth", 0}}, "depth"},
                                                           {{{"patch_size", "14"}}, "patch_size"}}) {
    const auto what = test::error_of([&] { parse_qwen_vision_config(bad, "config.json"); });
    EXPECT_NE(what.find(field), std::string::npos) << bad.dump() << ": " << what;
  }
}

TEST(QwenVision, PatchesComeInMergeBlocksAndWindowsCoverEveryUnitOnce) {
  const auto p = patch_positions({{1, 4, 4}}, 2);
  ASSERT_EQ(p.size(), 16u);
  const std::vector<std::pair<int64_t, int64_t>> first{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}};
  using Positions = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(Positions(p.begin(), p.begin() + 7), first);
  EXPECT_EQ(p[8], (std::pair<int64_t, int64_t>{2, 0}));

  // 3 x 5 merged units in windows of 2 x 2: 2 x 3 windows of 4, 4, 2 / 2, 2, 1 units.
  const auto c = tiny();
  const auto w = vision_windows({{1, 6, 10}}, c);
  EXPECT_EQ(w.order, (std::vector<int64_t>{0, 1, 5, 6, 2, 3, 7, 8, 4, 9, 10, 11, 12, 13, 14}));
  EXPECT_EQ(w.window_bounds, (std::vector<int64_t>{0, 16, 32, 40, 48, 56, 60}));
  // A grid the windows divide exactly has no empty window; a second image continues the numbering.
  const auto two = vision_windows({{1, 4, 4}, {2, 2, 4}}, c);
  EXPECT_EQ(two.order, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(two.window_bounds, (std::vector<int64_t>{0, 16, 24, 32}));
  EXPECT_THROW(vision_windows({{1, 3, 4}}, c), Error);  // not a whole number of merge blocks
}

// The tower written a second way, in the processor's order throughout.
torch::Tensor reference(QwenVisionTower& tower, const torch::Tensor& patches, const std::vector<PatchGrid>& grids) {
  const auto& c = tower->config();
  const int64_t d = c.hidden_size, hd = c.head_dim(), heads = c.num_heads;
  auto x = torch::conv3d(patches.view({-1, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}),
                         tower->patch_embed->weight, {}, {c.temporal_patch_size, c.patch_size, c.patch_size})
               .view({-1, d});
  // Each patch's image, frame, row, column, and its window.
  std::vector<int64_t> image, frame, row, col;
  for (size_t i = 0; i < grids.size(); ++i) {
    const auto& g = grids[i];
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t r = 0; r < g.h; r += 2)
        for (int64_t q = 0; q < g.w; q += 2)
          for (int64_t a = 0; a < 2; ++a)
            for (int64_t b = 0; b < 2; ++b) {
              image.push_back(static_cast<int64_t>(i));
              frame.push_back(t);
              row.push_back(r + a);
              col.push_back(q + b);
            }
  }
  const int64_t s = static_cast<int64_t>(row.size());
  const int64_t units = c.window_units();
  auto same = [&](bool windowed) {
    auto mask = torch::full({s, s}, -std::numeric_limits<float>::infinity());
    for (int64_t i = 0; i < s; ++i)
      for (int64_t j = 0; j < s; ++j) {
        bool together = image[i] == image[j] && frame[i] == frame[j];
        if (windowed)
          together = together && row[i] / 2 / units == row[j] / 2 / units && col[i] / 2 / units == col[j] / 2 / units;
        if (together) mask[i][j] = 0.0f;
      }
    return mask;
  };
  const auto window_mask = same(true), full_mask = same(false);
  // Rotary angles: row * f for the first quarter of the head, column * f for the second, repeated.
  auto angles = torch::zeros({s, hd / 2});
  for (int64_t i = 0; i < s; ++i)
    for (int64_t k = 0; k < hd / 4; ++k) {
      const float f = static_cast<float>(1.0 / std::pow(10000.0, (2.0 * k) / (hd / 2)));
      angles[i][k] = static_cast<float>(row[i]) * f;
      angles[i][hd / 4 + k] = static_cast<float>(col[i]) * f;
    }
  const auto emb = torch::cat({angles, angles}, -1).unsqueeze(1);
  auto rot = [&](const torch::Tensor& t) {
    const auto half = torch::cat({-t.slice(-1, hd / 2), t.slice(-1, 0, hd / 2)}, -1);
    return t * emb.cos() + half * emb.sin();
  };
  for (int64_t b = 0; b < c.depth; ++b) {
    auto& block = tower->blocks[static_cast<size_t>(b)];
    const bool full =
        std::find(c.fullatt_block_indexes.begin(), c.fullatt_block_indexes.end(), b) != c.fullatt_block_indexes.end();
    const auto h = block->norm1(x);
    const auto qkv = torch::linear(h, block->attn->qkv->weight, block->attn->qkv->bias).view({s, 3, heads, hd});
    const auto q = rot(qkv.select(1, 0)).transpose(0, 1), k = rot(qkv.select(1, 1)).transpose(0, 1);
    const auto v = qkv.select(1, 2).transpose(0, 1);
    const auto probs = torch::softmax(
        torch::matmul(q, k.transpose(1, 2)) / std::sqrt(double(hd)) + (full ? full_mask : window_mask), -1);
    const auto attn = torch::matmul(probs, v).transpose(0, 1).reshape({s, d});
    x = x + torch::linear(attn, block->attn->proj->weight, block->attn->proj->bias);
    const auto m = block->norm2(x);
    x = x + block->mlp->down_proj(torch::silu(block->mlp->gate_proj(m)) * block->mlp->up_proj(m));
  }
  const auto merged = tower->merger->ln_q(x).reshape({s / 4, 4 * d});
  return tower->merger->fc2(torch::gelu(tower->merger->fc1(merged)));
}

TEST(QwenVision, TheTowerMatchesAMaskedReferenceOnSeveralImagesAndWindows) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  const auto c = tiny();
  QwenVisionTower tower(c, torch::TensorOptions().dtype(torch::kFloat32));
  for (auto& p : tower->parameters()) p.normal_(0.0, 0.2);
  // Names as the checkpoint has them.
  const auto params = tower->named_parameters();
  for (const char* name :
       {"patch_embed.proj.weight", "blocks.0.norm1.weight", "blocks.2.attn.qkv.bias", "blocks.1.attn.proj.weight",
        "blocks.0.mlp.gate_proj.bias", "merger.ln_q.weight", "merger.mlp.0.weight", "merger.mlp.2.bias"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_EQ(params["merger.mlp.2.weight"].sizes(), (std::vector<int64_t>{40, 128}));
  // A non-square image with partial windows, a small one, and a two-frame clip.
  const std::vector<PatchGrid> grids{{1, 6, 10}, {1, 2, 2}, {2, 4, 6}};
  int64_t n = 0;
  for (const auto& g : grids) n += g.patches();
  const auto patches = torch::randn({n, c.patch_dim()});
  const auto out = tower(patches, grids);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{n / 4, 40}));
  const auto ref = reference(tower, patches, grids);
  EXPECT_LT((out - ref).abs().max().item<double>(), 1e-5) << (out - ref).abs().max().item<double>();
  // The window plan matters: with every block attending to the whole image the output moves.
  auto all_full = c;
  all_full.fullatt_block_indexes = {0, 1, 2};
  QwenVisionTower other(all_full, torch::TensorOptions().dtype(torch::kFloat32));
  auto theirs = other->named_parameters();
  for (const auto& item : tower->named_parameters()) theirs[item.key()].copy_(item.value());
  EXPECT_GT((other(patches, grids) - out).abs().max().item<double>(), 1e-3);
  EXPECT_THROW(tower(patches.slice(0, 4), grids), Error);
}

}  // namespace
}  // namespace hipp
