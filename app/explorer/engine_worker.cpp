#include "engine_worker.h"

#include <chrono>
#include <filesystem>
#include <regex>

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

struct EngineWorker::Request {
  enum class Kind {
    OpenStudy, BuildDemo, CreateStudy, Train, Baseline, Query, EvaluateProposal, EvaluateFull,
    ExportBlueprint, ExportModel, Finetune, Curve
  };
  explicit Request(Kind k, std::string a_ = {}, std::string b_ = {}, std::string c_ = {})
      : kind(k), a(std::move(a_)), b(std::move(b_)), c(std::move(c_)) {}
  Kind kind;
  std::string a, b, c;  // paths or names, by kind
  int64_t trial = 0;
  int count = 0, extra = 0;
  Preference w{}, w_to{};
  std::optional<double> sparsity;
};

// The open study with what the jobs need loaded once (on the worker thread).
struct EngineWorker::Session {
  std::string path;
  std::unique_ptr<StudyStore> store;
  std::unique_ptr<PlanEvaluator> evaluator;
  std::unique_ptr<HippTrainer> trainer;

  PlanEvaluator& loaded(const std::function<void(const std::string&)>& log, const std::atomic<bool>* cancel) {
    if (!evaluator) evaluator = std::make_unique<PlanEvaluator>(*store, LoadOptions{}, features_dir(), log);
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
    if (request.kind == Request::Kind::Query) {
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

void EngineWorker::openStudy(const QString& path) { post(Request(Request::Kind::OpenStudy, path.toStdString())); }
void EngineWorker::buildDemo(const QString& folder, const QString& study_path) {
  post(Request(Request::Kind::BuildDemo, folder.toStdString(), study_path.toStdString()));
}
void EngineWorker::createStudy(const QString& model_dir, const QString& bench_dir, const QString& study_path) {
  post(Request(Request::Kind::CreateStudy, model_dir.toStdString(), bench_dir.toStdString(), study_path.toStdString()));
}
void EngineWorker::train(int iterations, int query_grid) {
  Request r{Request::Kind::Train};
  r.count = iterations;
  r.extra = query_grid;
  post(std::move(r));
}
void EngineWorker::curve(const Preference& from, const Preference& to, int points, double sparsity,
                         const QString& subset) {
  Request r{Request::Kind::Curve, subset.toStdString()};
  r.w = from;
  r.w_to = to;
  r.count = points;
  r.sparsity = sparsity;
  post(std::move(r));
}
void EngineWorker::runBaseline(const QString& method, int evaluations) {
  Request r{Request::Kind::Baseline, method.toStdString()};
  r.count = evaluations;
  post(std::move(r));
}
void EngineWorker::query(const Preference& w, std::optional<double> sparsity) {
  Request r{Request::Kind::Query};
  r.w = w;
  r.sparsity = sparsity;
  post(std::move(r));
}
void EngineWorker::evaluateProposal(const Preference& w, std::optional<double> sparsity) {
  Request r{Request::Kind::EvaluateProposal};
  r.w = w;
  r.sparsity = sparsity;
  post(std::move(r));
}
void EngineWorker::evaluateFull(int64_t trial) {
  Request r{Request::Kind::EvaluateFull};
  r.trial = trial;
  post(std::move(r));
}
void EngineWorker::exportBlueprint(int64_t trial, const QString& path) {
  Request r{Request::Kind::ExportBlueprint, path.toStdString()};
  r.trial = trial;
  post(std::move(r));
}
void EngineWorker::exportModel(int64_t trial, const QString& folder) {
  Request r{Request::Kind::ExportModel, folder.toStdString()};
  r.trial = trial;
  post(std::move(r));
}
void EngineWorker::finetune(int64_t trial, int steps, const QString& folder) {
  Request r{Request::Kind::Finetune, folder.toStdString()};
  r.trial = trial;
  r.count = steps;
  post(std::move(r));
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
    busy_ = request->kind != Request::Kind::Query;
    execute(*request);
    busy_ = false;
  }
}

void EngineWorker::execute(const Request& r) {
  using Kind = Request::Kind;
  static const char* names[] = {"Open study", "Build demo", "New study", "Train policy", "Baseline",
                                "Query", "Evaluate plan", "Evaluate on full set", "Export blueprint",
                                "Export model", "Fine-tune", "Curve"};
  const QString name = names[static_cast<int>(r.kind)];
  const bool quiet = r.kind == Kind::Query;
  auto log = [this](const std::string& line) { Q_EMIT logLine(QString::fromStdString(line)); };
  auto last_report = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto report = [&](double fraction, const std::string& text, double eta) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_report < std::chrono::milliseconds(100) && fraction < 1) return;  // at most 10 a second
    last_report = now;
    Q_EMIT jobProgress(JobProgress{fraction, eta, text});
  };
  auto need_study = [&] {
    if (!session_ || !session_->store) throw Error("open or create a study first (File > Open study)");
  };
  if (!quiet) Q_EMIT jobStarted(name);
  QString message;
  try {
    switch (r.kind) {
      case Kind::OpenStudy: {
        auto session = std::make_unique<Session>();
        session->path = r.a;
        session->store = open_sqlite_study(r.a);
        session_ = std::move(session);
        StudySummary summary;
        summary.path = r.a;
        const auto study = session_->store->study();
        summary.model_dir = study.model_dir;
        summary.bench_dir = study.bench_dir;
        summary.dense = study.dense;
        summary.has_policy = study_has_policy(*session_->store);
        Q_EMIT studyOpened(summary);
        // The visual sensitivity needs the model: loaded now, so later jobs start at once.
        report(-1, "loading the model, benchmark and calibration", -1);
        auto& evaluator = session_->loaded(log, &cancel_);
        summary.visual_sensitivity = visual_of(evaluator.layer_states());
        Q_EMIT studyOpened(summary);
        message = QString::fromStdString(fs::path(r.a).filename().string());
        break;
      }
      case Kind::BuildDemo: {
        if (!fs::exists(fs::path(r.a) / "demo-report.json")) {
          DemoOptions options;
          options.out = r.a;
          options.cancel = &cancel_;
          const std::regex step_re(R"(step (\d+)/(\d+).*~(\d+) s left)");
          options.log = [&](const std::string& line) {
            log(line);
            std::smatch m;
            if (std::regex_search(line, m, step_re))
              report(std::stod(m[1]) / std::stod(m[2]), "training the demo model, step " + m[1].str() + "/" + m[2].str(),
                     std::stod(m[3]));
            else
              report(-1, line, -1);
          };
          const auto built = build_demo(options);
          for (const auto& f : demo_quality_failures(built)) log("quality: " + f);
        }
        if (!fs::exists(r.b)) {
          // The search subset scripts/demo.sh uses: 50 POPE questions per split, 100 ScienceQA problems.
          StudySettings settings;
          settings.subset.pope_per_split = 50;
          settings.subset.sqa = 100;
          report(-1, "creating the demo study", -1);
          PlanEvaluator::create_study(r.b, (fs::path(r.a) / "model").string(), (fs::path(r.a) / "bench").string(),
                                      settings, {}, Session::features_dir(), log);
        }
        post(Request(Kind::OpenStudy, r.b));
        message = QString::fromStdString(r.b);
        break;
      }
      case Kind::CreateStudy: {
        StudySettings settings;
        PlanEvaluator::create_study(r.c, r.a, r.b, settings, {}, Session::features_dir(), log);
        post(Request(Kind::OpenStudy, r.c));
        message = QString::fromStdString(r.c);
        break;
      }
      case Kind::Train: {
        need_study();
        // r.count more iterations on top of those the study's policy has.
        int already = 0;
        if (study_has_policy(*session_->store))
          if (auto* existing = session_->policy(log, &cancel_)) already = existing->completed_iterations();
        auto* trainer = session_->policy(log, &cancel_, already + r.count);
        const auto start = std::chrono::steady_clock::now();
        trainer->train(
            [&](const HippIterationReport& it) {
              const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
              // The time left from this job's own iterations, not from those resumed.
              const int done = std::max(1, it.iteration - already);
              char text[160];
              std::snprintf(text, sizeof text, "iteration %d/%d  plans %d  HV %.3f  mean return %.3f", it.iteration,
                            it.iterations, it.evaluations, it.hypervolume, it.mean_return);
              report(static_cast<double>(it.iteration) / std::max(1, it.iterations), text,
                     elapsed / done * (it.iterations - it.iteration));
              log(text);
              Q_EMIT studyChanged();
            },
            &cancel_);
        if (r.extra > 0) {
          report(-1, "evaluating the policy on a grid of preferences", -1);
          trainer->evaluate_query_grid(r.extra);
        }
        Q_EMIT studyChanged();
        message = QString("%1 new iterations, %2 in all").arg(trainer->completed_iterations() - already)
                      .arg(trainer->completed_iterations());
        break;
      }
      case Kind::Baseline: {
        need_study();
        BaselineOptions options;
        options.method = r.a;
        options.evaluations = r.count;
        options.progress = [&](int done, int total, const EvalOutcome&) {
          report(static_cast<double>(done) / total, r.a + " " + std::to_string(done) + "/" + std::to_string(total), -1);
          Q_EMIT studyChanged();
        };
        run_baseline(session_->loaded(log, &cancel_), options);
        message = QString("%1 evaluations").arg(r.count);
        break;
      }
      case Kind::Query:
      case Kind::EvaluateProposal: {
        need_study();
        auto* trainer = session_->policy(log, &cancel_);
        if (!trainer) throw Error("the study has no trained policy yet (Search > Train policy)");
        const auto blueprint = trainer->query(r.w, r.sparsity);
        PlanView view = view_of(blueprint);
        view.origin = "query";
        view.preference = r.w;
        if (r.kind == Kind::EvaluateProposal) {
          const auto outcome = session_->loaded(log, &cancel_).evaluate(blueprint, "query", r.w);
          if (outcome.failed) throw Error(outcome.error);
          view.trial = outcome.trial_id;
          view.metrics = outcome.metrics;
          Q_EMIT studyChanged();
        } else if (auto cached = session_->store->cached_metrics(blueprint_hash(blueprint), "search")) {
          view.metrics = cached;
        }
        Q_EMIT proposal(view);
        break;
      }
      case Kind::Curve: {
        // The policy's plans at one sparsity for preferences along a path,
        // each evaluated and stored as "curve:<id>:<k>" (the cloud joins them).
        need_study();
        auto* trainer = session_->policy(log, &cancel_);
        if (!trainer) throw Error("the study has no trained policy yet (Search > Train policy)");
        int64_t id = 1;
        for (const auto& t : session_->store->trials())
          if (const auto c = curve_origin(t.origin)) id = std::max(id, c->first + 1);
        const auto path = preference_path(r.w, r.w_to, r.count);
        const auto start = std::chrono::steady_clock::now();
        for (size_t k = 0; k < path.size(); ++k) {
          if (cancel_.load()) throw Cancelled();
          const auto& w = path[k];
          const auto blueprint = trainer->query(w, r.sparsity);
          const auto outcome = session_->loaded(log, &cancel_)
                                   .evaluate(blueprint, curve_origin_name(id, static_cast<int>(k)), w, r.a);
          if (outcome.failed) throw Error(outcome.error);
          char text[200];
          std::snprintf(text, sizeof text, "curve %lld point %zu/%zu: w = %.2f / %.2f / %.2f, POPE mean F1 %.3f, ScienceQA %.3f",
                        static_cast<long long>(id), k + 1, path.size(), w[0], w[1], w[2],
                        outcome.metrics.raw.value("pope_mean_f1", 0.0),
                        outcome.metrics.raw.contains("scienceqa") ? outcome.metrics.raw["scienceqa"].value("accuracy", 0.0) : 0.0);
          log(text);
          const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          report(static_cast<double>(k + 1) / path.size(), text, elapsed / (k + 1) * (path.size() - k - 1));
          Q_EMIT studyChanged();
        }
        message = QString("curve %1: %2 plans at s = %3").arg(id).arg(path.size()).arg(*r.sparsity, 0, 'f', 2);
        break;
      }
      case Kind::EvaluateFull: {
        need_study();
        const auto blueprint = trial_blueprint(*session_->store, r.trial);
        const auto t = session_->store->trial(r.trial);
        const auto outcome = session_->loaded(log, &cancel_).evaluate(blueprint, t ? t->origin : "rescore",
                                                                     t ? t->preference : std::nullopt, "full");
        if (outcome.failed) throw Error(outcome.error);
        Q_EMIT studyChanged();
        message = QString("trial %1: POPE mean F1 %2").arg(outcome.trial_id).arg(outcome.metrics.raw.value("pope_mean_f1", 0.0), 0, 'f', 3);
        break;
      }
      case Kind::ExportBlueprint: {
        need_study();
        export_trial_blueprint(*session_->store, r.trial, r.a);
        message = QString::fromStdString(r.a);
        break;
      }
      case Kind::ExportModel: {
        need_study();
        TrialModelExport options;
        options.cache_dir = Session::features_dir();
        options.log = log;
        options.cancel = &cancel_;
        export_trial_model(*session_->store, r.trial, r.a, options);
        message = QString::fromStdString(r.a);
        break;
      }
      case Kind::Finetune: {
        need_study();
        // The fine-tune opens the study and loads the model itself; this
        // session's evaluator stays as it is.
        FinetuneJob job;
        job.study = session_->path;
        job.trial = r.trial;
        if (r.count > 0) job.settings.steps = r.count;
        job.cache_dir = Session::features_dir();
        job.log = log;
        job.cancel = &cancel_;
        // Into `folder` (default: beside the study). A cancelled fine-tune of
        // the same plan is resumed from its adapters; a finished one is kept
        // and the new one gets the next free name.
        const std::string standard = finetune_out_dir(job);
        const std::string base =
            r.a.empty() ? standard : (fs::path(r.a) / fs::path(standard).filename()).string();
        std::string out = base;
        for (int n = 2; fs::exists(out); ++n) out = base + "-" + std::to_string(n);
        job.out_dir = out;
        job.resume = fs::exists(finetune_checkpoint_path(out));
        log((job.resume ? "resuming the cancelled fine-tune into " : "fine-tuning into ") + out);
        job.progress = [&](const FinetuneProgress& p) {
          char text[160];
          std::snprintf(text, sizeof text, "step %d/%d  loss %.4f  %.0f tokens/s", p.step, p.steps, p.loss,
                        p.tokens_per_second);
          report(static_cast<double>(p.step) / p.steps, text, p.eta_seconds);
        };
        const auto result = run_finetune_job(job);
        Q_EMIT studyChanged();
        message = QString("trial %1 -> %2 (%3)").arg(result.parent.id).arg(result.child.id)
                      .arg(QString::fromStdString(result.out_dir));
        break;
      }
    }
    if (!quiet) Q_EMIT jobFinished(name, true, message);
  } catch (const Cancelled&) {
    if (!quiet) Q_EMIT jobFinished(name, false, "cancelled");
    Q_EMIT studyChanged();
  } catch (const std::exception& e) {
    std::string text = e.what();
    text = text.substr(0, text.find('\n'));
    if (quiet) {
      Q_EMIT logLine(QString::fromStdString("query: " + text));
    } else {
      Q_EMIT jobFinished(name, false, QString::fromStdString(text));
    }
    Q_EMIT studyChanged();
  }
}

}  // namespace hipp::gui
