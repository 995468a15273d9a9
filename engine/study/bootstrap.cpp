#include "study/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"
#include "study/pareto.h"

namespace hipp {

namespace {

// The scores of weighted questions, through the metrics every evaluation
// uses: a question drawn k times counts k times.
double f1_of(const std::string& outcomes, const std::vector<int>& weights) {
  PopeCounts c;
  for (size_t q = 0; q < outcomes.size(); ++q) {
    const int w = weights[q];
    switch (outcomes[q]) {
      case 'Y':
        c.tp += w;
        break;
      case 'y':
        c.fp += w;
        break;
      case 'N':
        c.tn += w;
        break;
      default:
        c.fn += w;
        break;
    }
  }
  return pope_metrics(c).f1;
}

double accuracy_of(const std::string& outcomes, const std::vector<int>& weights) {
  SqaCounts c;
  for (size_t q = 0; q < outcomes.size(); ++q) {
    c.total += weights[q];
    if (outcomes[q] == 'I' || outcomes[q] == 'T') c.correct += weights[q];
  }
  return sqa_metrics(c).accuracy;
}

// POPE mean F1 and ScienceQA accuracy on the weighted questions.
std::pair<double, double> raw_scores(const QuestionOutcomes& o, const std::vector<std::vector<int>>& weights) {
  double f1 = 0;
  size_t i = 0;
  for (const auto& [split, text] : o.pope) f1 += f1_of(text, weights[i++]);
  const double mean_f1 = o.pope.empty() ? 0 : f1 / static_cast<double>(o.pope.size());
  return {mean_f1, accuracy_of(o.sqa, weights[i])};
}

void check_covers(const QuestionOutcomes& plan, const QuestionOutcomes& dense, const std::string& method) {
  bool same = plan.pope.size() == dense.pope.size() && plan.sqa.size() == dense.sqa.size();
  for (auto a = plan.pope.begin(), b = dense.pope.begin(); same && a != plan.pope.end(); ++a, ++b)
    same = a->first == b->first && a->second.size() == b->second.size();
  // Unknown characters (a damaged record) are refused here, not read as answers.
  for (const auto& [split, text] : plan.pope) pope_counts_of(text);
  sqa_counts_of(plan.sqa);
  if (!same)
    throw Error("bootstrap: a plan of " + method +
                " was scored on other questions than the dense model (or before outcomes were kept): " +
                std::to_string(plan.sqa.size()) + " ScienceQA outcomes against " + std::to_string(dense.sqa.size()));
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

}  // namespace

Objectives weighted_objectives(const OutcomePlan& plan, const QuestionOutcomes& dense,
                               const std::vector<std::vector<int>>& weights) {
  const auto [f1, sqa] = raw_scores(plan.outcomes, weights);
  const auto [dense_f1, dense_sqa] = raw_scores(dense, weights);
  Objectives o;
  o.robustness = dense_f1 > 0 ? f1 / dense_f1 : f1;
  o.utility = dense_sqa > 0 ? sqa / dense_sqa : sqa;
  o.compression = plan.compression;
  return o;
}

BootstrapReport bootstrap_hypervolumes(const QuestionOutcomes& dense, const std::vector<MethodOutcomes>& methods,
                                       const BootstrapOptions& options) {
  if (options.resamples < 1) throw Error("bootstrap: at least one resample is needed");
  if (!(options.level > 0 && options.level < 1)) throw Error("bootstrap: the interval's level must be in (0, 1)");
  if (dense.empty())
    throw Error("bootstrap: the dense model's outcomes are missing (a study made before they were kept)");
  for (const auto& m : methods)
    for (const auto& p : m.plans) check_covers(p.outcomes, dense, m.name);

  std::vector<size_t> sizes;
  for (const auto& [split, text] : dense.pope) sizes.push_back(text.size());
  sizes.push_back(dense.sqa.size());
  auto hypervolumes = [&](const std::vector<std::vector<int>>& weights) {
    std::vector<double> hv;
    for (const auto& m : methods) {
      std::vector<Objectives> points;
      for (const auto& p : m.plans) points.push_back(weighted_objectives(p, dense, weights));
      hv.push_back(hypervolume(points));
    }
    return hv;
  };

  std::vector<std::vector<int>> weights;
  for (size_t n : sizes) weights.emplace_back(n, 1);
  const auto estimate = hypervolumes(weights);

  std::mt19937_64 random(options.seed);
  std::vector<std::vector<double>> samples(methods.size());
  for (int r = 0; r < options.resamples; ++r) {
    for (size_t g = 0; g < sizes.size(); ++g) {
      std::fill(weights[g].begin(), weights[g].end(), 0);
      if (sizes[g] == 0) continue;
      std::uniform_int_distribution<size_t> pick(0, sizes[g] - 1);
      for (size_t q = 0; q < sizes[g]; ++q) ++weights[g][pick(random)];
    }
    const auto hv = hypervolumes(weights);
    for (size_t m = 0; m < methods.size(); ++m) samples[m].push_back(hv[m]);
  }

  const double tail = (1 - options.level) / 2;
  BootstrapReport report;
  report.resamples = options.resamples;
  for (size_t m = 0; m < methods.size(); ++m)
    report.hypervolume.push_back({estimate[m], percentile(samples[m], tail), percentile(samples[m], 1 - tail)});
  for (size_t m = 1; m < methods.size(); ++m) {
    std::vector<double> diff;
    int ahead = 0;
    for (int r = 0; r < options.resamples; ++r) {
      diff.push_back(samples[0][r] - samples[m][r]);
      ahead += samples[0][r] > samples[m][r];
    }
    report.versus_first.push_back({methods[0].name,
                                   methods[m].name,
                                   {estimate[0] - estimate[m], percentile(diff, tail), percentile(diff, 1 - tail)},
                                   static_cast<double>(ahead) / options.resamples});
  }
  return report;
}

}  // namespace hipp
