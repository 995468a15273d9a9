#pragma once
// One pruning job from a model folder to an exported folder, as the
// `prune` command and the app run it: load, calibrate (when the importance
// method or the allocation needs it), plan, slice, export.
#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "model/checkpoint.h"
#include "prune/blueprint.h"
#include "prune/budget.h"
#include "prune/cost.h"
#include "prune/importance.h"

namespace hipp {

struct PruneJob {
  std::string model_dir;
  std::string out_dir;
  std::string calibration_dir;         // benchmark folder; needed by wanda-sp, flap and owl
  std::string cache_dir;               // image-feature cache ("" = memory only)
  std::optional<double> sparsity;      // required unless `allocation` names a blueprint file
  std::string allocation = "uniform";  // uniform | owl | path to a blueprint or allocation JSON
  ImportanceMethod importance = ImportanceMethod::WandaSp;
  Structure structure = Structure::MlpChannels;
  BudgetOptions budget;
  CalibrationOptions calibration;
  LoadOptions load;
  std::function<void(const std::string&)> log;
  const std::atomic<bool>* cancel = nullptr;
};

struct PruneResult {
  Blueprint blueprint;
  ModelCost before, after;  // for one sequence of the model's typical prompt length
  double seconds = 0;
};

// Reads an allocation file: a blueprint (its allocation, and its sparsity,
// structure, importance, r_max and align unless the job sets them), an
// object {"allocation": [...]}, or a bare list of non-negative weights.
struct AllocationFile {
  std::vector<double> allocation;
  std::optional<Blueprint> blueprint;
};
AllocationFile read_allocation_file(const std::string& path);

PruneResult run_prune_job(const PruneJob& job);

}  // namespace hipp
