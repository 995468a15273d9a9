#pragma once
// Calibration statistics and per-unit importance (docs/pruning.md).
//
// Calibration runs a seeded sample of the benchmark's ScienceQA training
// problems through the model and accumulates, per decoder layer, the first
// and second moments of every down_proj input channel (and the squared norm
// of every o_proj input column, for head pruning) over all real tokens.
//
// Importance of MLP channel j in a layer (higher = keep):
//   magnitude  sqrt(|Wg[j,:]|^2 + |Wu[j,:]|^2 + |Wd[:,j]|^2)
//   wanda-sp   |X_j|_2 * |Wd[:,j]|_2
//   flap       var(X_j) * |Wd[:,j]|^2   (plus bias compensation when applied)
// Importance of KV group g (attention_heads): the sum over its query heads'
// o_proj columns of |X_c|_2 * |Wo[:,c]|_2 (wanda-sp), or the weights' norm
// over q/k/v rows and o columns (magnitude).
#include <cstdint>
#include <string>
#include <vector>

#include "eval/evaluator.h"
#include "model/llava.h"
#include "prune/blueprint.h"

namespace hipp {

struct CalibrationOptions {
  int samples = 64;  // ScienceQA training problems
  uint64_t seed = 7;
  int batch_size = 16;
  std::string split = "train";
};

struct LayerActivations {
  std::vector<double> mlp_sum, mlp_sum_sq;  // per down_proj input channel
  std::vector<double> attn_sum_sq;          // per o_proj input column
  // Token norms of the down_proj input: sum and sum of squares over tokens.
  double token_norm_sum = 0, token_norm_sum_sq = 0;
  // Visual sensitivity, summed over the samples with an image (see
  // state/layer_state.h): attention mass of text queries on image keys, and
  // the rolled-out image-to-text flow after this layer.
  double vision_mass_sum = 0, vision_flow_sum = 0;
};

struct CalibrationStats {
  std::string fingerprint;     // which problems, in which order, with which settings
  int64_t tokens = 0;          // real tokens accumulated
  int64_t vision_samples = 0;  // samples with an image and text after it
  std::vector<LayerActivations> layers;
  double mlp_mean(size_t layer, size_t channel) const;
  double mlp_variance(size_t layer, size_t channel) const;
};

// Visual-sensitivity pieces, pure functions on one sample's attention:
// `probs` [H, T, T] (rows = queries), `image` and `text` boolean masks [T]
// (text = the real tokens after the image). The mean over heads and text
// queries of the probability on image keys:
double vision_attention_mass(const torch::Tensor& probs, const torch::Tensor& image, const torch::Tensor& text);
// One rollout step: R_l = (0.5 A_l + 0.5 I) R_{l-1}, A_l the head-averaged
// attention [T, T]; returns R_l.
torch::Tensor rollout_step(const torch::Tensor& head_mean_probs, const torch::Tensor& previous);
// The rolled-out mass text queries receive from image tokens under R [T, T]
// (mean over text queries of the sum over image keys).
double rollout_vision_flow(const torch::Tensor& rollout, const torch::Tensor& image, const torch::Tensor& text);

// Runs the calibration sample (image features through `evaluator`'s cache).
// Throws hipp::Error when the benchmark has no problems in options.split.
CalibrationStats collect_calibration(Evaluator& evaluator, LlavaModel& model, const Tokenizer& tokenizer,
                                     const SqaDataset& sqa, const CalibrationOptions& options = {});

// Importance per unit (channel or KV group) per decoder layer. `stats` may be
// null only for "magnitude"; otherwise a clear error says calibration is
// needed.
std::vector<std::vector<double>> unit_importance(LlavaModel& model, Structure structure, ImportanceMethod method,
                                                 const CalibrationStats* stats);

// OWL-style layer outlier ratios: share of down_proj weights whose
// |W[k,j]| * |X_j|_2 exceeds `m` times the layer's mean of that score.
std::vector<double> layer_outlier_ratios(LlavaModel& model, const CalibrationStats& stats, double m = 5.0);

// OWL's allocation: layer ratios in [s - lambda, s + lambda], lower where the
// outlier ratio is higher, as a point on the simplex (for equal-sized layers
// the ratios are proportional to it).
std::vector<double> owl_allocation(const std::vector<double>& outlier_ratios, double sparsity, double lambda = 0.08);

}  // namespace hipp
