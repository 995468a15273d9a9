#pragma once
// The searches HiPP must beat, each spending exactly a given number of plan
// evaluations (cache hits count: a baseline asked twice for one plan has
// spent two evaluations, as a search loop would):
//   uniform  the same ratio in every layer, s on an even grid over the range
//   owl      OWL's outlier-based allocation on the same grid
//   random   s uniform on the range, allocation from Dir(1, ..., 1)
//   nsga2    NSGA-II (pagmo2) over (s, allocation weights); population and
//            generations chosen to spend the budget, the remainder (when the
//            budget is not population x generations) drawn at random
// Trials carry the method's name as their origin.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "search/plan_evaluator.h"

namespace hipp {

const std::vector<std::string>& baseline_methods();

struct BaselineOptions {
  std::string method = "uniform";
  int evaluations = 10;
  uint64_t seed = 1;
  std::function<void(int done, int total, const EvalOutcome&)> progress;
};

// Returns the outcomes in evaluation order (exactly options.evaluations).
std::vector<EvalOutcome> run_baseline(PlanEvaluator& evaluator, const BaselineOptions& options);

}  // namespace hipp
