#pragma once
// Making a blueprint for a model and applying it: physical slicing into a new,
// smaller dense model with per-layer widths (docs/pruning.md).
#include <memory>
#include <string>
#include <vector>

#include "model/llava.h"
#include "prune/blueprint.h"
#include "prune/budget.h"
#include "prune/importance.h"

namespace hipp {

struct PlanRequest {
  Structure structure = Structure::MlpChannels;
  double sparsity = 0.5;
  std::vector<double> allocation;  // empty = uniform
  BudgetOptions budget;
  ImportanceMethod importance = ImportanceMethod::WandaSp;
  std::string calibration_fingerprint;
  std::string source = "uniform";
};

// Budget mapping over the config's current widths; no weights needed.
Blueprint make_blueprint(const LlavaConfig& config, const std::string& model_fingerprint, const PlanRequest& request);

// Scores and statistics a blueprint is applied with.
struct Importance {
  ImportanceMethod method = ImportanceMethod::WandaSp;
  std::string calibration_fingerprint;          // empty for magnitude
  std::vector<std::vector<double>> mlp, heads;  // per layer per unit (filled on demand)
  const CalibrationStats* stats = nullptr;      // flap's bias compensation reads the means
};

// Computes the scores the blueprint's structure needs.
Importance compute_importance(LlavaModel& model, Structure structure, ImportanceMethod method,
                              const CalibrationStats* stats);

// Indices of the units each layer keeps, ascending: the lowest-importance
// units go first, ties broken by index.
std::vector<std::vector<int64_t>> kept_units(const Blueprint& blueprint,
                                             const std::vector<std::vector<double>>& scores);

// How a pruned model holds the tensors pruning leaves unchanged (the vision
// side, embeddings, norms, the output layer, the structure not pruned):
// copies of the dense model's, or the dense model's own storage. Shared is
// for models that are only read (evaluation, export): the pruned model then
// costs only its sliced tensors, and writing into it would write into the
// dense model.
enum class WeightSharing { Copy, ShareUnchanged };

// A new model with the blueprint's widths and the kept units' weights. Checks
// the model fingerprint and the importance method against the blueprint. With
// flap, the removed channels' mean contribution goes into a down_proj bias.
// Only the sliced tensors and (with Copy) the copies are allocated: the new
// model is built without weights and handed each tensor as it is made.
LlavaModel apply_blueprint(LlavaModel& model, const std::string& model_fingerprint, const Blueprint& blueprint,
                           const Importance& importance, WeightSharing sharing = WeightSharing::Copy);

// A pruned model that costs (almost) no weight memory: the dense model's
// units are reordered in place, each layer's kept units first, and the
// pruned model's sliced tensors are views of those leading units (the rest,
// as with ShareUnchanged, are the dense model's own tensors). Reordering
// units leaves what the dense model computes unchanged up to the order of
// floating-point sums, but its parameters are not in their order until
// `restore` is dropped (its last copy puts them back, bit for bit); the
// pruned model must not be used after that. Only flap's bias is allocated.
// The same checks and selection as apply_blueprint.
struct InPlacePruned {
  LlavaModel model{nullptr};
  std::shared_ptr<void> restore;
};
InPlacePruned prune_in_place(LlavaModel& model, const std::string& model_fingerprint, const Blueprint& blueprint,
                             const Importance& importance);

// The same selection as apply_blueprint, but by zeroing the removed units'
// weights in a copy of the dense model (for tests and comparisons; no bias
// compensation).
LlavaModel mask_blueprint(LlavaModel& model, const Blueprint& blueprint, const Importance& importance);

// A deep copy on the same device and dtype.
LlavaModel clone_model(LlavaModel& model);

}  // namespace hipp
