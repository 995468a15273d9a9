#include "study/cloud.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "study/selection.h"

namespace hipp {

const std::vector<CloudAxis>& cloud_axes() {
  static const std::vector<CloudAxis> axes = {
      CloudAxis::PopeMeanF1,   CloudAxis::PopeF1Random, CloudAxis::PopeF1Popular,  CloudAxis::PopeF1Adversarial,
      CloudAxis::PopeYesRatio, CloudAxis::ScienceQa,    CloudAxis::ScienceQaImage, CloudAxis::ScienceQaNoImage,
      CloudAxis::Compression,  CloudAxis::Robustness,   CloudAxis::Utility,        CloudAxis::Latency};
  return axes;
}

std::string axis_label(CloudAxis axis) {
  switch (axis) {
    case CloudAxis::PopeMeanF1:
      return "POPE mean F1";
    case CloudAxis::PopeF1Random:
      return "POPE F1 (random)";
    case CloudAxis::PopeF1Popular:
      return "POPE F1 (popular)";
    case CloudAxis::PopeF1Adversarial:
      return "POPE F1 (adversarial)";
    case CloudAxis::PopeYesRatio:
      return "POPE yes-ratio";
    case CloudAxis::ScienceQa:
      return "ScienceQA accuracy";
    case CloudAxis::ScienceQaImage:
      return "ScienceQA accuracy (IMG)";
    case CloudAxis::ScienceQaNoImage:
      return "ScienceQA accuracy (no image)";
    case CloudAxis::Compression:
      return "compression (sparsity)";
    case CloudAxis::Robustness:
      return "robustness (relative)";
    case CloudAxis::Utility:
      return "utility (relative)";
    case CloudAxis::Latency:
      return "latency (relative to dense)";
  }
  return "?";
}

double axis_score(CloudAxis axis, double value) {
  if (axis == CloudAxis::PopeYesRatio) return -std::abs(value - 0.5);
  return axis == CloudAxis::Latency ? -value : value;  // faster is better
}

namespace {

std::optional<double> number_at(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* at = &j;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return std::nullopt;
    at = &(*at)[key];
  }
  if (!at->is_number()) return std::nullopt;
  return at->get<double>();
}

}  // namespace

std::optional<double> axis_value(const Trial& t, CloudAxis axis) {
  if (!t.metrics) return std::nullopt;
  const auto& raw = t.metrics->raw;
  switch (axis) {
    case CloudAxis::PopeMeanF1:
      return number_at(raw, {"pope_mean_f1"});
    case CloudAxis::PopeF1Random:
      return number_at(raw, {"pope", "random", "f1"});
    case CloudAxis::PopeF1Popular:
      return number_at(raw, {"pope", "popular", "f1"});
    case CloudAxis::PopeF1Adversarial:
      return number_at(raw, {"pope", "adversarial", "f1"});
    case CloudAxis::PopeYesRatio: {
      if (!raw.contains("pope") || !raw["pope"].is_object() || raw["pope"].empty()) return std::nullopt;
      double sum = 0;
      int n = 0;
      for (const auto& [split, m] : raw["pope"].items())
        if (auto v = number_at(m, {"yes_ratio"})) sum += *v, ++n;
      if (n == 0) return std::nullopt;
      return sum / n;
    }
    case CloudAxis::ScienceQa:
      return number_at(raw, {"scienceqa", "accuracy"});
    case CloudAxis::ScienceQaImage:
      return number_at(raw, {"scienceqa", "image_accuracy"});
    case CloudAxis::ScienceQaNoImage:
      return number_at(raw, {"scienceqa", "no_image_accuracy"});
    case CloudAxis::Compression:
      return t.metrics->objectives.compression;
    case CloudAxis::Robustness:
      return t.metrics->objectives.robustness;
    case CloudAxis::Utility:
      return t.metrics->objectives.utility;
    case CloudAxis::Latency: {
      const auto own = number_at(raw, {"latency_ms"}), dense = number_at(raw, {"dense_latency_ms"});
      if (!own || !dense || *dense <= 0) return std::nullopt;
      return *own / *dense;
    }
  }
  return std::nullopt;
}

std::string origin_kind(const std::string& origin) {
  const auto colon = origin.find(':');
  return colon == std::string::npos ? origin : origin.substr(0, colon);
}

CloudData cloud_data(const std::vector<Trial>& trials, const CloudRequest& r) {
  CloudData out;
  std::vector<int64_t> ids;
  std::vector<std::string> trial_origin;
  for (const auto& t : trials) {
    if (!is_selected(t, {r.subset, {}})) continue;
    const auto kind = origin_kind(t.origin);
    if (std::find(r.hidden_kinds.begin(), r.hidden_kinds.end(), kind) != r.hidden_kinds.end()) continue;
    const auto x = axis_value(t, r.x), y = axis_value(t, r.y);
    if (!x || !y) continue;
    CloudPoint p;
    p.trial = t.id;
    p.kind = kind;
    p.x = *x;
    p.y = *y;
    p.parent = t.parent;
    p.preference = t.preference;
    if (r.colour == CloudColour::Sparsity) {
      p.colour = t.metrics->objectives.compression;
    } else {
      p.colour = t.preference ? (*t.preference)[0] : std::numeric_limits<double>::quiet_NaN();
    }
    out.points.push_back(p);
    ids.push_back(t.id);
    trial_origin.push_back(t.origin);
  }
  // The 2-D front: no other point at least as good on both axes and better
  // on one (axis_score).
  for (size_t i = 0; i < out.points.size(); ++i) {
    const auto& a = out.points[i];
    const double ax = axis_score(r.x, a.x), ay = axis_score(r.y, a.y);
    bool dominated = false;
    for (size_t j = 0; j < out.points.size() && !dominated; ++j) {
      const double bx = axis_score(r.x, out.points[j].x), by = axis_score(r.y, out.points[j].y);
      dominated = bx >= ax && by >= ay && (bx > ax || by > ay);
    }
    out.points[i].on_front = !dominated;
    if (!dominated) out.front.push_back(i);
  }
  std::sort(out.front.begin(), out.front.end(), [&](size_t a, size_t b) {
    return out.points[a].x != out.points[b].x ? out.points[a].x < out.points[b].x : out.points[a].y < out.points[b].y;
  });
  // The newest curve, in path order.
  std::vector<std::pair<int, size_t>> curve;
  for (size_t i = 0; i < out.points.size(); ++i)
    if (const auto c = curve_origin(trial_origin[i]); c && c->first >= out.curve_id) {
      if (c->first > out.curve_id) curve.clear();
      out.curve_id = c->first;
      curve.emplace_back(c->second, i);
    }
  std::sort(curve.begin(), curve.end());
  for (const auto& [k, i] : curve) out.curve.push_back(i);
  for (size_t i = 0; i < out.points.size(); ++i) {
    if (!out.points[i].parent) continue;
    const auto at = std::find(ids.begin(), ids.end(), *out.points[i].parent);
    if (at != ids.end()) out.links.emplace_back(static_cast<size_t>(at - ids.begin()), i);
  }
  return out;
}

std::string cloud_csv(const CloudData& data, const CloudRequest& r, const std::vector<Trial>& trials,
                      const std::function<std::vector<double>(int64_t plan_id)>& layer_ratios) {
  std::map<int64_t, const Trial*> by_id;
  for (const auto& t : trials) by_id[t.id] = &t;
  // The rows' layer ratios first: the header names as many columns as the widest plan has layers.
  std::vector<size_t> order = data.front;
  for (size_t i = 0; i < data.points.size(); ++i)
    if (!data.points[i].on_front) order.push_back(i);
  std::map<int64_t, std::vector<double>> ratios;
  size_t layers = 0;
  if (layer_ratios)
    for (size_t i : order)
      if (auto it = by_id.find(data.points[i].trial); it != by_id.end()) {
        ratios[it->first] = layer_ratios(it->second->plan_id);
        layers = std::max(layers, ratios[it->first].size());
      }
  std::ostringstream csv;
  csv.precision(6);
  csv << "trial,origin,\"" << axis_label(r.x) << "\",\"" << axis_label(r.y) << "\",w_rob,w_util,w_comp,on_front";
  static const std::pair<const char*, CloudAxis> kMetrics[] = {{"robustness", CloudAxis::Robustness},
                                                               {"utility", CloudAxis::Utility},
                                                               {"pope_mean_f1", CloudAxis::PopeMeanF1},
                                                               {"pope_random_f1", CloudAxis::PopeF1Random},
                                                               {"pope_popular_f1", CloudAxis::PopeF1Popular},
                                                               {"pope_adversarial_f1", CloudAxis::PopeF1Adversarial},
                                                               {"scienceqa", CloudAxis::ScienceQa},
                                                               {"scienceqa_img", CloudAxis::ScienceQaImage},
                                                               {"scienceqa_no_image", CloudAxis::ScienceQaNoImage}};
  if (!trials.empty()) {
    csv << ",subset,sparsity";
    for (const auto& [name, axis] : kMetrics) csv << "," << name;
    csv << ",parent,curve,curve_index";
    for (size_t l = 0; l < layers; ++l) csv << ",removed_layer_" << l;
  }
  csv << "\n";
  for (size_t i : order) {
    const auto& p = data.points[i];
    csv << p.trial << "," << p.kind << "," << p.x << "," << p.y << ",";
    if (p.preference) {
      csv << (*p.preference)[0] << "," << (*p.preference)[1] << "," << (*p.preference)[2];
    } else {
      csv << ",,";
    }
    csv << "," << (p.on_front ? 1 : 0);
    if (!trials.empty()) {
      auto it = by_id.find(p.trial);
      const Trial* t = it == by_id.end() ? nullptr : it->second;
      csv << "," << (t ? subset_name(t->subset) : "") << ",";
      if (t && t->metrics) csv << t->metrics->objectives.compression;
      for (const auto& [name, axis] : kMetrics) {
        csv << ",";
        if (t)
          if (auto v = axis_value(*t, axis)) csv << *v;
      }
      csv << ",";
      if (t && t->parent) csv << *t->parent;
      const auto curve = t ? curve_origin(t->origin) : std::nullopt;
      csv << ",";
      if (curve) csv << curve->first;
      csv << ",";
      if (curve) csv << curve->second;
      const auto row = ratios.find(p.trial);
      for (size_t l = 0; l < layers; ++l) {
        csv << ",";
        if (row != ratios.end() && l < row->second.size()) csv << row->second[l];
      }
    }
    csv << "\n";
  }
  return csv.str();
}

std::optional<std::pair<int64_t, int>> curve_origin(const std::string& origin) {
  const std::string prefix = "curve:";
  if (origin.rfind(prefix, 0) != 0) return std::nullopt;
  const auto colon = origin.find(':', prefix.size());
  if (colon == std::string::npos) return std::nullopt;
  try {
    size_t used = 0;
    const std::string id = origin.substr(prefix.size(), colon - prefix.size());
    const std::string k = origin.substr(colon + 1);
    const int64_t curve = std::stoll(id, &used);
    if (used != id.size()) return std::nullopt;
    const int index = std::stoi(k, &used);
    if (used != k.size() || curve <= 0 || index < 0) return std::nullopt;
    return std::make_pair(curve, index);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string curve_origin_name(int64_t curve, int index) {
  return "curve:" + std::to_string(curve) + ":" + std::to_string(index);
}

std::vector<Preference> preference_path(const Preference& from, const Preference& to, int points) {
  std::vector<Preference> out;
  const int n = std::max(points, 2);
  for (int k = 0; k < n; ++k) {
    const double t = static_cast<double>(k) / (n - 1);
    Preference w{};
    double sum = 0;
    for (size_t i = 0; i < 3; ++i) sum += w[i] = std::max(0.0, (1 - t) * from[i] + t * to[i]);
    if (sum > 0)
      for (double& v : w) v /= sum;
    out.push_back(w);
  }
  return out;
}

Preference rebalance(const Preference& w, int index, double value) {
  const size_t i = static_cast<size_t>(std::clamp(index, 0, 2));
  value = std::clamp(std::isfinite(value) ? value : 0.0, 0.0, 1.0);
  const size_t a = (i + 1) % 3, b = (i + 2) % 3;
  const double wa = std::max(0.0, w[a]), wb = std::max(0.0, w[b]);
  const double rest = 1 - value;
  Preference out{};
  out[i] = value;
  if (wa + wb <= 1e-12) {
    out[a] = out[b] = rest / 2;
  } else {
    out[a] = rest * wa / (wa + wb);
    out[b] = rest - out[a];
  }
  return out;
}

LegendCorner legend_corner(const CloudData& data, double x_lo, double x_hi, double y_lo, double y_hi,
                           bool dominated_drawn, double fraction) {
  std::vector<int> weight(data.points.size(), 0);
  for (size_t i = 0; i < data.points.size(); ++i) weight[i] = data.points[i].on_front ? 3 : dominated_drawn ? 1 : 0;
  for (size_t i : data.curve) weight.at(i) = 3;  // the curve is drawn whole
  const double wx = (x_hi - x_lo) * fraction, wy = (y_hi - y_lo) * fraction;
  int count[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < data.points.size(); ++i) {
    const auto& p = data.points[i];
    const bool left = p.x >= x_lo && p.x <= x_lo + wx, right = p.x <= x_hi && p.x >= x_hi - wx;
    const bool top = p.y <= y_hi && p.y >= y_hi - wy, bottom = p.y >= y_lo && p.y <= y_lo + wy;
    if (top && left) count[0] += weight[i];
    if (top && right) count[1] += weight[i];
    if (bottom && left) count[2] += weight[i];
    if (bottom && right) count[3] += weight[i];
  }
  int best = 0;
  for (int c = 1; c < 4; ++c)
    if (count[c] < count[best]) best = c;
  return static_cast<LegendCorner>(best);
}

}  // namespace hipp
