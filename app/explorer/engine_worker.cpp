#include "engine_worker.h"

#include <chrono>
#include <filesystem>
#include <variant>

#include "core/error.h"
#include "core/paths.h"
#include "demo/demo.h"
#include "finetune/job.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "search/plan_evaluator.h"
#include "search/trial_export.h"
#include "study/cloud.h"
#include "study/pareto.h"

namespace hipp::gui {
namespace fs = std::filesystem;

// One type per job; the worker runs each with its own handler.
namespace request {
struct OpenStudy {
  std::string path;
};
struct BuildDemo {
  std::string folder, study;
};
struct CreateStudy {
  std::string model, bench, study;
};
struct Train {
  int iterations = 0, query_grid = 0;
};
struct Baseline {
  std::string method;
  int evaluations = 0;
};
struct Query {
  Preference w{};
  std::optional<double> sparsity;
};
struct EvaluateProposal {
  Preference w{};
  std::optional<double> sparsity;
};
struct EvaluateFull {
  int64_t trial = 0;
};
struct ExportBlueprint {
  int64_t trial = 0;
  std::string path;
};
struct ExportModel {
  int64_t trial = 0;
  std::string folder;
};
struct Finetune {
  int64_t trial = 0;
  int steps = 0;
  std::string folder;
};
struct Curve {
  Preference from{}, to{};
  int points = 0;
  double sparsity = 0.5;
  std::string subset;
};
}  // namespace request

struct EngineWorker::Request {
  std::variant<request::OpenStudy, request::BuildDemo, request::CreateStudy, request::Train, request::Baseline,
               request::Query, request::EvaluateProposal, request::EvaluateFull, request::ExportBlueprint,
               request::ExportModel, request::Finetune, request::Curve>
      job;
  // The variant's alternatives in JobKind's order.
  JobKind kind() const { return static_cast<JobKind>(job.index()); }
};

// The open study with what the jobs need loaded once (on the worker thread).
struct EngineWorker::Session {
  std::string path;
  std::unique_ptr<StudyStore> store;
  std::unique_ptr<StudySession> study;
  std::unique_ptr<PlanEvaluator> evaluator;
  std::unique_ptr<HippTrainer> trainer;

  PlanEvaluator& loaded(const std::function<void(const std::string&)>& log, const std::atomic<bool>* cancel) {
    if (!evaluator) {
      study = std::make_unique<StudySession>(*store, LoadOptions{}, features_dir(), log);
      evaluator = std::make_unique<PlanEvaluator>(*study);
    }
    evaluator->cancel = cancel;
    return *evaluator;
  }
  HippTrainer* policy(const std::function<void(const std::string&)>& log, const std::atomic<bool>* cancel,
                      int iterations = 0) {
    if (!trainer || iterations > 0) {
      if (iterations == 0 && !study_has_policy(*store)) return nullptr;
      // Small groups and a larger step: the policy learns within the few
      // hundred plans an interactive session spends (docs/policy.md).
      GrpoSettings settings = small_budget_grpo_settings();
      settings.iterations = iterations;
      trainer.reset();
      trainer = std::make_unique<HippTrainer>(loaded(log, cancel), *store, settings);
    }
    return trainer.get();
  }
  static std::string features_dir() { return default_cache_dir() + "/features"; }  // as the CLI's default
};

namespace {

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

}  // namespace

EngineWorker::EngineWorker(QObject* parent) : QThread(parent) {
  qRegisterMetaType<PlanView>();
  qRegisterMetaType<StudySummary>();
  qRegisterMetaType<JobProgress>();
  qRegisterMetaType<JobKind>();
}

EngineWorker::~EngineWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    abort_ = true;
    queue_.clear();
    pending_query_.reset();
  }
  cancel_ = true;
  wake_.notify_one();
  wait();
}

void EngineWorker::post(Request request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (request.kind() == JobKind::Query) {
      pending_query_ = std::make_unique<Request>(std::move(request));
    } else {
      queue_.push_back(std::make_unique<Request>(std::move(request)));
    }
  }
  if (!isRunning()) start();
  wake_.notify_one();
}

void EngineWorker::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
  }
  cancel_ = true;
}

void EngineWorker::openStudy(const QString& path) { post({request::OpenStudy{path.toStdString()}}); }
void EngineWorker::buildDemo(const QString& folder, const QString& study_path) {
  post({request::BuildDemo{folder.toStdString(), study_path.toStdString()}});
}
void EngineWorker::createStudy(const QString& model_dir, const QString& bench_dir, const QString& study_path) {
  post({request::CreateStudy{model_dir.toStdString(), bench_dir.toStdString(), study_path.toStdString()}});
}
void EngineWorker::train(int iterations, int query_grid) { post({request::Train{iterations, query_grid}}); }
void EngineWorker::curve(const Preference& from, const Preference& to, int points, double sparsity,
                         const QString& subset) {
  post({request::Curve{from, to, points, sparsity, subset.toStdString()}});
}
void EngineWorker::runBaseline(const QString& method, int evaluations) {
  post({request::Baseline{method.toStdString(), evaluations}});
}
void EngineWorker::query(const Preference& w, std::optional<double> sparsity) { post({request::Query{w, sparsity}}); }
void EngineWorker::evaluateProposal(const Preference& w, std::optional<double> sparsity) {
  post({request::EvaluateProposal{w, sparsity}});
}
void EngineWorker::evaluateFull(int64_t trial) { post({request::EvaluateFull{trial}}); }
void EngineWorker::exportBlueprint(int64_t trial, const QString& path) {
  post({request::ExportBlueprint{trial, path.toStdString()}});
}
void EngineWorker::exportModel(int64_t trial, const QString& folder) {
  post({request::ExportModel{trial, folder.toStdString()}});
}
void EngineWorker::finetune(int64_t trial, int steps, const QString& folder) {
  post({request::Finetune{trial, steps, folder.toStdString()}});
}

void EngineWorker::run() {
  while (true) {
    std::unique_ptr<Request> request;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return abort_ || pending_query_ || !queue_.empty(); });
      if (abort_) return;
      // Queries first: they take milliseconds and answer a slider the user is moving.
      if (pending_query_) {
        request = std::move(pending_query_);
      } else {
        request = std::move(queue_.front());
        queue_.pop_front();
      }
      cancel_ = false;
    }
    busy_ = request->kind() != JobKind::Query;
    execute(*request);
    busy_ = false;
  }
}

void EngineWorker::execute(const Request& r) {
  const JobKind kind = r.kind();
  const QString name = job_name(kind);
  const bool quiet = kind == JobKind::Query;
  auto log = [this](const std::string& line) { Q_EMIT logLine(QString::fromStdString(line)); };
  auto last_report = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  // Structured progress: the step of the total (either may be unknown, -1),
  // the phase, and a line of text.
  auto report = [&](int step, int total, const std::string& phase, const std::string& text, double eta) {
    const auto now = std::chrono::steady_clock::now();
    const bool last = total > 0 && step >= total;
    if (now - last_report < std::chrono::milliseconds(100) && !last) return;  // at most 10 a second
    last_report = now;
    JobProgress p;
    p.step = step;
    p.total = total;
    p.fraction = total > 0 && step >= 0 ? static_cast<double>(step) / total : -1;
    p.eta_seconds = eta;
    p.phase = phase;
    p.text = text;
    Q_EMIT jobProgress(p);
  };
  auto need_study = [&] {
    if (!session_ || !session_->store) throw Error("open or create a study first (File > Open study)");
  };
  if (!quiet) Q_EMIT jobStarted(kind, name);
  QString message;
  try {
    {
      if (const auto* q = std::get_if<request::OpenStudy>(&r.job)) {
        auto session = std::make_unique<Session>();
        session->path = q->path;
        session->store = open_sqlite_study(q->path);
        session_ = std::move(session);
        StudySummary summary;
        summary.path = q->path;
        const auto study = session_->store->study();
        summary.model_dir = study.model_dir;
        summary.bench_dir = study.bench_dir;
        summary.dense = study.dense;
        summary.has_policy = study_has_policy(*session_->store);
        Q_EMIT studyOpened(summary);
        // The visual sensitivity needs the model: loaded now, so later jobs start at once.
        report(-1, -1, "loading", "loading the model, benchmark and calibration", -1);
        auto& evaluator = session_->loaded(log, &cancel_);
        summary.visual_sensitivity = visual_of(evaluator.session().layer_states());
        Q_EMIT studyOpened(summary);
        message = QString::fromStdString(fs::path(q->path).filename().string());
      }
      if (const auto* q = std::get_if<request::BuildDemo>(&r.job)) {
        if (!fs::exists(fs::path(q->folder) / "demo-report.json")) {
          DemoOptions options;
          options.out = q->folder;
          options.cancel = &cancel_;
          options.log = [&](const std::string& line) {
            log(line);
            report(-1, -1, "building the demo", line, -1);
          };
          options.progress = [&](const TrainProgress& p) {
            report(p.step, p.steps, "training the demo model",
                   "training the demo model, step " + std::to_string(p.step) + "/" + std::to_string(p.steps),
                   p.seconds / std::max(1, p.step) * (p.steps - p.step));
          };
          const auto built = build_demo(options);
          for (const auto& f : demo_quality_failures(built)) log("quality: " + f);
        }
        if (!fs::exists(q->study)) {
          // The search subset scripts/demo.sh uses: 50 POPE questions per split, 100 ScienceQA problems.
          StudySettings settings;
          settings.subset.pope_per_split = 50;
          settings.subset.sqa = 100;
          report(-1, -1, "creating the study", "creating the demo study", -1);
          create_study(q->study, (fs::path(q->folder) / "model").string(), (fs::path(q->folder) / "bench").string(),
                       settings, {}, Session::features_dir(), log);
        }
        post({request::OpenStudy{q->study}});
        message = QString::fromStdString(q->study);
      }
      if (const auto* q = std::get_if<request::CreateStudy>(&r.job)) {
        StudySettings settings;
        create_study(q->study, q->model, q->bench, settings, {}, Session::features_dir(), log);
        post({request::OpenStudy{q->study}});
        message = QString::fromStdString(q->study);
      }
      if (const auto* q = std::get_if<request::Train>(&r.job)) {
        need_study();
        // q->iterations more iterations on top of those the study's policy has.
        int already = 0;
        if (study_has_policy(*session_->store))
          if (auto* existing = session_->policy(log, &cancel_)) already = existing->completed_iterations();
        auto* trainer = session_->policy(log, &cancel_, already + q->iterations);
        const auto start = std::chrono::steady_clock::now();
        trainer->train(
            [&](const HippIterationReport& it) {
              const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
              // The time left from this job's own iterations, not from those resumed.
              const int done = std::max(1, it.iteration - already);
              char text[160];
              std::snprintf(text, sizeof text, "iteration %d/%d  plans %d  HV %.3f  mean return %.3f", it.iteration,
                            it.iterations, it.evaluations, it.hypervolume, it.mean_return);
              report(it.iteration, it.iterations, "training", text, elapsed / done * (it.iterations - it.iteration));
              log(text);
              Q_EMIT studyChanged();
            },
            &cancel_);
        if (q->query_grid > 0) {
          report(-1, -1, "query grid", "evaluating the policy on a grid of preferences", -1);
          trainer->evaluate_query_grid(q->query_grid);
        }
        Q_EMIT studyChanged();
        message = QString("%1 new iterations, %2 in all")
                      .arg(trainer->completed_iterations() - already)
                      .arg(trainer->completed_iterations());
      }
      if (const auto* q = std::get_if<request::Baseline>(&r.job)) {
        need_study();
        BaselineOptions options;
        options.method = q->method;
        options.evaluations = q->evaluations;
        options.progress = [&](int done, int total, const EvalOutcome&) {
          report(done, total, q->method, q->method + " " + std::to_string(done) + "/" + std::to_string(total), -1);
          Q_EMIT studyChanged();
        };
        run_baseline(session_->loaded(log, &cancel_), options);
        message = QString("%1 evaluations").arg(q->evaluations);
      }
      if (kind == JobKind::Query || kind == JobKind::EvaluateProposal) {
        need_study();
        auto* trainer = session_->policy(log, &cancel_);
        if (!trainer) throw Error("the study has no trained policy yet (Search > Train policy)");
        const auto& [w, sparsity] =
            kind == JobKind::Query
                ? std::pair(std::get<request::Query>(r.job).w, std::get<request::Query>(r.job).sparsity)
                : std::pair(std::get<request::EvaluateProposal>(r.job).w,
                            std::get<request::EvaluateProposal>(r.job).sparsity);
        const auto blueprint = trainer->query(w, sparsity);
        PlanView view = view_of(blueprint);
        view.origin = "query";
        view.preference = w;
        if (kind == JobKind::EvaluateProposal) {
          const auto outcome = session_->loaded(log, &cancel_).evaluate(blueprint, "query", w);
          if (outcome.failed) throw Error(outcome.error);
          view.trial = outcome.trial_id;
          view.metrics = outcome.metrics;
          Q_EMIT studyChanged();
        } else if (auto cached = session_->store->cached_metrics(blueprint_hash(blueprint), "search")) {
          view.metrics = cached;
        }
        Q_EMIT proposal(view);
      }
      if (const auto* q = std::get_if<request::Curve>(&r.job)) {
        // The policy's plans at one sparsity for preferences along a path,
        // each evaluated and stored as "curve:<id>:<k>" (the cloud joins them).
        need_study();
        auto* trainer = session_->policy(log, &cancel_);
        if (!trainer) throw Error("the study has no trained policy yet (Search > Train policy)");
        const auto start = std::chrono::steady_clock::now();
        size_t plans = 0;
        const int64_t id = trainer->evaluate_curve(
            q->from, q->to, q->points, q->sparsity, q->subset,
            [&](const HippTrainer::CurvePoint& p) {
              const auto& raw = p.outcome.metrics.raw;
              char text[200];
              std::snprintf(text, sizeof text,
                            "curve point %zu/%zu: w = %.2f / %.2f / %.2f, POPE mean F1 %.3f, ScienceQA %.3f",
                            p.index + 1, p.count, p.preference[0], p.preference[1], p.preference[2],
                            raw.value("pope_mean_f1", 0.0),
                            raw.contains("scienceqa") ? raw["scienceqa"].value("accuracy", 0.0) : 0.0);
              log(text);
              const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
              report(static_cast<int>(p.index + 1), static_cast<int>(p.count), "curve", text,
                     elapsed / static_cast<double>(p.index + 1) * static_cast<double>(p.count - p.index - 1));
              Q_EMIT studyChanged();
              plans = p.count;
            },
            &cancel_);
        message = QString("curve %1: %2 plans at s = %3").arg(id).arg(plans).arg(q->sparsity, 0, 'f', 2);
      }
      if (const auto* q = std::get_if<request::EvaluateFull>(&r.job)) {
        need_study();
        const auto blueprint = trial_blueprint(*session_->store, q->trial);
        const auto t = session_->store->trial(q->trial);
        const auto outcome =
            session_->loaded(log, &cancel_)
                .evaluate(blueprint, t ? t->origin : "rescore", t ? t->preference : std::nullopt, "full");
        if (outcome.failed) throw Error(outcome.error);
        Q_EMIT studyChanged();
        message = QString("trial %1: POPE mean F1 %2")
                      .arg(outcome.trial_id)
                      .arg(outcome.metrics.raw.value("pope_mean_f1", 0.0), 0, 'f', 3);
      }
      if (const auto* q = std::get_if<request::ExportBlueprint>(&r.job)) {
        need_study();
        export_trial_blueprint(*session_->store, q->trial, q->path);
        message = QString::fromStdString(q->path);
      }
      if (const auto* q = std::get_if<request::ExportModel>(&r.job)) {
        need_study();
        TrialModelExport options;
        options.cache_dir = Session::features_dir();
        options.log = log;
        options.cancel = &cancel_;
        export_trial_model(*session_->store, q->trial, q->folder, options);
        message = QString::fromStdString(q->folder);
      }
      if (const auto* q = std::get_if<request::Finetune>(&r.job)) {
        need_study();
        // The fine-tune opens the study and loads the model itself; this
        // session's evaluator stays as it is.
        FinetuneJob job;
        job.study = session_->path;
        job.trial = q->trial;
        if (q->steps > 0) job.settings.steps = q->steps;
        job.cache_dir = Session::features_dir();
        job.log = log;
        job.cancel = &cancel_;
        // Into `folder` (default: beside the study). A cancelled fine-tune of
        // the same plan is resumed from its adapters; a finished one is kept
        // and the new one gets the next free name.
        const std::string standard = finetune_out_dir(job);
        const std::string base =
            q->folder.empty() ? standard : (fs::path(q->folder) / fs::path(standard).filename()).string();
        std::string out = base;
        for (int n = 2; fs::exists(out); ++n) out = base + "-" + std::to_string(n);
        job.out_dir = out;
        job.resume = fs::exists(finetune_checkpoint_path(out));
        log((job.resume ? "resuming the cancelled fine-tune into " : "fine-tuning into ") + out);
        job.progress = [&](const FinetuneProgress& p) {
          char text[160];
          std::snprintf(text, sizeof text, "step %d/%d  loss %.4f  %.0f tokens/s", p.step, p.steps, p.loss,
                        p.tokens_per_second);
          report(p.step, p.steps, "fine-tuning", text, p.eta_seconds);
        };
        const auto result = run_finetune_job(job);
        Q_EMIT studyChanged();
        message = QString("trial %1 -> %2 (%3)")
                      .arg(result.parent.id)
                      .arg(result.child.id)
                      .arg(QString::fromStdString(result.out_dir));
      }
    }
    if (!quiet) Q_EMIT jobFinished(kind, name, true, message);
  } catch (const Cancelled&) {
    if (!quiet) Q_EMIT jobFinished(kind, name, false, "cancelled");
    Q_EMIT studyChanged();
  } catch (const std::exception& e) {
    std::string text = e.what();
    text = text.substr(0, text.find('\n'));
    if (quiet) {
      Q_EMIT logLine(QString::fromStdString("query: " + text));
    } else {
      Q_EMIT jobFinished(kind, name, false, QString::fromStdString(text));
    }
    Q_EMIT studyChanged();
  }
}

}  // namespace hipp::gui
