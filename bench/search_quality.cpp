// Search quality on a model + benchmark (the project's headline result):
//
//   bench_search MODEL_DIR BENCH_DIR [BUDGET ...] [--seeds K] [--ablations]
//                [--subset POPE_PER_SPLIT,SQA]
//
// For each evaluation budget N (default 128) and seed, a fresh study per
// method; every method spends exactly N plan evaluations on the search
// subset: HiPP (GRPO samples plus a query grid), uniform, OWL, random and
// NSGA-II. Prints the hypervolume of each method's front (mean and spread
// over seeds), HiPP's controllability (Spearman correlation between w_rob
// and the queried plan's POPE F1 at fixed s = 0.3 and 0.5) and the
// matched-sparsity table (robustness- and utility-leaning queries against
// the uniform plan at s = 0.3 and 0.5).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>
#include <unistd.h>
#include <vector>

#include <torch/torch.h>

#include "core/error.h"
#include "core/threads.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "study/pareto.h"

namespace fs = std::filesystem;
using namespace hipp;

namespace {

double method_hypervolume(StudyStore& store, const std::string& method) {
  std::vector<Objectives> points;
  for (const auto& t : store.trials()) {
    const bool mine = method == "hipp" ? (t.origin == "query" || t.origin.rfind("grpo:", 0) == 0) : t.origin == method;
    if (mine && t.metrics && t.subset == "search") points.push_back(t.metrics->objectives);
  }
  return hypervolume(points);
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * static_cast<double>(i + j);
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  const auto rx = ranks(x), ry = ranks(y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(rx.begin(), rx.end(), 0.0) / n, my = std::accumulate(ry.begin(), ry.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < rx.size(); ++i) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

std::string mean_spread(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  char text[64];
  std::snprintf(text, sizeof text, "%.4f +- %.4f", mean, v.size() > 1 ? std::sqrt(var / (n - 1)) : 0.0);
  return text;
}

struct Split {
  double f1_random = 0, f1_popular = 0, f1_adversarial = 0, sqa = 0;
};

Split split_of(const TrialMetrics& m) {
  Split s;
  const auto& pope = m.raw["pope"];
  s.f1_random = pope.contains("random") ? pope["random"].value("f1", 0.0) : 0.0;
  s.f1_popular = pope.contains("popular") ? pope["popular"].value("f1", 0.0) : 0.0;
  s.f1_adversarial = pope.contains("adversarial") ? pope["adversarial"].value("f1", 0.0) : 0.0;
  s.sqa = m.raw.contains("scienceqa") ? m.raw["scienceqa"].value("accuracy", 0.0) : 0.0;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::fprintf(stderr, "usage: bench_search MODEL_DIR BENCH_DIR [BUDGET ...] [--seeds K] [--ablations]\n");
      return 2;
    }
    use_threads(0);
    const std::string model = argv[1], bench = argv[2];
    std::vector<int> budgets;
    int seeds = 1;
    bool ablations = false;
    const SubsetOptions default_subset;
    int pope_per_split = default_subset.pope_per_split, sqa = default_subset.sqa;
    for (int i = 3; i < argc; ++i) {
      if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
        seeds = std::atoi(argv[++i]);
      } else if (std::strcmp(argv[i], "--subset") == 0 && i + 1 < argc) {
        const std::string spec = argv[++i];
        const auto comma = spec.find(',');
        if (comma == std::string::npos) throw Error("--subset needs POPE_PER_SPLIT,SQA");
        pope_per_split = std::stoi(spec.substr(0, comma));
        sqa = std::stoi(spec.substr(comma + 1));
      } else if (std::strcmp(argv[i], "--ablations") == 0) {
        ablations = true;
      } else {
        budgets.push_back(std::atoi(argv[i]));
      }
    }
    if (budgets.empty()) budgets = {128};
    const fs::path dir = fs::temp_directory_path() / ("hipp-bench-search-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    StudySettings settings;
    settings.subset.pope_per_split = pope_per_split;
    settings.subset.sqa = sqa;
    std::vector<std::string> methods{"hipp", "uniform", "owl", "random", "nsga2"};
    if (ablations)
      for (const char* a : {"hipp-no-vision", "hipp-no-gate", "hipp-flat"}) methods.push_back(a);

    std::printf("hypervolume of each method's front (search subset %d POPE per split + %d ScienceQA, reference point "
                "0,0,0), %d seed(s)\n",
                pope_per_split, sqa, seeds);
    std::printf("%-16s", "method");
    for (int n : budgets) std::printf(" %22s", ("N = " + std::to_string(n)).c_str());
    std::printf("\n");
    std::map<std::string, std::map<int, std::vector<double>>> hv;
    std::string last_hipp_study;
    for (int n : budgets)
      for (int seed = 1; seed <= seeds; ++seed)
        for (const auto& method : methods) {
          const std::string path = (dir / (method + "-" + std::to_string(n) + "-" + std::to_string(seed) + ".sqlite")).string();
          PlanEvaluator::create_study(path, model, bench, settings, {}, "");
          auto store = open_sqlite_study(path);
          PlanEvaluator evaluator(*store, {}, "");
          if (method.rfind("hipp", 0) == 0) {
            GrpoSettings g;
            g.seed = static_cast<uint64_t>(seed);
            g.vision_state = method != "hipp-no-vision";
            g.gate = method != "hipp-no-gate";
            g.hierarchical = method != "hipp-flat";
            const int per_iteration = g.group * g.prefs_per_iter;
            g.iterations = std::max(1, (n - 15) / per_iteration);
            HippTrainer trainer(evaluator, *store, g);
            trainer.train();
            int left = n - g.iterations * per_iteration;
            for (const auto& w : preference_grid(std::max(left, 1))) {
              if (left-- <= 0) break;
              evaluator.evaluate(trainer.query(w), "query", w);
            }
            if (method == "hipp") last_hipp_study = path;
          } else {
            BaselineOptions options;
            options.method = method;
            options.evaluations = n;
            options.seed = static_cast<uint64_t>(seed);
            run_baseline(evaluator, options);
          }
          // Each study holds one method's trials; HiPP's are its GRPO samples and queries.
          const std::string origin_key = method.rfind("hipp", 0) == 0 ? "hipp" : method;
          hv[method][n].push_back(method_hypervolume(*store, origin_key));
          std::fprintf(stderr, "bench_search: %s N=%d seed %d hypervolume %.4f\n", method.c_str(), n, seed,
                       hv[method][n].back());
        }
    for (const auto& method : methods) {
      std::printf("%-16s", method.c_str());
      for (int n : budgets) std::printf(" %22s", mean_spread(hv[method][n]).c_str());
      std::printf("\n");
    }

    // Controllability and matched sparsity on the last HiPP study.
    auto store = open_sqlite_study(last_hipp_study);
    PlanEvaluator evaluator(*store, {}, "");
    GrpoSettings g;
    HippTrainer trainer(evaluator, *store, g);
    std::printf("\ncontrollability (N = %d, seed %d): Spearman(w_rob, POPE mean F1) over w = (x, 1 - x, 0)\n",
                budgets.back(), seeds);
    for (double s : {0.3, 0.5}) {
      std::vector<double> x, f1;
      for (int i = 0; i <= 10; ++i) {
        const Preference w{i / 10.0, 1 - i / 10.0, 0.0};
        const auto o = evaluator.evaluate(trainer.query(w, s), "query", w);
        if (o.failed) continue;
        x.push_back(w[0]);
        f1.push_back(o.metrics.raw.value("pope_mean_f1", 0.0));
      }
      std::printf("  s = %.1f: %.3f\n", s, spearman(x, f1));
    }
    std::printf("\nmatched sparsity (search subset): POPE F1 random / popular / adversarial, ScienceQA\n");
    std::printf("%5s %-18s %8s %8s %8s %8s\n", "s", "plan", "random", "popular", "advers.", "SQA");
    for (double s : {0.3, 0.5}) {
      const auto uniform = evaluator.evaluate(evaluator.plan(s, {}, "uniform"), "uniform");
      const auto rob = evaluator.evaluate(trainer.query({1, 0, 0}, s), "query", Preference{1, 0, 0});
      const auto util = evaluator.evaluate(trainer.query({0, 1, 0}, s), "query", Preference{0, 1, 0});
      for (const auto& [name, o] : {std::pair<const char*, const EvalOutcome*>{"uniform", &uniform},
                                    {"robustness-leaning", &rob}, {"utility-leaning", &util}}) {
        const auto sp = split_of(o->metrics);
        std::printf("%5.1f %-18s %8.3f %8.3f %8.3f %8.3f\n", s, name, sp.f1_random, sp.f1_popular, sp.f1_adversarial,
                    sp.sqa);
      }
    }
    fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_search: %s\n", e.what());
    return 1;
  }
}
