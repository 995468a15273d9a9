#pragma once
// What the operating-point cloud shows, computed apart from any drawing
// (the app's plot only draws what these pure functions return), and the
// preference simplex the sliders move on. Torch-free, Qt-free.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "study/store.h"

namespace hipp {

// The quantities a cloud axis can show; all are read from a trial's metrics.
enum class CloudAxis {
  PopeMeanF1,
  PopeF1Random,
  PopeF1Popular,
  PopeF1Adversarial,
  PopeYesRatio,  // mean over the splits
  ScienceQa,
  ScienceQaImage,
  ScienceQaNoImage,
  Compression,  // achieved sparsity
  Robustness,   // POPE mean F1 / the dense model's
  Utility,      // ScienceQA accuracy / the dense model's
  Latency,      // measured forward latency / the dense model's (raw latency_ms, dense_latency_ms)
};
const std::vector<CloudAxis>& cloud_axes();
std::string axis_label(CloudAxis axis);
// How good a value is on this axis, for the 2-D front: the value itself,
// except the yes-ratio, where closer to 0.5 (no bias) is better, and the
// latency, where lower is better.
double axis_score(CloudAxis axis, double value);
std::optional<double> axis_value(const Trial& trial, CloudAxis axis);

// "grpo:3" -> "grpo"; other origins unchanged.
std::string origin_kind(const std::string& origin);

enum class CloudColour { PreferenceRobustness, Sparsity };

struct CloudPoint {
  int64_t trial = 0;
  std::string kind;  // origin_kind
  double x = 0, y = 0;
  double colour = 0;              // w_rob or sparsity; NaN when the trial has no preference
  bool on_front = false;          // non-dominated in (x, y) among the points shown
  std::optional<int64_t> parent;  // fine-tuned children
  std::optional<Preference> preference;
};

struct CloudData {
  std::vector<CloudPoint> points;  // complete trials with both values, kinds not hidden, id order
  std::vector<size_t> front;       // indices into points, sorted by x (the line to draw)
  // The newest preference curve among the points (origin "curve:<id>:<k>"):
  // indices into points in path order k, and its id (0 = none shown).
  std::vector<size_t> curve;
  int64_t curve_id = 0;
  // Parent -> child segments as indices into points (both shown).
  std::vector<std::pair<size_t, size_t>> links;
};

struct CloudRequest {
  CloudAxis x = CloudAxis::PopeMeanF1;
  CloudAxis y = CloudAxis::ScienceQa;
  CloudColour colour = CloudColour::PreferenceRobustness;
  std::vector<std::string> hidden_kinds;  // origin kinds left out
  Subset subset = Subset::Search;         // trials scored on this subset only
};

CloudData cloud_data(const std::vector<Trial>& trials, const CloudRequest& request);

// The cloud as CSV, front first: trial, origin, x, y, preference, on_front;
// with the trials, also their subset, sparsity, objectives, POPE F1 (mean and
// per split), ScienceQA (all, IMG, no image) and parent; with layer_ratios
// (a plan id -> each decoder layer's removed share), those too.
std::string cloud_csv(const CloudData& data, const CloudRequest& request, const std::vector<Trial>& trials = {},
                      const std::function<std::vector<double>(int64_t plan_id)>& layer_ratios = {});

// Where the plot's legend covers the fewest points: the corner of the view
// x in [x_lo, x_hi], y in [y_lo, y_hi] with the fewest drawn points inside a
// box of `fraction` of each axis's span there (curve points and front points
// count three times: they are what a user reads; dominated points count only
// when they are drawn). Ties keep the earlier corner in the order top left,
// top right, bottom left, bottom right.
enum class LegendCorner { TopLeft, TopRight, BottomLeft, BottomRight };
LegendCorner legend_corner(const CloudData& data, double x_lo, double x_hi, double y_lo, double y_hi,
                           bool dominated_drawn = true, double fraction = 0.35);

// A preference curve's trials are named "curve:<id>:<k>": the k-th point of
// curve <id>. Returns {id, k}, or nullopt for any other origin.
std::optional<std::pair<int64_t, int>> curve_origin(const std::string& origin);
std::string curve_origin_name(int64_t curve, int index);
// `points` preferences evenly spaced on the segment from `from` to `to` (both
// on the simplex), ends included.
std::vector<Preference> preference_path(const Preference& from, const Preference& to, int points);

// Sets w[index] = value (clamped to [0, 1]) and rebalances the other two so
// the three stay on the simplex, keeping their ratio (equal shares when both
// were zero).
Preference rebalance(const Preference& w, int index, double value);

}  // namespace hipp
