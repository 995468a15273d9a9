#pragma once
// Qwen2.5-VL's vision tower in LibTorch, with Hugging Face's semantics and
// parameter names under `visual.` (patch_embed.proj, blocks.N.{norm1, attn.qkv,
// attn.proj, norm2, mlp.{gate,up,down}_proj}, merger.{ln_q, mlp.0, mlp.2}), so
// named_parameters() are checkpoint keys. The first part of the second
// backbone (issue 21); the language side and the processor come next.
//
// An image arrives as patches, [N, C * T * P * P] rows in the processor's
// order (every 2 x 2 block of patches that the merger joins is contiguous),
// with its grid (t, h, w) in patches. The tower embeds each patch (a Conv3d
// whose kernel equals its stride: a linear map of the flattened patch),
// applies 2-D rotary positions (half the rotary channels follow the row, half
// the column), and runs RMSNorm blocks whose attention stays within windows
// of window_size pixels, except in the full-attention blocks, where it spans
// each image. The merger joins each 2 x 2 block of patches into one token
// (RMSNorm, Linear, GELU, Linear). Windows reorder the tokens; the order is
// undone after the merger, so tokens come out row by row in merged units.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/config.h"
#include "model/layers.h"

namespace hipp {

// The tower's window plan for a list of grids (transformers' get_window_index):
// `order` lists the merged units window by window (each window's units row by
// row, windows row by row, images one after another); `window_bounds` are the
// cumulative patch counts at window ends, starting at 0 (empty windows
// dropped).
struct VisionWindows {
  std::vector<int64_t> order;
  std::vector<int64_t> window_bounds;
};
VisionWindows vision_windows(const std::vector<PatchGrid>& grids, const QwenVisionConfig& config);

// The (row, column) of every patch, in the processor's patch order.
std::vector<std::pair<int64_t, int64_t>> patch_positions(const std::vector<PatchGrid>& grids,
                                                         int64_t spatial_merge_size);

class QwenPatchEmbedImpl : public torch::nn::Module {
 public:
  QwenPatchEmbedImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& patches);  // [N, C*T*P*P] -> [N, D]
  torch::Tensor weight;                                 // proj.weight [D, C, T, P, P]
};
TORCH_MODULE(QwenPatchEmbed);

class QwenVisionAttentionImpl : public torch::nn::Module {
 public:
  QwenVisionAttentionImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  // x [S, D]; cos/sin [S, head_dim]; attention within [bounds[i], bounds[i+1]).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& bounds);
  Linear qkv{nullptr}, proj{nullptr};
  int64_t heads, head_dim;
};
TORCH_MODULE(QwenVisionAttention);

class QwenVisionMlpImpl : public torch::nn::Module {
 public:
  QwenVisionMlpImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  std::string act;
};
TORCH_MODULE(QwenVisionMlp);

class QwenVisionBlockImpl : public torch::nn::Module {
 public:
  QwenVisionBlockImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& bounds);
  RMSNorm norm1{nullptr}, norm2{nullptr};
  QwenVisionAttention attn{nullptr};
  QwenVisionMlp mlp{nullptr};
};
TORCH_MODULE(QwenVisionBlock);

class QwenPatchMergerImpl : public torch::nn::Module {
 public:
  QwenPatchMergerImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);  // [S, D] -> [S / merge_unit, out_hidden_size]
  RMSNorm ln_q{nullptr};
  Linear fc1{nullptr}, fc2{nullptr};  // mlp.0 and mlp.2
  int64_t merged_dim;
};
TORCH_MODULE(QwenPatchMerger);

class QwenVisionTowerImpl : public torch::nn::Module {
 public:
  QwenVisionTowerImpl(const QwenVisionConfig& c, const torch::TensorOptions& options);
  const QwenVisionConfig& config() const { return config_; }
  // patches [sum of grid patches, patch_dim] -> [sum / merge_unit, out_hidden_size].
  // `tap` sees "vision.hidden" after each block (window order).
  torch::Tensor forward(const torch::Tensor& patches, const std::vector<PatchGrid>& grids, const Tap& tap = {});

  QwenPatchEmbed patch_embed{nullptr};
  std::vector<QwenVisionBlock> blocks;
  QwenPatchMerger merger{nullptr};

 private:
  QwenVisionConfig config_;
};
TORCH_MODULE(QwenVisionTower);

}  // namespace hipp
