#include "engine_worker.h"

#include <chrono>
#include <filesystem>
#include <variant>

#include "core/error.h"
#include "study/pg_store.h"
#include "study_jobs.h"

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
  Subset subset = Subset::Search;
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

EngineWorker::EngineWorker(QObject* parent) : QThread(parent) {
  qRegisterMetaType<PlanView>();
  qRegisterMetaType<StudySummary>();
  qRegisterMetaType<JobProgress>();
  qRegisterMetaType<JobKind>();
}

void EngineWorker::setEngineDevice(const std::string& device, const std::string& dtype) {
  std::lock_guard<std::mutex> lock(mutex_);
  device_ = device;
  dtype_ = dtype;
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
void EngineWorker::curve(const Preference& from, const Preference& to, int points, double sparsity, Subset subset) {
  post({request::Curve{from, to, points, sparsity, subset}});
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

// Structured progress, at most 10 reports a second (and always the last step).
void EngineWorker::progress(int step, int total, const std::string& phase, const std::string& text, double eta) {
  const auto now = std::chrono::steady_clock::now();
  const bool last = total > 0 && step >= total;
  if (now - last_report_ < std::chrono::milliseconds(100) && !last) return;
  last_report_ = now;
  JobProgress p;
  p.step = step;
  p.total = total;
  p.fraction = total > 0 && step >= 0 ? static_cast<double>(step) / total : -1;
  p.eta_seconds = eta;
  p.phase = phase;
  p.text = text;
  Q_EMIT jobProgress(p);
}

void EngineWorker::execute(const Request& r) {
  const JobKind kind = r.kind();
  const QString name = job_name(kind);
  const bool quiet = kind == JobKind::Query;
  last_report_ = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  if (!jobs_) {
    JobHooks hooks;
    hooks.log = [this](const std::string& line) { Q_EMIT logLine(QString::fromStdString(line)); };
    hooks.report = [this](int step, int total, const std::string& phase, const std::string& text, double eta) {
      progress(step, total, phase, text, eta);
    };
    hooks.study_changed = [this] { Q_EMIT studyChanged(); };
    hooks.cancel = &cancel_;
    EngineDevice device;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      device = {device_, dtype_};
    }
    if (device.device != "cpu" || device.dtype != "f32")
      Q_EMIT logLine(QString::fromStdString("engine: " + device.device + ", " + device.dtype));
    jobs_ = std::make_unique<StudyJobs>(std::move(hooks), device);
  }
  if (!quiet) Q_EMIT jobStarted(kind, name);
  std::string message;
  try {
    if (const auto* q = std::get_if<request::OpenStudy>(&r.job)) {
      jobs_->open_study(q->path, [this](const StudySummary& summary) { Q_EMIT studyOpened(summary); });
      message = is_postgresql_url(q->path) ? redacted_url(q->path) : fs::path(q->path).filename().string();
    }
    if (const auto* q = std::get_if<request::BuildDemo>(&r.job)) {
      jobs_->build_demo(q->folder, q->study);
      post({request::OpenStudy{q->study}});
      message = q->study;
    }
    if (const auto* q = std::get_if<request::CreateStudy>(&r.job)) {
      jobs_->create_study(q->model, q->bench, q->study);
      post({request::OpenStudy{q->study}});
      message = q->study;
    }
    if (const auto* q = std::get_if<request::Train>(&r.job)) message = jobs_->train(q->iterations, q->query_grid);
    if (const auto* q = std::get_if<request::Baseline>(&r.job)) message = jobs_->baseline(q->method, q->evaluations);
    if (const auto* q = std::get_if<request::Query>(&r.job)) Q_EMIT proposal(jobs_->query(q->w, q->sparsity, false));
    if (const auto* q = std::get_if<request::EvaluateProposal>(&r.job))
      Q_EMIT proposal(jobs_->query(q->w, q->sparsity, true));
    if (const auto* q = std::get_if<request::Curve>(&r.job))
      message = jobs_->curve(q->from, q->to, q->points, q->sparsity, q->subset);
    if (const auto* q = std::get_if<request::EvaluateFull>(&r.job)) message = jobs_->evaluate_full(q->trial);
    if (const auto* q = std::get_if<request::ExportBlueprint>(&r.job))
      message = jobs_->export_blueprint(q->trial, q->path);
    if (const auto* q = std::get_if<request::ExportModel>(&r.job)) message = jobs_->export_model(q->trial, q->folder);
    if (const auto* q = std::get_if<request::Finetune>(&r.job))
      message = jobs_->finetune(q->trial, q->steps, q->folder);
    if (!quiet) Q_EMIT jobFinished(kind, name, true, QString::fromStdString(message));
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
