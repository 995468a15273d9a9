#include "model/answer_loss.h"

#include <algorithm>

#include "core/error.h"

namespace hipp {

PaddedBatch pad_sequences(const std::vector<const std::vector<int64_t>*>& ids,
                          const std::vector<const std::vector<int64_t>*>& labels) {
  if (ids.size() != labels.size()) throw Error("pad_sequences: ids and labels differ in rows");
  int64_t longest = 0;
  for (const auto* row : ids) longest = std::max<int64_t>(longest, static_cast<int64_t>(row->size()));
  const auto rows = static_cast<int64_t>(ids.size());
  PaddedBatch out{torch::zeros({rows, longest}, torch::kInt64),
                  torch::full({rows, longest}, kIgnoreLabel, torch::kInt64)};
  for (int64_t r = 0; r < rows; ++r) {
    const auto& row_ids = *ids[static_cast<size_t>(r)];
    const auto& row_labels = *labels[static_cast<size_t>(r)];
    if (row_ids.size() != row_labels.size()) throw Error("pad_sequences: a row's ids and labels differ in length");
    const auto n = static_cast<int64_t>(row_ids.size());
    out.ids[r].slice(0, 0, n).copy_(torch::tensor(row_ids, torch::kInt64));
    out.labels[r].slice(0, 0, n).copy_(torch::tensor(row_labels, torch::kInt64));
  }
  return out;
}

AnswerTokenLosses answer_token_losses(LlavaModel& model, const LlavaInputs& inputs, const torch::Tensor& labels,
                                      bool tied, const ForwardOptions& forward) {
  const auto device = model->options().device();
  const auto hidden_size = model->config().text.hidden_size;
  // The hidden state at position t predicts the token at t + 1.
  auto hidden = model->final_hidden(inputs, forward).slice(1, 0, -1).reshape({-1, hidden_size});
  auto targets_grid = labels.slice(1, 1);
  auto targets = targets_grid.reshape({-1});
  auto keep = (targets != kIgnoreLabel).nonzero().squeeze(1);
  auto selected = hidden.index_select(0, keep.to(device));
  auto logits = tied ? torch::matmul(selected, model->language_model->model->embed_tokens->weight.t())
                     : model->language_model->lm_head(selected);
  AnswerTokenLosses out;
  out.loss =
      torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), targets.index_select(0, keep).to(device),
                                           torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  out.row = torch::div(keep, targets_grid.size(1), "floor").to(device);
  return out;
}

}  // namespace hipp
