#pragma once
// The work behind each of hipp-explorer's jobs, on the open study, without
// Qt: the engine thread (engine_worker.cpp) calls these and turns the hooks
// into queued signals. study_jobs.cpp is the app's one file that includes
// LibTorch (through the engine); it is built with the engine's precompiled
// header, and this header includes neither Qt nor torch.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "plan_types.h"

namespace hipp::gui {

// How a job talks back while it runs.
struct JobHooks {
  std::function<void(const std::string&)> log;
  // The step of the total (either may be unknown, -1), the phase, a line of
  // text and the seconds left (negative = unknown).
  std::function<void(int step, int total, const std::string& phase, const std::string& text, double eta)> report;
  std::function<void()> study_changed;  // trials were added or finished
  const std::atomic<bool>* cancel = nullptr;
};

// Where the engine computes: "cpu", "cuda" or "cuda:N", and the weights'
// dtype ("f32", "f16", "bf16"), as the command line's --device / --dtype.
struct EngineDevice {
  std::string device = "cpu";
  std::string dtype = "f32";
};
// "" when this LibTorch can run on `device` with `dtype`, else the reason
// (a CPU-only LibTorch asked for CUDA, an unknown name).
std::string engine_device_problem(const EngineDevice& device);

// GRPO iterations of `hipp-prune train` with no options (the app's default).
int default_train_iterations();

// The open study with its model, evaluator and policy, each loaded once,
// when a job first needs it. Used by one thread. A job that needs a study
// before one is open throws an Error that says how to open one. The
// returned strings are the one-line results the job panel shows.
class StudyJobs {
 public:
  explicit StudyJobs(JobHooks hooks, EngineDevice device = {});
  ~StudyJobs();
  StudyJobs(const StudyJobs&) = delete;
  StudyJobs& operator=(const StudyJobs&) = delete;

  // Opens `path` (closing the study open before) and loads its model:
  // `opened` is called with the summary at once, and again with the
  // visual sensitivity once the model is loaded.
  void open_study(const std::string& path, const std::function<void(const StudySummary&)>& opened);
  // Builds the demo into `folder` (unless it is there) and creates the
  // study `study_path` on it (unless it exists); the caller opens it.
  void build_demo(const std::string& folder, const std::string& study_path);
  void create_study(const std::string& model_dir, const std::string& bench_dir, const std::string& study_path);

  // `iterations` more policy iterations on top of those the study has, then
  // the query grid (0 = none).
  std::string train(int iterations, int query_grid);
  std::string baseline(const std::string& method, int evaluations);
  // The policy's plan for `w` (at `sparsity`, or its own); evaluated and
  // stored when `evaluate`, else with the cached metrics if the study has them.
  PlanView query(const Preference& w, std::optional<double> sparsity, bool evaluate);
  std::string curve(const Preference& from, const Preference& to, int points, double sparsity, Subset subset);
  std::string evaluate_full(int64_t trial);
  std::string export_blueprint(int64_t trial, const std::string& path);
  std::string export_model(int64_t trial, const std::string& folder);
  // LoRA recovery into `folder` ("" = beside the study) under the next free
  // name; a cancelled fine-tune of the same plan resumes.
  std::string finetune(int64_t trial, int steps, const std::string& folder);

 private:
  struct Session;
  Session& need_study();
  JobHooks hooks_;
  EngineDevice device_;
  std::unique_ptr<Session> session_;
};

}  // namespace hipp::gui
