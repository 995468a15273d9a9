#pragma once
// The engine thread of hipp-explorer (after Qt's Mandelbrot example): the
// window posts typed requests (one type per job, a std::variant), which are
// copied under a mutex into a queue; one
// worker thread runs them one at a time with the study's model, evaluator
// and policy loaded once; a cancel flag is checked inside every long loop;
// results reach the window as value types through queued signals; the
// destructor cancels and waits. Nothing here includes torch: the jobs
// themselves are in study_jobs.cpp.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <QString>
#include <QThread>

#include "plan_view.h"

namespace hipp::gui {

class StudyJobs;

class EngineWorker : public QThread {
  Q_OBJECT
 public:
  explicit EngineWorker(QObject* parent = nullptr);
  ~EngineWorker() override;

  // Where the engine loads models and computes ("cpu", "cuda", "cuda:N")
  // and the weights' dtype; set before the first job (hipp-explorer
  // --device / --dtype).
  void setEngineDevice(const std::string& device, const std::string& dtype);

  // Each call queues one job (a policy query replaces any query not yet run).
  void openStudy(const QString& path);
  // Builds the demo into `folder` (unless it is there) and creates the study `study_path` on it.
  void buildDemo(const QString& folder, const QString& study_path);
  void createStudy(const QString& model_dir, const QString& bench_dir, const QString& study_path);
  void train(int iterations, int query_grid);
  void runBaseline(const QString& method, int evaluations);
  void query(const Preference& w, std::optional<double> sparsity);
  void evaluateProposal(const Preference& w, std::optional<double> sparsity);
  void evaluateFull(int64_t trial);
  // The policy's plans at `sparsity` for `points` preferences from `from` to
  // `to`, each evaluated on `subset`: a curve the cloud draws.
  void curve(const Preference& from, const Preference& to, int points, double sparsity, Subset subset);
  void exportBlueprint(int64_t trial, const QString& path);
  void exportModel(int64_t trial, const QString& folder);
  // LoRA recovery of a trial's pruned model, written into `folder` ("" =
  // beside the study) under the next free name; a cancelled one resumes.
  void finetune(int64_t trial, int steps, const QString& folder = {});
  // Stops the running job at its next check and drops the queued ones.
  void cancel();
  bool busy() const { return busy_.load(); }

 Q_SIGNALS:
  void jobStarted(hipp::gui::JobKind kind, const QString& name);
  void jobProgress(const hipp::gui::JobProgress& progress);
  void jobFinished(hipp::gui::JobKind kind, const QString& name, bool ok, const QString& message);
  void logLine(const QString& line);
  void studyOpened(const hipp::gui::StudySummary& summary);
  void studyChanged();  // trials were added or finished
  void proposal(const hipp::gui::PlanView& plan);

 protected:
  void run() override;

 private:
  struct Request;
  void post(Request request);
  void execute(const Request& request);
  void progress(int step, int total, const std::string& phase, const std::string& text, double eta);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Request>> queue_;
  std::unique_ptr<Request> pending_query_;
  bool abort_ = false;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> busy_{false};
  // Touched on the worker thread only.
  std::unique_ptr<StudyJobs> jobs_;
  std::string device_ = "cpu", dtype_ = "f32";  // read when jobs_ is made
  std::chrono::steady_clock::time_point last_report_;
};

}  // namespace hipp::gui
