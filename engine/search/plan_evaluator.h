#pragma once
// Turns blueprints into objectives for one open study (docs/study.md): every
// plan is applied to the session's dense model (physical slicing), scored on
// the search subset (or the full test sets) with the cached image features,
// timed, and recorded as a trial. A plan evaluated before on the same subset
// is never computed again: its trial reuses the stored metrics. Failures
// become FAIL trials with their message, not crashes. What is loaded once
// per study (model, calibration, importance, layer states) is the
// StudySession's.
#include <atomic>
#include <optional>
#include <string>

#include "search/study_session.h"

namespace hipp {

struct EvalOutcome {
  int64_t trial_id = 0;
  bool cached = false;
  bool failed = false;
  std::string error;
  TrialMetrics metrics;
};

class PlanEvaluator {
 public:
  explicit PlanEvaluator(StudySession& session) : session_(session) {}

  StudySession& session() { return session_; }
  const StudySession& session() const { return session_; }

  EvalOutcome evaluate(const Blueprint& blueprint, const std::string& origin,
                       const std::optional<Preference>& preference = std::nullopt, Subset subset = Subset::Search);
  // Scores `model` (this plan's pruned model after a change such as
  // fine-tuning) as a child trial of `parent` (StudyStore::start_child_trial).
  EvalOutcome evaluate_child(LlavaModel& model, const Blueprint& blueprint, int64_t parent, const std::string& origin,
                             const nlohmann::json& details, Subset subset = Subset::Search);

  const std::atomic<bool>* cancel = nullptr;

 private:
  void run_trial(EvalOutcome& out, const Blueprint& blueprint, Subset subset,
                 const std::function<LlavaModel()>& make_model);

  StudySession& session_;
};

// Objectives from raw results, normalised by the dense model's.
Objectives objectives_from(const BenchmarkResult& result, const BenchmarkResult& dense, double achieved_sparsity);

}  // namespace hipp
