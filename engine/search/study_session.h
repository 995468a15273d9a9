#pragma once
// One open study and what every plan evaluation needs from it, loaded once
// (docs/study.md): the model (checked against the study's fingerprint), the
// benchmark and its search subset, the calibration statistics, the
// importance scores, OWL's outlier ratios, the SynFlow channel flow and the
// layer-state cache. It makes blueprints and pruned models for this study;
// PlanEvaluator (search/plan_evaluator.h) scores them and records trials.
#include <functional>
#include <memory>
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

// Creates a study file: fingerprints, settings, and the dense model's
// metrics on the search subset (the normalisation of the objectives).
void create_study(const std::string& path, const std::string& model_dir, const std::string& bench_dir,
                  const StudySettings& settings, const LoadOptions& load, const std::string& cache_dir,
                  std::function<void(const std::string&)> log = {});

// Where this machine keeps the study's model and benchmark, when not where
// the study was created (a worker on another machine); empty = the study's.
struct StudyPlaces {
  std::string model_dir, bench_dir;
};

// What turning a policy's output into a blueprint needs: the study's
// settings, the per-layer states the policy reads, and the blueprint
// arithmetic (layer widths and fingerprints). A loaded StudySession is one;
// StoredPlanContext, read from the study alone, is another that needs no
// model (queries answer in milliseconds).
class PlanContext {
 public:
  virtual ~PlanContext() = default;
  virtual const StudySettings& settings() const = 0;
  virtual std::vector<LayerState> layer_states() = 0;
  virtual Blueprint plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const = 0;
};

// The plan context a study keeps (blob "plan_context", written by a
// StudySession when it reads or computes the layer states): the model's
// config, its fingerprint and the calibration's, and the key of the stored
// layer states.
class StoredPlanContext : public PlanContext {
 public:
  // Null when the study keeps no context yet (or its states are gone): a
  // StudySession makes one.
  static std::unique_ptr<StoredPlanContext> open(StudyStore& store);
  const StudySettings& settings() const override { return settings_; }
  std::vector<LayerState> layer_states() override { return states_; }
  Blueprint plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const override;

 private:
  StoredPlanContext() = default;
  StudySettings settings_;
  LlavaConfig config_;
  std::string model_fingerprint_, calibration_fingerprint_;
  std::vector<LayerState> states_;
};

class StudySession : public PlanContext {
 public:
  // Loads what the study names (or `places` says). `cache_dir` holds image
  // features ("" = memory).
  StudySession(StudyStore& store, const LoadOptions& load, const std::string& cache_dir,
               std::function<void(const std::string&)> log = {}, const StudyPlaces& places = {});
  ~StudySession() override;
  StudySession(const StudySession&) = delete;
  StudySession& operator=(const StudySession&) = delete;

  StudyStore& store() { return store_; }
  const StudySettings& settings() const override { return settings_; }
  size_t layers() const;
  LlavaModel& model() { return folder_->model; }
  const ModelFolder& folder() const { return *folder_; }

  // A blueprint for this study's model and settings.
  Blueprint plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const override;
  // The plan applied to the dense model (physically sliced).
  // ShareUnchanged (evaluation, export): the tensors pruning leaves alone
  // are the dense model's own; Copy for a model that will be trained.
  LlavaModel pruned_model(const Blueprint& blueprint, WeightSharing sharing = WeightSharing::ShareUnchanged) const;
  // The same plan as views of the dense model's reordered units
  // (prune_in_place): no copy of the kept weights; the dense model is in
  // its order again once the result's `restore` is dropped.
  InPlacePruned pruned_in_place(const Blueprint& blueprint) const;

  // OWL outlier ratios of the dense model's layers (calibrated).
  const std::vector<double>& outlier_ratios() const { return outliers_; }
  // Share of every layer's SynFlow channel flow that a plan keeps (1 for
  // attention-head plans, which keep every MLP channel).
  std::vector<double> retained_flow(const Blueprint& blueprint) const;
  // The layer states for this model and calibration set: read from the study
  // when stored, else computed (wanda-sp importance) and stored.
  std::vector<LayerState> layer_states() override;
  const CalibrationStats& calibration() const { return stats_; }

  // The scorer over this study's benchmark (its image features cached), set
  // to the dense model; `benchmark(Subset::Search)` is the search subset,
  // `benchmark(Subset::Full)` the whole test sets.
  Evaluator& evaluator() { return *evaluator_; }
  const Benchmark& benchmark(Subset subset) const;
  // The dense model's scores on `subset`, the objectives' normalisation:
  // stored when the study was created for the search subset; for the full
  // sets computed on first need (with `options`) and stored.
  BenchmarkResult dense_result(Subset subset, const EvalOptions& options);

 private:
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

}  // namespace hipp
