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
#include <functional>
#include <vector>
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

// One plan for evaluate_batch: what evaluate() takes.
struct PlanJob {
  Blueprint blueprint;
  std::string origin;
  std::optional<Preference> preference;
  Subset subset = Subset::Search;
};

// Evaluation by workers (docs/distributed.md): a batch is put on the
// study's queue and its results awaited. `progress` sees the batch's queue
// state whenever it changes; `poll_seconds` is how often it is read.
struct RemoteEvaluation {
  EvaluationQueue* queue = nullptr;
  std::function<void(const QueueProgress&)> progress;
  double poll_seconds = 0.25;
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

  // Evaluates every job; returns the outcomes in job order, each what
  // evaluate() would have returned had the jobs been evaluated one after
  // another here (a plan repeated within the batch is a cache hit of its
  // first evaluation). `done` sees each outcome with its index, in order.
  // With `remote` set the plans not in the cache go to the study's queue
  // and the batch waits for workers to score them; Ctrl-C (`cancel`)
  // withdraws what is not finished and throws Cancelled.
  std::vector<EvalOutcome> evaluate_batch(const std::vector<PlanJob>& jobs,
                                          const std::function<void(size_t, const EvalOutcome&)>& done = {});
  std::optional<RemoteEvaluation> remote;

  // A worker's half of evaluate(): scores the plan of a claimed queue entry
  // and records the result (the trial completes or fails) if the claim is
  // still this worker's. Returns the outcome; `recorded` says whether it
  // was. Ctrl-C (`cancel`) gives the claim back and throws Cancelled.
  EvalOutcome evaluate_claimed(EvaluationQueue& queue, const QueuedEvaluation& entry, bool* recorded = nullptr);

  const std::atomic<bool>* cancel = nullptr;

 private:
  // The plan's model scored on `subset`: the trial's metrics. Throws
  // Cancelled, or the error that stopped it. A plan's model is the dense
  // model's reordered units (prune_in_place), put back before the dense
  // model is scored or timed.
  TrialMetrics measure(const Blueprint& blueprint, Subset subset, const std::function<InPlacePruned()>& make_model);
  void run_trial(EvalOutcome& out, const Blueprint& blueprint, Subset subset,
                 const std::function<InPlacePruned()>& make_model);
  std::vector<EvalOutcome> evaluate_remotely(const std::vector<PlanJob>& jobs,
                                             const std::function<void(size_t, const EvalOutcome&)>& done);

  StudySession& session_;
};

// Objectives from raw results, normalised by the dense model's.
Objectives objectives_from(const BenchmarkResult& result, const BenchmarkResult& dense, double achieved_sparsity);

}  // namespace hipp
