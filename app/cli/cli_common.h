#pragma once
// Options every hipp-prune subcommand shares, and the registration functions
// of the subcommand groups.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>

#include "core/paths.h"

namespace hipp {
struct LoadOptions;
struct RemoteEvaluation;
class StudyStore;
}  // namespace hipp

namespace hipp::cli {

// How --study is described everywhere: a SQLite file or a PostgreSQL study.
inline constexpr const char* kStudyOptionHelp = "study: a file, or postgresql://user@host:port/db?study=NAME";

struct CommonOptions {
  std::string device = "cpu";
  std::string dtype = "f32";
  int threads = 0;  // 0 = LibTorch's default
  uint64_t seed = 0;
  bool json = false;
};

// A number option that must be finite and within [lo, hi] (CLI::Range,
// PositiveNumber and NonNegativeNumber let NaN through).
inline CLI::Validator finite_range(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double value = 0;
        try {
          size_t used = 0;
          value = std::stod(text, &used);
          if (used != text.size()) return "not a number: " + text;
        } catch (const std::exception&) {
          return "not a number: " + text;
        }
        if (!std::isfinite(value) || value < lo || value > hi)
          return text + " is not a finite number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
        return "";
      },
      "FINITE in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// A finite number above zero, or at least zero.
inline CLI::Validator finite_at_least_zero(bool strictly) {
  const std::string bound = strictly ? "above 0" : "of at least 0";
  return CLI::Validator(
      [strictly, bound](std::string& text) -> std::string {
        try {
          size_t used = 0;
          const double value = std::stod(text, &used);
          if (used == text.size() && std::isfinite(value) && (strictly ? value > 0 : value >= 0)) return "";
        } catch (const std::exception&) {
        }
        return text + " is not a finite number " + bound;
      },
      strictly ? "FINITE > 0" : "FINITE >= 0");
}
inline CLI::Validator finite_positive() { return finite_at_least_zero(true); }
inline CLI::Validator finite_non_negative() { return finite_at_least_zero(false); }

// Applies --threads and --seed to LibTorch.
void apply_common(const CommonOptions& common);

// Set by Ctrl-C (SIGINT/SIGTERM); long work checks it and stops cleanly.
const std::atomic<bool>* install_cancel_handler();

// --device and --dtype as model-loading options.
LoadOptions load_options(const CommonOptions& common);

// The image-feature cache folder a --cache-dir argument names: empty = the
// default (<cache>/features), "none" = memory only ("").
std::string feature_cache_dir(const std::string& arg);

// A progress line on stderr.
void progress_line(const std::string& line);

// --workers: how a PlanEvaluator hands its batches to the evaluation queue
// of the study at `study` (PostgreSQL) and waits for workers, printing the
// queue's state as "<who>: ..." lines. Called before anything is loaded: a
// study file is refused at once, with the reason.
RemoteEvaluation workers_for(StudyStore& store, const std::string& study, const std::string& who);
inline constexpr const char* kWorkersHelp =
    "let workers evaluate the plans (hipp-prune worker --study URL, any number, any machine); needs a PostgreSQL study";

void add_model_commands(CLI::App& app, CommonOptions& common);
void add_benchmark_commands(CLI::App& app, CommonOptions& common);
void add_prune_commands(CLI::App& app, CommonOptions& common);
void add_study_commands(CLI::App& app, CommonOptions& common);
void add_policy_commands(CLI::App& app, CommonOptions& common);
void add_finetune_commands(CLI::App& app, CommonOptions& common);

}  // namespace hipp::cli
