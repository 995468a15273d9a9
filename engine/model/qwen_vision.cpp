#include "model/qwen_vision.h"

#include <algorithm>

#include "core/error.h"

namespace hipp {

namespace {

torch::Tensor activate(const torch::Tensor& x, const std::string& act) {
  if (act == "silu") return torch::silu(x);
  if (act == "gelu") return torch::gelu(x);
  if (act == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  return x * torch::sigmoid(1.702 * x);  // quick_gelu
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

}  // namespace

namespace {

void check_grid(const PatchGrid& g, int64_t merge) {
  if (g.t < 1 || g.h < 1 || g.w < 1 || g.h % merge != 0 || g.w % merge != 0)
    throw Error("image grid " + std::to_string(g.t) + "x" + std::to_string(g.h) + "x" + std::to_string(g.w) +
                ": every side must be positive and the height and width multiples of " + std::to_string(merge));
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> patch_positions(const std::vector<PatchGrid>& grids, int64_t merge) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& g : grids) {
    check_grid(g, merge);
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t bh = 0; bh < g.h / merge; ++bh)
        for (int64_t bw = 0; bw < g.w / merge; ++bw)
          for (int64_t ih = 0; ih < merge; ++ih)
            for (int64_t iw = 0; iw < merge; ++iw) out.emplace_back(bh * merge + ih, bw * merge + iw);
  }
  return out;
}

VisionWindows vision_windows(const std::vector<PatchGrid>& grids, const QwenVisionConfig& c) {
  VisionWindows out;
  out.window_bounds.push_back(0);
  const int64_t side = c.window_units();
  int64_t offset = 0;
  for (const auto& g : grids) {
    check_grid(g, c.spatial_merge_size);
    const int64_t rows = g.h / c.spatial_merge_size, cols = g.w / c.spatial_merge_size;
    const int64_t windows_h = (rows + side - 1) / side, windows_w = (cols + side - 1) / side;
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t wh = 0; wh < windows_h; ++wh)
        for (int64_t ww = 0; ww < windows_w; ++ww) {
          int64_t count = 0;
          for (int64_t r = wh * side; r < std::min(rows, (wh + 1) * side); ++r)
            for (int64_t col = ww * side; col < std::min(cols, (ww + 1) * side); ++col) {
              out.order.push_back(offset + (t * rows + r) * cols + col);
              ++count;
            }
          if (count > 0) out.window_bounds.push_back(out.window_bounds.back() + count * c.merge_unit());
        }
    offset += g.t * rows * cols;
  }
  return out;
}

// ---- modules ------------------------------------------------------------------

QwenPatchEmbedImpl::QwenPatchEmbedImpl(const QwenVisionConfig& c, const torch::TensorOptions& options) {
  // A Conv3d whose kernel is its stride; stored as the checkpoint has it.
  auto proj = register_module("proj", std::make_shared<torch::nn::Module>());
  weight = proj->register_parameter(
      "weight",
      torch::empty({c.hidden_size, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}, options));
}

torch::Tensor QwenPatchEmbedImpl::forward(const torch::Tensor& patches) {
  const int64_t dim = weight.size(0);
  if (patches.dim() != 2 || patches.size(1) != weight.numel() / dim)
    throw Error("vision tower: patches must be [N, " + std::to_string(weight.numel() / dim) + "]");
  return torch::linear(patches.to(weight.scalar_type()), weight.reshape({dim, -1}));
}

QwenVisionAttentionImpl::QwenVisionAttentionImpl(const QwenVisionConfig& c, const torch::TensorOptions& options)
    : heads(c.num_heads), head_dim(c.head_dim()) {
  qkv = register_module("qkv", Linear(c.hidden_size, 3 * c.hidden_size, true, options));
  proj = register_module("proj", Linear(c.hidden_size, c.hidden_size, true, options));
}

torch::Tensor QwenVisionAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                               const torch::Tensor& sin, const std::vector<int64_t>& bounds) {
  const int64_t s = x.size(0);
  auto parts = qkv(x).reshape({s, 3, heads, head_dim}).permute({1, 0, 2, 3}).unbind(0);
  // Rotary positions in float32, as the reference applies them.
  auto rotate = [&](const torch::Tensor& t) {
    const auto f = t.to(torch::kFloat32);
    const auto c = cos.unsqueeze(-2), n = sin.unsqueeze(-2);
    return (f * c + rotate_half(f) * n).to(t.scalar_type());
  };
  const auto q = rotate(parts[0]).transpose(0, 1), k = rotate(parts[1]).transpose(0, 1);
  const auto v = parts[2].transpose(0, 1);  // [H, S, hd]
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<torch::Tensor> outputs;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    const int64_t a = bounds[i], b = bounds[i + 1];
    const auto qi = q.slice(1, a, b), ki = k.slice(1, a, b), vi = v.slice(1, a, b);
    const auto probs = torch::softmax(torch::matmul(qi, ki.transpose(1, 2)).to(torch::kFloat32) * scale, -1);
    outputs.push_back(torch::matmul(probs.to(vi.scalar_type()), vi));
  }
  const auto out = torch::cat(outputs, 1).transpose(0, 1).reshape({s, heads * head_dim});
  return proj(out);
}

QwenVisionMlpImpl::QwenVisionMlpImpl(const QwenVisionConfig& c, const torch::TensorOptions& options)
    : act(c.hidden_act) {
  gate_proj = register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, true, options));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, true, options));
  down_proj = register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, true, options));
}

torch::Tensor QwenVisionMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(activate(gate_proj(x), act) * up_proj(x));
}

QwenVisionBlockImpl::QwenVisionBlockImpl(const QwenVisionConfig& c, const torch::TensorOptions& options) {
  norm1 = register_module("norm1", RMSNorm(c.hidden_size, 1e-6, options));
  norm2 = register_module("norm2", RMSNorm(c.hidden_size, 1e-6, options));
  attn = register_module("attn", QwenVisionAttention(c, options));
  mlp = register_module("mlp", QwenVisionMlp(c, options));
}

torch::Tensor QwenVisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                           const std::vector<int64_t>& bounds) {
  const auto h = x + attn(norm1(x), cos, sin, bounds);
  return h + mlp(norm2(h));
}

QwenPatchMergerImpl::QwenPatchMergerImpl(const QwenVisionConfig& c, const torch::TensorOptions& options)
    : merged_dim(c.hidden_size * c.merge_unit()) {
  ln_q = register_module("ln_q", RMSNorm(c.hidden_size, 1e-6, options));
  // transformers' nn.Sequential(Linear, GELU, Linear): parameters mlp.0.* and mlp.2.*.
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  fc1 = mlp->register_module("0", Linear(merged_dim, merged_dim, true, options));
  fc2 = mlp->register_module("2", Linear(merged_dim, c.out_hidden_size, true, options));
}

torch::Tensor QwenPatchMergerImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(ln_q(x).reshape({-1, merged_dim}))));
}

QwenVisionTowerImpl::QwenVisionTowerImpl(const QwenVisionConfig& c, const torch::TensorOptions& options) : config_(c) {
  patch_embed = register_module("patch_embed", QwenPatchEmbed(c, options));
  auto list = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks.push_back(QwenVisionBlock(c, options));
    list->push_back(blocks.back());
  }
  merger = register_module("merger", QwenPatchMerger(c, options));
}

torch::Tensor QwenVisionTowerImpl::forward(const torch::Tensor& patches, const std::vector<PatchGrid>& grids,
                                           const Tap& tap) {
  const auto& c = config_;
  int64_t total = 0;
  for (const auto& g : grids) total += g.patches();
  if (patches.dim() != 2 || patches.size(0) != total)
    throw Error("vision tower: " + std::to_string(patches.dim() == 2 ? patches.size(0) : -1) +
                " patches for grids that hold " + std::to_string(total));
  const auto device = patches.device();
  const int64_t unit = c.merge_unit(), s = total;

  // 2-D rotary angles: the first half of the rotary channels follow the row,
  // the second half the column (a table over positions, then gathered).
  const int64_t rotary = c.head_dim() / 2;
  const auto inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0, rotary, 2, torch::TensorOptions().dtype(torch::kFloat32)) / rotary);
  int64_t longest = 0;
  for (const auto& g : grids) longest = std::max({longest, g.h, g.w});
  const auto table = torch::outer(torch::arange(longest, torch::TensorOptions().dtype(torch::kFloat32)), inv_freq);
  std::vector<int64_t> rows, cols;
  for (const auto& [r, col] : patch_positions(grids, c.spatial_merge_size)) {
    rows.push_back(r);
    cols.push_back(col);
  }
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64);
  auto angles = torch::cat({table.index_select(0, torch::tensor(rows, index_options)),
                            table.index_select(0, torch::tensor(cols, index_options))},
                           1);  // [S, head_dim / 2]

  // Window order: merged units window by window.
  const auto windows = vision_windows(grids, c);
  const auto order = torch::tensor(windows.order, index_options);
  auto x = patch_embed(patches);
  x = x.reshape({s / unit, unit, -1}).index_select(0, order.to(device)).reshape({s, -1});
  angles = angles.reshape({s / unit, unit, -1}).index_select(0, order).reshape({s, -1});
  const auto emb = torch::cat({angles, angles}, -1).to(device);
  const auto cos = emb.cos(), sin = emb.sin();

  // Full attention spans each frame of each image.
  std::vector<int64_t> full{0};
  for (const auto& g : grids)
    for (int64_t t = 0; t < g.t; ++t) full.push_back(full.back() + g.h * g.w);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const bool whole = std::find(c.fullatt_block_indexes.begin(), c.fullatt_block_indexes.end(),
                                 static_cast<int64_t>(i)) != c.fullatt_block_indexes.end();
    x = blocks[i](x, cos, sin, whole ? full : windows.window_bounds);
    if (tap) tap("vision.hidden", static_cast<int64_t>(i), x);
  }
  x = merger(x);
  // Back to the processor's order.
  return x.index_select(0, torch::argsort(order).to(device));
}

}  // namespace hipp
