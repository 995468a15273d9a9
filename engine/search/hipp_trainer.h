#pragma once
// Trains the HiPP policy on a study with plan-level GRPO (docs/policy.md)
// and answers preference queries. Every sampled plan is a trial (origin
// "grpo:<iteration>", with its preference); evaluations go through the study
// cache; the policy and optimizer are checkpointed in the study after every
// iteration, so an interrupted run resumes where it stopped, and each
// iteration reseeds from (seed, iteration), so a resumed run draws the same
// plans as an uninterrupted one.
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "search/grpo.h"
#include "search/plan_evaluator.h"
#include "search/policy.h"

namespace hipp {

struct HippIterationReport {
  int iteration = 0, iterations = 0;
  int evaluations = 0;     // plans evaluated in this run so far (cache hits included)
  double mean_return = 0;  // over this iteration's episodes
  double hypervolume = 0;  // of every complete grpo/query trial of the study so far
  double seconds = 0;
  // Above 0: not an iteration's report but the start of the polish after the
  // last one (this many steps, no evaluation); the other fields as the last
  // iteration left them.
  int polish_steps = 0;
};

class HippTrainer {
 public:
  // `run` names the checkpoint series in the study ("hipp" by default). A run
  // that already has checkpoints continues with its stored settings.
  HippTrainer(PlanEvaluator& evaluator, StudyStore& store, const GrpoSettings& settings, std::string run = "hipp");
  // For queries only (no model): the plans come from `context` (a study's
  // StoredPlanContext); training and evaluating throw.
  HippTrainer(PlanContext& context, StudyStore& store, const GrpoSettings& settings, std::string run = "hipp");

  // Trains up to settings.iterations (resuming after the last checkpoint).
  void train(const std::function<void(const HippIterationReport&)>& progress = {},
             const std::atomic<bool>* cancel = nullptr);
  int completed_iterations() const { return completed_; }
  // The iteration after which the policy was last polished (0: never).
  int polished_after() const { return polished_after_; }
  const GrpoSettings& settings() const { return settings_; }

  // What the return and the gate read of a plan's flow: its own rho_geo and
  // rho_min, and (when reads_uniform_flow(settings())) the uniform plan's
  // rho_geo at the same sparsity; the objectives are left
  // empty. Needs the model (a training session).
  ScoredPlan stability(const Blueprint& plan);

  // Every distinct plan the study has scored on its search subset, in the
  // order first evaluated (fine-tuned children left out), for replay.
  std::vector<ReplayPlan> replay_pool();

  // The mean plan for a preference (milliseconds), as a blueprint.
  Blueprint query(const Preference& w, std::optional<double> sparsity = {});
  // Queries a grid of at least `count` preferences (per fixed sparsity when
  // given) and evaluates each: origin "query".
  std::vector<EvalOutcome> evaluate_query_grid(int count, const std::vector<double>& sparsities = {});

  // A robustness-utility curve (docs/explorer.md): the plans for `points`
  // preferences along the straight path from `from` to `to`, all at one
  // sparsity, each evaluated on `subset` and stored as trial
  // "curve:<id>:<k>" under the study's next free curve id, which it returns.
  // `point` sees each one as it is scored (its index, the preference, the
  // plan and the outcome); a failed evaluation throws, Ctrl-C (`cancel`)
  // throws Cancelled between points.
  struct CurvePoint {
    size_t index = 0, count = 0;
    Preference preference{};
    Blueprint plan;
    EvalOutcome outcome;
  };
  int64_t evaluate_curve(const Preference& from, const Preference& to, int points, double sparsity, Subset subset,
                         const std::function<void(const CurvePoint&)>& point = {},
                         const std::atomic<bool>* cancel = nullptr);

 private:
  void save_checkpoint(bool snapshot = true);
  bool load_checkpoint();
  std::map<int64_t, ReplayPlan> replay_cache_;  // by plan id: flow shares cost a pass over the channels
  std::map<double, double> uniform_flow_;       // rho_geo of the uniform plan, by sparsity
  torch::Tensor states_;
  PlanEvaluator& evaluator();  // throws for a query-only trainer
  void setup();
  PlanEvaluator* evaluator_ = nullptr;
  PlanContext& context_;
  StudyStore& store_;
  GrpoSettings settings_;
  std::string run_;
  HippPolicy policy_{nullptr}, initial_{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int completed_ = 0;
  int polished_after_ = 0;
  void polish(const std::atomic<bool>* cancel);
  // What spread_weights divides by (all 1 unless settings().spread_scaled):
  // each objective's spread over the study's search-subset plans so far.
  std::array<double, 3> objective_spreads() const;
  int evaluations_ = 0;
};

// Loads a trained run's policy from a study for queries without training.
bool study_has_policy(const StudyStore& store, const std::string& run = "hipp");

}  // namespace hipp
