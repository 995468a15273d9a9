// Study throughput on this machine:
//   bench_study                      store inserts and reads (SQLite and memory)
//   bench_study MODEL_DIR BENCH_DIR  also plan evaluations per second on the
//                                    search subset (cold, then cached) and the
//                                    time to compute layer states
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include <torch/torch.h>

#include "core/threads.h"
#include "search/baselines.h"
#include "search/plan_evaluator.h"
#include "study/store.h"

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void store_rows(const std::string& name, hipp::StudyStore& store, int n) {
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    const auto plan =
        store.add_plan("plan-" + std::to_string(i), {{"sparsity", 0.5}, {"kept", std::vector<int>(32, 5000)}});
    hipp::TrialMetrics m;
    m.objectives = {0.9, 0.8, 0.5};
    m.raw = {{"pope_mean_f1", 0.8}};
    store.finish_trial(store.start_trial(plan, "random", std::nullopt, hipp::Subset::Search), m);
  }
  const double write = seconds_since(start);
  start = std::chrono::steady_clock::now();
  int hits = 0;
  for (int i = 0; i < n; ++i) hits += store.cached_metrics("plan-" + std::to_string(i), hipp::Subset::Search) ? 1 : 0;
  const double lookup = seconds_since(start);
  start = std::chrono::steady_clock::now();
  const auto all = store.trials();
  const double read_all = seconds_since(start);
  std::printf("%-8s %8d %16.0f %16.0f %18.1f\n", name.c_str(), n, n / write, hits / lookup, 1000 * read_all);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    hipp::use_threads(0);
    const fs::path dir = fs::temp_directory_path() / ("hipp-bench-study-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::printf("store (each trial: plan insert + start + finish, one transaction each)\n");
    std::printf("%-8s %8s %16s %16s %18s\n", "store", "trials", "trials/s written", "cache lookups/s", "read all (ms)");
    {
      auto sqlite = hipp::create_sqlite_study((dir / "rows.sqlite").string(), {});
      store_rows("sqlite", *sqlite, 2000);
      auto memory = hipp::create_memory_study({});
      store_rows("memory", *memory, 2000);
    }
    if (argc == 3) {
      hipp::StudySettings settings;
      const std::string path = (dir / "eval.sqlite").string();
      auto start = std::chrono::steady_clock::now();
      hipp::create_study(path, argv[1], argv[2], settings, {}, "");
      std::printf("\nstudy create (dense model on the search subset): %.1f s\n", seconds_since(start));
      auto store = hipp::open_sqlite_study(path);
      start = std::chrono::steady_clock::now();
      hipp::StudySession session(*store, {}, "");
      hipp::PlanEvaluator evaluator(session);
      std::printf("study session set-up (load, calibrate, importance): %.1f s\n", seconds_since(start));
      start = std::chrono::steady_clock::now();
      session.layer_states();
      std::printf("layer states: %.2f s\n", seconds_since(start));
      for (const char* label : {"cold", "cached"}) {
        hipp::BaselineOptions options;
        options.method = "uniform";
        options.evaluations = 8;
        start = std::chrono::steady_clock::now();
        hipp::run_baseline(evaluator, options);
        const double s = seconds_since(start);
        std::printf("plan evaluations, %-6s: %.2f /s (%d in %.1f s, %d + %d questions each)\n", label,
                    options.evaluations / s, options.evaluations, s, 3 * settings.subset.pope_per_split,
                    settings.subset.sqa);
      }
    }
    fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_study: %s\n", e.what());
    return 1;
  }
}
