#include "study_jobs.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/paths.h"
#include "demo/demo.h"
#include "finetune/job.h"
#include "model/checkpoint.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "search/plan_evaluator.h"
#include "search/trial_export.h"

namespace hipp::gui {
namespace fs = std::filesystem;

namespace {

std::string features_dir() { return default_cache_dir() + "/features"; }  // as the CLI's default

PlanView view_of(const Blueprint& b) {
  PlanView v;
  v.sparsity = b.achieved_sparsity;
  for (size_t l = 0; l < b.layers(); ++l) v.kept_ratio.push_back(1 - b.ratio(l));
  return v;
}

// Per-layer visual sensitivity for the details panel: vision mass scaled to [0, 1].
std::vector<double> visual_of(const std::vector<LayerState>& states) {
  std::vector<double> v;
  double top = 0;
  for (const auto& s : states) top = std::max(top, s.vision_mass);
  for (const auto& s : states) v.push_back(top > 0 ? s.vision_mass / top : 0);
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct StudyJobs::Session {
  std::string path;
  std::unique_ptr<StudyStore> store;
  LoadOptions load;  // the engine's device and dtype
  std::unique_ptr<StudySession> study;
  std::unique_ptr<PlanEvaluator> evaluator;
  std::unique_ptr<HippTrainer> trainer;
  // Queries before the model is loaded: the policy on the study's stored
  // plan context (no model; milliseconds).
  std::unique_ptr<PlanContext> stored_context;
  std::unique_ptr<HippTrainer> query_trainer;

  PlanEvaluator& loaded(const JobHooks& hooks) {
    if (!evaluator) {
      study = std::make_unique<StudySession>(*store, load, features_dir(), hooks.log);
      evaluator = std::make_unique<PlanEvaluator>(*study);
    }
    evaluator->cancel = hooks.cancel;
    return *evaluator;
  }
  // The study's policy (none when it has none and `iterations` is 0); with
  // `iterations`, a trainer that runs up to that many in all.
  HippTrainer* policy(const JobHooks& hooks, int iterations = 0) {
    if (!trainer || iterations > 0) {
      if (iterations == 0 && !study_has_policy(*store)) return nullptr;
      // Small groups and a larger step: the policy learns within the few
      // hundred plans an interactive session spends (docs/policy.md).
      GrpoSettings settings = small_budget_grpo_settings();
      settings.iterations = iterations;
      trainer.reset();
      query_trainer.reset();
      trainer = std::make_unique<HippTrainer>(loaded(hooks), *store, settings);
    }
    return trainer.get();
  }
  HippTrainer& trained_policy(const JobHooks& hooks) {
    auto* p = policy(hooks);
    if (!p) throw Error("the study has no trained policy yet (Search > Train policy)");
    return *p;
  }
  // The policy for a query: the loaded one when there is one, else one on
  // the stored plan context, else (a study that keeps none yet) the loaded one.
  HippTrainer& query_policy(const JobHooks& hooks) {
    if (trainer || evaluator) return trained_policy(hooks);
    if (!query_trainer) {
      if (!study_has_policy(*store)) throw Error("the study has no trained policy yet (Search > Train policy)");
      if (!stored_context) stored_context = StoredPlanContext::open(*store);
      if (!stored_context) return trained_policy(hooks);
      GrpoSettings settings = small_budget_grpo_settings();
      settings.iterations = 0;
      query_trainer = std::make_unique<HippTrainer>(*stored_context, *store, settings);
    }
    return *query_trainer;
  }
};

namespace {

LoadOptions load_options_of(const EngineDevice& device) {
  LoadOptions load;
  load.device = parse_device(device.device);
  load.dtype = parse_dtype(device.dtype);
  return load;
}

}  // namespace

int default_train_iterations() { return small_budget_grpo_settings().iterations; }

std::string engine_device_problem(const EngineDevice& device) {
  try {
    load_options_of(device);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

StudyJobs::StudyJobs(JobHooks hooks, EngineDevice device) : hooks_(std::move(hooks)), device_(std::move(device)) {}
StudyJobs::~StudyJobs() = default;

StudyJobs::Session& StudyJobs::need_study() {
  if (!session_ || !session_->store) throw Error("open or create a study first (File > Open study)");
  return *session_;
}

void StudyJobs::open_study(const std::string& path, const std::function<void(const StudySummary&)>& opened) {
  auto session = std::make_unique<Session>();
  session->path = path;
  session->load = load_options_of(device_);
  session->store = open_study_store(path);
  session_ = std::move(session);
  StudySummary summary;
  summary.path = path;
  const auto study = session_->store->study();
  summary.model_dir = study.model_dir;
  summary.bench_dir = study.bench_dir;
  summary.dense = study.dense;
  summary.has_policy = study_has_policy(*session_->store);
  opened(summary);
  // The visual sensitivity comes from the layer states the study keeps; a
  // study that keeps no plan context yet loads the model now (which stores
  // it), so later jobs start at once. Otherwise the model loads when a job
  // first needs it, and slider queries never wait for it.
  session_->stored_context = StoredPlanContext::open(*session_->store);
  if (session_->stored_context) {
    summary.visual_sensitivity = visual_of(session_->stored_context->layer_states());
  } else {
    hooks_.report(-1, -1, "loading", "loading the model, benchmark and calibration", -1);
    summary.visual_sensitivity = visual_of(session_->loaded(hooks_).session().layer_states());
  }
  opened(summary);
}

void StudyJobs::build_demo(const std::string& folder, const std::string& study_path) {
  if (!fs::exists(fs::path(folder) / "demo-report.json")) {
    DemoOptions options;
    options.out = folder;
    options.device = device_.device;
    options.cancel = hooks_.cancel;
    options.log = [&](const std::string& line) {
      hooks_.log(line);
      hooks_.report(-1, -1, "building the demo", line, -1);
    };
    options.progress = [&](const TrainProgress& p) {
      hooks_.report(p.step, p.steps, "training the demo model",
                    "training the demo model, step " + std::to_string(p.step) + "/" + std::to_string(p.steps),
                    p.seconds / std::max(1, p.step) * (p.steps - p.step));
    };
    const auto built = hipp::build_demo(options);
    for (const auto& f : demo_quality_failures(built)) hooks_.log("quality: " + f);
  }
  if (!fs::exists(study_path)) {
    // The search subset scripts/demo.sh uses: 50 POPE questions per split, 100 ScienceQA problems.
    StudySettings settings;
    settings.subset.pope_per_split = 50;
    settings.subset.sqa = 100;
    hooks_.report(-1, -1, "creating the study", "creating the demo study", -1);
    hipp::create_study(study_path, (fs::path(folder) / "model").string(), (fs::path(folder) / "bench").string(),
                       settings, load_options_of(device_), features_dir(), hooks_.log);
  }
}

void StudyJobs::create_study(const std::string& model_dir, const std::string& bench_dir,
                             const std::string& study_path) {
  hipp::create_study(study_path, model_dir, bench_dir, StudySettings{}, load_options_of(device_), features_dir(),
                     hooks_.log);
}

std::string StudyJobs::train(int iterations, int query_grid) {
  auto& session = need_study();
  // `iterations` more on top of those the study's policy has.
  int already = 0;
  if (study_has_policy(*session.store))
    if (auto* existing = session.policy(hooks_)) already = existing->completed_iterations();
  auto* trainer = session.policy(hooks_, already + iterations);
  const auto start = std::chrono::steady_clock::now();
  trainer->train(
      [&](const HippIterationReport& it) {
        if (it.polish_steps > 0) {
          const std::string text = "polishing the policy (" + std::to_string(it.polish_steps) + " steps)";
          hooks_.report(it.iteration, it.iterations, "training", text, -1);
          hooks_.log(text);
          return;
        }
        // The time left from this job's own iterations, not from those resumed.
        const int done = std::max(1, it.iteration - already);
        char text[160];
        std::snprintf(text, sizeof text, "iteration %d/%d  plans %d  HV %.3f  mean return %.3f", it.iteration,
                      it.iterations, it.evaluations, it.hypervolume, it.mean_return);
        hooks_.report(it.iteration, it.iterations, "training", text,
                      seconds_since(start) / done * (it.iterations - it.iteration));
        hooks_.log(text);
        hooks_.study_changed();
      },
      hooks_.cancel);
  if (query_grid > 0) {
    hooks_.report(-1, -1, "query grid", "evaluating the policy on a grid of preferences", -1);
    trainer->evaluate_query_grid(query_grid);
  }
  hooks_.study_changed();
  return std::to_string(trainer->completed_iterations() - already) + " new iterations, " +
         std::to_string(trainer->completed_iterations()) + " in all";
}

std::string StudyJobs::baseline(const std::string& method, int evaluations) {
  auto& session = need_study();
  BaselineOptions options;
  options.method = method;
  options.evaluations = evaluations;
  options.progress = [&](int done, int total, const EvalOutcome&) {
    hooks_.report(done, total, method, method + " " + std::to_string(done) + "/" + std::to_string(total), -1);
    hooks_.study_changed();
  };
  run_baseline(session.loaded(hooks_), options);
  return std::to_string(evaluations) + " evaluations";
}

PlanView StudyJobs::query(const Preference& w, std::optional<double> sparsity, bool evaluate) {
  auto& session = need_study();
  const auto blueprint = session.query_policy(hooks_).query(w, sparsity);
  PlanView view = view_of(blueprint);
  view.origin = "query";
  view.preference = w;
  if (evaluate) {
    const auto outcome = session.loaded(hooks_).evaluate(blueprint, "query", w);
    if (outcome.failed) throw Error(outcome.error);
    view.trial = outcome.trial_id;
    view.metrics = outcome.metrics;
    hooks_.study_changed();
  } else if (auto cached = session.store->cached_metrics(blueprint_hash(blueprint), Subset::Search)) {
    view.metrics = cached;
  }
  return view;
}

std::string StudyJobs::curve(const Preference& from, const Preference& to, int points, double sparsity, Subset subset) {
  // The policy's plans at one sparsity for preferences along a path, each
  // evaluated and stored as "curve:<id>:<k>" (the cloud joins them).
  auto& trainer = need_study().trained_policy(hooks_);
  const auto start = std::chrono::steady_clock::now();
  size_t plans = 0;
  const int64_t id = trainer.evaluate_curve(
      from, to, points, sparsity, subset,
      [&](const HippTrainer::CurvePoint& p) {
        const auto& raw = p.outcome.metrics.raw;
        char text[200];
        std::snprintf(text, sizeof text,
                      "curve point %zu/%zu: w = %.2f / %.2f / %.2f, POPE mean F1 %.3f, ScienceQA %.3f", p.index + 1,
                      p.count, p.preference[0], p.preference[1], p.preference[2], raw.value("pope_mean_f1", 0.0),
                      raw.contains("scienceqa") ? raw["scienceqa"].value("accuracy", 0.0) : 0.0);
        hooks_.log(text);
        hooks_.report(
            static_cast<int>(p.index + 1), static_cast<int>(p.count), "curve", text,
            seconds_since(start) / static_cast<double>(p.index + 1) * static_cast<double>(p.count - p.index - 1));
        hooks_.study_changed();
        plans = p.count;
      },
      hooks_.cancel);
  char message[120];
  std::snprintf(message, sizeof message, "curve %lld: %zu plans at s = %.2f", static_cast<long long>(id), plans,
                sparsity);
  return message;
}

std::string StudyJobs::evaluate_full(int64_t trial) {
  auto& session = need_study();
  const auto blueprint = trial_blueprint(*session.store, trial);
  const auto t = session.store->trial(trial);
  const auto outcome = session.loaded(hooks_).evaluate(blueprint, t ? t->origin : "rescore",
                                                       t ? t->preference : std::nullopt, Subset::Full);
  if (outcome.failed) throw Error(outcome.error);
  hooks_.study_changed();
  char message[120];
  std::snprintf(message, sizeof message, "trial %lld: POPE mean F1 %.3f", static_cast<long long>(outcome.trial_id),
                outcome.metrics.raw.value("pope_mean_f1", 0.0));
  return message;
}

std::string StudyJobs::export_blueprint(int64_t trial, const std::string& path) {
  export_trial_blueprint(*need_study().store, trial, path);
  return path;
}

std::string StudyJobs::export_model(int64_t trial, const std::string& folder) {
  auto& session = need_study();
  TrialModelExport options;
  options.cache_dir = features_dir();
  options.log = hooks_.log;
  options.cancel = hooks_.cancel;
  export_trial_model(*session.store, trial, folder, options);
  return folder;
}

std::string StudyJobs::finetune(int64_t trial, int steps, const std::string& folder) {
  auto& session = need_study();
  // The fine-tune opens the study and loads the model itself; this
  // session's evaluator stays as it is.
  FinetuneJob job;
  job.study = session.path;
  job.trial = trial;
  job.load = session.load;
  if (steps > 0) job.settings.steps = steps;
  job.cache_dir = features_dir();
  job.log = hooks_.log;
  job.cancel = hooks_.cancel;
  // Into `folder` (default: beside the study). A cancelled fine-tune of the
  // same plan is resumed from its adapters; a finished one is kept and the
  // new one gets the next free name.
  const std::string standard = finetune_out_dir(job);
  const std::string base = folder.empty() ? standard : (fs::path(folder) / fs::path(standard).filename()).string();
  std::string out = base;
  for (int n = 2; fs::exists(out); ++n) out = base + "-" + std::to_string(n);
  job.out_dir = out;
  job.resume = fs::exists(finetune_checkpoint_path(out));
  hooks_.log((job.resume ? "resuming the cancelled fine-tune into " : "fine-tuning into ") + out);
  job.progress = [&](const FinetuneProgress& p) {
    char text[160];
    std::snprintf(text, sizeof text, "step %d/%d  loss %.4f  %.0f tokens/s", p.step, p.steps, p.loss,
                  p.tokens_per_second);
    hooks_.report(p.step, p.steps, "fine-tuning", text, p.eta_seconds);
  };
  const auto result = run_finetune_job(job);
  hooks_.study_changed();
  return "trial " + std::to_string(result.parent.id) + " -> " + std::to_string(result.child.id) + " (" +
         result.out_dir + ")";
}

}  // namespace hipp::gui
