#pragma once
// Turns blueprints into objectives for one study (docs/study.md): the
// model, benchmark, search subset, calibration statistics and importance
// scores are loaded once; every plan is applied (physical slicing), scored on
// the search subset (or the full test set) with the cached image features,
// and recorded as a trial. A plan evaluated before on the same subset is
// never computed again: its trial reuses the stored metrics. Failures become
// FAIL trials with their message, not crashes.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/model_folder.h"
#include "prune/apply.h"
#include "state/layer_state.h"
#include "study/store.h"

namespace hipp {

struct StudySettings {
  SubsetOptions subset;
  CalibrationOptions calibration;
  ImportanceMethod importance = ImportanceMethod::WandaSp;
  Structure structure = Structure::MlpChannels;
  double r_max = 0.9;
  int64_t align = 1;
  double s_min = 0.1, s_max = 0.7;  // the sparsity range searches draw from
  int eval_batch = 32;
};
nlohmann::json settings_to_json(const StudySettings& s);
StudySettings settings_from_json(const nlohmann::json& json, const std::string& where);

// Hash of the benchmark files (POPE question files, problems.json, pid_splits.json).
std::string benchmark_fingerprint(const std::string& bench_dir);

struct EvalOutcome {
  int64_t trial_id = 0;
  bool cached = false;
  bool failed = false;
  std::string error;
  TrialMetrics metrics;
};

class PlanEvaluator {
 public:
  // Loads what the study names. `cache_dir` holds image features ("" = memory).
  PlanEvaluator(StudyStore& store, const LoadOptions& load, const std::string& cache_dir,
                std::function<void(const std::string&)> log = {});
  ~PlanEvaluator();

  // A blueprint for this study's model and settings.
  Blueprint plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const;
  EvalOutcome evaluate(const Blueprint& blueprint, const std::string& origin,
                       const std::optional<Preference>& preference = std::nullopt,
                       const std::string& subset = "search");

  // The plan applied to the dense model (physically sliced), e.g. to fine-tune it.
  LlavaModel pruned_model(const Blueprint& blueprint);
  // Scores `model` (this plan's pruned model after a change such as
  // fine-tuning) as a child trial of `parent` (StudyStore::start_child_trial).
  EvalOutcome evaluate_child(LlavaModel& model, const Blueprint& blueprint, int64_t parent, const std::string& origin,
                             const nlohmann::json& details, const std::string& subset = "search");

  size_t layers() const;
  const StudySettings& settings() const { return settings_; }
  // OWL outlier ratios of the dense model's layers (calibrated).
  const std::vector<double>& outlier_ratios() const { return outliers_; }
  LlavaModel& model() { return folder_->model; }
  const ModelFolder& folder() const { return *folder_; }
  // Share of every layer's SynFlow channel flow that a plan keeps (1 for
  // attention-head plans, which keep every MLP channel).
  std::vector<double> retained_flow(const Blueprint& blueprint) const;
  // The layer states for this model and calibration set: read from the study
  // when stored, else computed (wanda-sp importance) and stored.
  std::vector<LayerState> layer_states();
  const CalibrationStats& calibration() const { return stats_; }
  const std::atomic<bool>* cancel = nullptr;

  // Creates a study file: fingerprints, settings, and the dense model's
  // metrics on the search subset (the normalisation of the objectives).
  static void create_study(const std::string& path, const std::string& model_dir, const std::string& bench_dir,
                           const StudySettings& settings, const LoadOptions& load, const std::string& cache_dir,
                           std::function<void(const std::string&)> log = {});

 private:
  void run_trial(EvalOutcome& out, const Blueprint& blueprint, const std::string& subset,
                 const std::function<LlavaModel()>& make_model);

  StudyStore& store_;
  StudySettings settings_;
  std::unique_ptr<ModelFolder> folder_;
  std::string fingerprint_;
  Benchmark full_, subset_;
  std::unique_ptr<Evaluator> evaluator_;
  CalibrationStats stats_;
  Importance importance_;
  std::vector<double> outliers_;
  std::vector<std::vector<double>> channel_flow_;
  nlohmann::json dense_;
  std::function<void(const std::string&)> log_;
};

// Objectives from raw results, normalised by the dense model's.
Objectives objectives_from(const BenchmarkResult& result, const BenchmarkResult& dense, double achieved_sparsity);

}  // namespace hipp
