#pragma once
// Matched-sparsity budget mapping (docs/pruning.md): from a global sparsity
// `s` and a layer allocation `a` (a point on the simplex) to how many units
// (MLP channels or KV-head groups) each layer loses, so that the removed
// prunable parameters equal `s` times all prunable parameters, exactly up to
// rounding. Torch-free and deterministic.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hipp {

// One prunable layer: how many units it has and what one unit costs.
struct PrunableLayer {
  int64_t units = 0;            // channels (or KV groups) the layer has now
  int64_t params_per_unit = 0;  // parameters removed with one unit
};

struct BudgetOptions {
  double r_max = 0.9;  // no layer loses more than this share of its units
  int64_t align = 1;   // kept (and removed) unit counts are multiples of this
};

struct BudgetResult {
  std::vector<double> target_ratios;  // r_l before rounding: min(r_max, c * L * a_l)
  std::vector<int64_t> removed;       // units removed per layer
  std::vector<int64_t> kept;          // units kept per layer
  int64_t prunable_params = 0;        // all prunable parameters
  int64_t target_removed_params = 0;  // round(s * prunable_params)
  int64_t removed_params = 0;         // what `removed` achieves
  double achieved_sparsity() const {
    return prunable_params > 0 ? static_cast<double>(removed_params) / static_cast<double>(prunable_params) : 0;
  }
};

// Throws hipp::Error for s outside [0, 1), an allocation of the wrong length,
// negative or not summing to 1 (within 1e-6), r_max outside (0, 1], align < 1,
// or a budget that the allocation cannot reach under r_max.
BudgetResult map_budget(double sparsity, const std::vector<double>& allocation,
                        const std::vector<PrunableLayer>& layers, const BudgetOptions& options = {});

// The uniform allocation over `layers` layers.
std::vector<double> uniform_allocation(size_t layers);

// Normalises non-negative weights to the simplex (throws when all are zero).
std::vector<double> normalise_allocation(const std::vector<double>& weights);

}  // namespace hipp
