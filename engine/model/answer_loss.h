#pragma once
// The answer-token loss every trainer here uses (the demo trainer, LoRA
// fine-tuning): next-token cross-entropy at the positions whose label is not
// kIgnoreLabel, i.e. the answers and their EOS.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "model/llava.h"
#include "model/prompt.h"

namespace hipp {

// Token ids and labels of several sequences, right-padded to the longest:
// ids with 0, labels with kIgnoreLabel. `ids[r]` and `labels[r]` have one
// length each.
struct PaddedBatch {
  torch::Tensor ids, labels;  // [rows, longest], int64, on the CPU
};
PaddedBatch pad_sequences(const std::vector<const std::vector<int64_t>*>& ids,
                          const std::vector<const std::vector<int64_t>*>& labels);

// One loss per answer token (float32) and the row it belongs to.
struct AnswerTokenLosses {
  torch::Tensor loss;  // [tokens]
  torch::Tensor row;   // [tokens], int64, on the model's device
};
// `inputs` holds the batch's ids (and image features); `labels` its labels
// (CPU). With `tied`, the logits come from the input embedding (the demo
// trainer ties lm_head to it); otherwise from lm_head.
// `forward` passes options to the forward pass (e.g. layers to skip).
AnswerTokenLosses answer_token_losses(LlavaModel& model, const LlavaInputs& inputs, const torch::Tensor& labels,
                                      bool tied = false, const ForwardOptions& forward = {});

}  // namespace hipp
