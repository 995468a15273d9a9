#pragma once
// Value types the engine thread hands to the widgets and the widgets show:
// neither Qt nor torch, so that the explorer's job code (built with the
// engine's precompiled header) and the widgets share them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "study/store.h"

namespace hipp::gui {

// One plan as the details panel and the preference panel show it.
struct PlanView {
  int64_t trial = 0;  // 0: a policy proposal not (yet) evaluated
  std::string origin;
  std::optional<Preference> preference;
  double sparsity = 0;             // achieved share of prunable parameters removed
  std::vector<double> kept_ratio;  // per decoder layer, 1 = untouched
  std::optional<TrialMetrics> metrics;
  std::optional<int64_t> parent;
  nlohmann::json details = nlohmann::json::object();
  Subset subset = Subset::Search;
};

// What the window shows about the open study.
struct StudySummary {
  std::string path;
  std::string model_dir, bench_dir;
  std::vector<double> visual_sensitivity;  // per layer, scaled to [0, 1] (vision mass)
  bool has_policy = false;
  nlohmann::json dense = nlohmann::json::object();
};

// The engine thread's jobs, one request type each.
enum class JobKind {
  OpenStudy,
  BuildDemo,
  CreateStudy,
  Train,
  Baseline,
  Query,
  EvaluateProposal,
  EvaluateFull,
  ExportBlueprint,
  ExportModel,
  Finetune,
  Curve
};
// A job's progress as the job panel shows it.
struct JobProgress {
  int step = -1, total = -1;  // step of total; -1 = unknown
  double fraction = -1;       // in [0, 1]; negative = unknown (busy indicator)
  double eta_seconds = -1;
  std::string phase;  // "training", "curve", "loading", ...
  std::string text;
};

}  // namespace hipp::gui
