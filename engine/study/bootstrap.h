#pragma once
// The bootstrap over questions for search-quality comparisons: a method's
// front is scored on a sample of questions, so a difference in hypervolume
// between two methods may be no more than which questions were drawn. Each
// resample draws every POPE split's and ScienceQA's questions again with
// replacement (sizes kept), re-scores every plan and the dense model on the
// same draw (paired: every method sees the same questions), and recomputes
// each method's hypervolume. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "eval/metrics.h"
#include "study/store.h"

namespace hipp {

// One evaluated plan: what it said on each question, and its achieved
// sparsity (the compression objective, which no question changes).
struct OutcomePlan {
  QuestionOutcomes outcomes;
  double compression = 0;
};

struct MethodOutcomes {
  std::string name;
  std::vector<OutcomePlan> plans;
};

struct BootstrapOptions {
  int resamples = 1000;
  uint64_t seed = 1;
  double level = 0.95;  // central interval
};

struct BootstrapInterval {
  double estimate = 0;  // on the questions as drawn
  double low = 0, high = 0;
};

struct BootstrapComparison {
  std::string first, other;
  BootstrapInterval difference;  // hypervolume of `first` minus `other`
  double share_ahead = 0;        // share of resamples where `first` is strictly ahead
};

struct BootstrapReport {
  int resamples = 0;
  std::vector<BootstrapInterval> hypervolume;     // per method, in the order given
  std::vector<BootstrapComparison> versus_first;  // the first method against each other one
};

// The objectives of a plan on the questions weighted by `weights` (how
// often each question was drawn; one vector per POPE split in the
// outcomes' split order, then ScienceQA), normalised by the dense model's
// on the same draw, as the study normalises them.
Objectives weighted_objectives(const OutcomePlan& plan, const QuestionOutcomes& dense,
                               const std::vector<std::vector<int>>& weights);

// Every plan's outcomes must cover the dense model's questions (same splits,
// same counts): anything else is an Error naming the method.
BootstrapReport bootstrap_hypervolumes(const QuestionOutcomes& dense, const std::vector<MethodOutcomes>& methods,
                                       const BootstrapOptions& options = {});

}  // namespace hipp
