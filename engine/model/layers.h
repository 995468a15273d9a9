#pragma once
// The building blocks every architecture shares, with Hugging Face's
// parameter names (weight, bias): linear maps (with an optional LoRA
// adapter), LayerNorm, RMSNorm, embeddings, and the Tap that shows a forward
// pass's intermediate tensors.
#include <functional>
#include <string>

#include <torch/torch.h>

namespace hipp {

// Receives named intermediate tensors of a forward pass, in the spirit of a
// per-layer callback, so statistics code never copies model code. Names:
//   "vision.hidden"  [B, N+1, Dv] residual stream after vision layer `layer`
//   "attn.probs"     [B, H_l, T, T] float32 attention probabilities, decoder layer `layer`
//   "attn.out_in"    [B, T, H_l*hd] input of o_proj (heads concatenated), decoder layer `layer`
//   "mlp.down_in"    [B, T, I_l]  input of down_proj, decoder layer `layer`
//   "layer.out"      [B, T, D]    residual stream after decoder layer `layer`
using Tap = std::function<void(const std::string& name, int64_t layer, const torch::Tensor& value)>;

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined
  // Optional low-rank adapter (LoRA, finetune/lora.h): when lora_a is
  // defined, forward adds lora_scale * lora_b lora_a dropout(x). The adapter
  // is not a registered parameter, so checkpoints and named_parameters()
  // never see it.
  torch::Tensor lora_a;  // [r, in]
  torch::Tensor lora_b;  // [out, r]
  double lora_scale = 0, lora_dropout = 0;
};
TORCH_MODULE(Linear);

class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // [dim]
  double eps;
};
TORCH_MODULE(LayerNorm);

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RMSNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t count, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);
  torch::Tensor weight;  // [count, dim]
};
TORCH_MODULE(Embedding);

}  // namespace hipp
