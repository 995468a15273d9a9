// Search quality on a model + benchmark (the project's headline result):
//
//   bench_search MODEL_DIR BENCH_DIR [BUDGET ...] [--seeds K] [--first-seed K]
//                [--ablations] [--methods a,b,...] [--subset POPE_PER_SPLIT,SQA]
//                [--group G] [--prefs-per-iter B] [--lr X] [--epochs MU]
//                [--query fixed|free] [--query-share X] [--query-sides LIST]
//                [--objective-scale S]
//                [--stability-reference absolute|uniform] [--device cpu|cuda]
//                [--threads N] [--rows FILE] [--matched-full] [--heldout]
//                [--bootstrap B]
//   bench_search --combine FILE ...
//
// HiPP runs with `hipp-prune train`'s defaults (G = 4, B = 2, lr = 3e-3,
// relabelled and replayed groups, preference products; METHOD.md's other
// settings) and half its budget on a fixed-sparsity query
// grid, unless --group/--prefs-per-iter/--lr/--epochs/--query/--query-share
// say otherwise; the method `hipp-defaults` (its name from when these were
// train's defaults) runs METHOD.md's settings, G = 8, B = 4, lr = 3e-4
// (`train --large-groups`), with a free query grid of at least 15
// preferences, as `train` queries. Its budget left after training goes to a
// query grid: `free` queries preferences over the simplex (the budget head
// picks s), `fixed` queries robustness- and utility-leaning preferences at
// sparsities spread evenly over the study's range (only the allocation is
// the policy's), taking the robustness weights of --query-sides in turn
// (default 0.8,0.2: w = (0.8, 0.2, 0) and (0.2, 0.8, 0)). --rows appends one line per (method, budget, seed) to FILE;
// --combine prints the table of several such files (runs split over
// processes or machines).
//
// For each evaluation budget N (default 128) and seed, a fresh study per
// method; every method spends exactly N plan evaluations on the search
// subset: HiPP (GRPO samples plus a query grid), uniform, OWL, random and
// NSGA-II. Prints the hypervolume of each method's front (mean and spread
// over seeds), HiPP's controllability (Spearman correlation between w_rob
// and the queried plan's POPE F1 at fixed s = 0.3 and 0.5) and the
// matched-sparsity table (robustness- and utility-leaning queries against
// the uniform plan at s = 0.3, 0.5 and 0.7; --matched-full scores them on the
// full test sets too). --heldout re-scores each method's front on the full
// test sets and prints the hypervolume those plans keep there. --bootstrap B
// draws the search subset's questions again B times (paired: every method's
// plans and the dense model on the same draw) and prints, for each budget
// and seed, each method's hypervolume with its 95% interval and the first
// method's lead over each other one with its interval and the share of
// draws it leads in: whether a difference is more than the questions drawn.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <numeric>
#include <string>
#include <tuple>
#include <unistd.h>
#include <vector>

#include <torch/torch.h>

#include "core/error.h"
#include "core/rank_correlation.h"
#include "core/threads.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "study/bootstrap.h"
#include "model/checkpoint.h"
#include "study/pareto.h"
#include "study/selection.h"

namespace fs = std::filesystem;
using namespace hipp;

namespace {

// The trials a method's front is made of: its search-subset trials (HiPP's
// are its GRPO samples and queries).
std::vector<Trial> method_trials(StudyStore& store, const std::string& method) {
  return select_trials(store.trials(), {Subset::Search, method == "hipp" ? policy_origins() : std::vector{method}});
}

double method_hypervolume(StudyStore& store, const std::string& method) {
  std::vector<Objectives> points;
  for (const auto& t : method_trials(store, method)) points.push_back(t.metrics->objectives);
  return hypervolume(points);
}

// The method's search-subset front re-scored on the full test sets: the
// hypervolume of those plans' full-set objectives (how much of the front
// holds on questions the search never saw).
double heldout_hypervolume(StudyStore& store, PlanEvaluator& evaluator, const std::string& method) {
  const auto mine = method_trials(store, method);
  std::vector<Objectives> points;
  for (const auto& t : mine) points.push_back(t.metrics->objectives);
  std::vector<Objectives> full;
  for (size_t i : non_dominated(points)) {
    const auto plan = store.plan(mine[i].plan_id);
    const auto blueprint = blueprint_from_json(plan->blueprint, "study plan " + plan->hash);
    const auto o = evaluator.evaluate(blueprint, mine[i].origin, mine[i].preference, Subset::Full);
    if (!o.failed) full.push_back(o.metrics.objectives);
  }
  return hypervolume(full);
}

// A method's search-subset plans with what each said on every question.
MethodOutcomes method_outcomes(StudyStore& store, const std::string& method, const std::string& name) {
  MethodOutcomes m{name, {}};
  for (const auto& t : method_trials(store, method)) {
    const auto result = result_from_json(t.metrics->raw);
    m.plans.push_back({result.outcomes, t.metrics->objectives.compression});
  }
  return m;
}

void print_bootstrap(const BootstrapReport& report, const std::vector<MethodOutcomes>& methods, int n, int seed) {
  std::printf("\nbootstrap over the search subset's questions (N = %d, seed %d, %d draws, 95%% intervals)\n", n, seed,
              report.resamples);
  for (size_t m = 0; m < methods.size(); ++m) {
    const auto& h = report.hypervolume[m];
    std::printf("  %-16s hypervolume %.4f  [%.4f, %.4f]\n", methods[m].name.c_str(), h.estimate, h.low, h.high);
  }
  for (const auto& c : report.versus_first)
    std::printf("  %s - %-16s %+.4f  [%+.4f, %+.4f]  ahead in %.1f%% of draws\n", c.first.c_str(), c.other.c_str(),
                c.difference.estimate, c.difference.low, c.difference.high, 100 * c.share_ahead);
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

namespace {

using Table = std::map<std::string, std::map<int, std::vector<double>>>;

void print_table(const Table& hv, const std::vector<std::string>& methods, const std::vector<int>& budgets) {
  std::printf("%-16s", "method");
  for (int n : budgets) std::printf(" %22s", ("N = " + std::to_string(n)).c_str());
  std::printf("\n");
  for (const auto& method : methods) {
    std::printf("%-16s", method.c_str());
    for (int n : budgets) {
      const auto m = hv.find(method);
      const bool has = m != hv.end() && m->second.count(n) && !m->second.at(n).empty();
      std::printf(
          " %22s",
          has ? (mean_spread(m->second.at(n)) + " (" + std::to_string(m->second.at(n).size()) + ")").c_str() : "-");
    }
    std::printf("\n");
  }
}

// Rows written by --rows: "method budget seed hypervolume".
int combine(int argc, char** argv, int first) {
  Table hv;
  std::vector<std::string> methods;
  std::vector<int> budgets;
  for (int i = first; i < argc; ++i) {
    std::ifstream in(argv[i]);
    if (!in) throw Error(std::string("cannot read ") + argv[i]);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string method;
      int n = 0, seed = 0;
      double value = 0;
      if (!(fields >> method >> n >> seed >> value))
        throw Error(std::string(argv[i]) + ":" + std::to_string(number) +
                    ": expected 'method budget seed hypervolume'");
      if (std::find(methods.begin(), methods.end(), method) == methods.end()) methods.push_back(method);
      if (std::find(budgets.begin(), budgets.end(), n) == budgets.end()) budgets.push_back(n);
      hv[method][n].push_back(value);
    }
  }
  std::sort(budgets.begin(), budgets.end());
  // The usual order: HiPP, the baselines, the ablations, then anything else.
  const std::vector<std::string> order{"hipp",  "hipp-defaults",  "uniform",      "owl",      "random",
                                       "nsga2", "hipp-no-vision", "hipp-no-gate", "hipp-flat"};
  const auto rank = [&](const std::string& m) { return std::find(order.begin(), order.end(), m) - order.begin(); };
  std::stable_sort(methods.begin(), methods.end(),
                   [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
  std::printf("hypervolume of each method's front, mean +- sd (runs)\n");
  print_table(hv, methods, budgets);
  return 0;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 2 && std::strcmp(argv[1], "--combine") == 0) return combine(argc, argv, 2);
    if (argc < 3) {
      std::fprintf(stderr,
                   "usage: bench_search MODEL_DIR BENCH_DIR [BUDGET ...] [--seeds K] [--first-seed K]\n"
                   "         [--ablations] [--methods a,b,...] [--subset POPE_PER_SPLIT,SQA]\n"
                   "         [--group G] [--prefs-per-iter B] [--lr X] [--epochs MU]\n"
                   "         [--query fixed|free] [--query-share X] [--query-sides LIST]\n"
                   "         [--objective-scale spread|dense]\n"
                   "         [--stability-reference absolute|uniform]\n"
                   "         [--device cpu|cuda] [--threads N]\n"
                   "         [--rows FILE] [--matched-full] [--heldout] [--bootstrap B]\n"
                   "       bench_search --combine FILE ...\n");
      return 2;
    }
    use_threads(0);
    const std::string model = argv[1], bench = argv[2];
    std::vector<int> budgets;
    int seeds = 1, first_seed = 1;
    bool ablations = false;
    std::vector<std::string> methods{"hipp", "uniform", "owl", "random", "nsga2"};
    const SubsetOptions default_subset;
    int pope_per_split = default_subset.pope_per_split, sqa = default_subset.sqa;
    // The bench's HiPP: smaller groups and a larger step than METHOD.md's
    // defaults (more and larger policy updates for a budget of a few hundred
    // plans), half the budget on queries at fixed sparsities (docs/policy.md).
    GrpoSettings hipp_settings = small_budget_grpo_settings();
    std::string query_mode = "fixed", rows_path;
    double query_share = 0.5;                   // 0: at least 15 queries, the rest trains
    std::vector<double> query_sides{0.8, 0.2};  // w_rob of the fixed grid's preferences, in turn
    bool sides_given = false;
    bool matched_full = false, heldout = false, scale_given = false;
    int bootstrap = 0;
    LoadOptions load;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      const bool value = i + 1 < argc;
      if (a == "--seeds" && value) {
        seeds = std::stoi(argv[++i]);
      } else if (a == "--first-seed" && value) {
        first_seed = std::stoi(argv[++i]);
      } else if (a == "--subset" && value) {
        const std::string spec = argv[++i];
        const auto comma = spec.find(',');
        if (comma == std::string::npos) throw Error("--subset needs POPE_PER_SPLIT,SQA");
        pope_per_split = std::stoi(spec.substr(0, comma));
        sqa = std::stoi(spec.substr(comma + 1));
      } else if (a == "--bootstrap" && value) {
        bootstrap = std::stoi(argv[++i]);
        if (bootstrap < 1) throw Error("--bootstrap needs a number of draws, at least 1");
      } else if (a == "--heldout") {
        heldout = true;
      } else if (a == "--matched-full") {
        matched_full = true;
      } else if (a == "--ablations") {
        ablations = true;
      } else if (a == "--methods" && value) {
        methods = split_list(argv[++i]);
      } else if (a == "--group" && value) {
        hipp_settings.group = std::stoi(argv[++i]);
      } else if (a == "--prefs-per-iter" && value) {
        hipp_settings.prefs_per_iter = std::stoi(argv[++i]);
      } else if (a == "--lr" && value) {
        hipp_settings.lr = std::stod(argv[++i]);
      } else if (a == "--epochs" && value) {
        hipp_settings.epochs = std::stoi(argv[++i]);
      } else if (a == "--objective-scale" && value) {
        const std::string scale = argv[++i];
        if (scale != "spread" && scale != "dense") throw Error("--objective-scale must be spread or dense");
        hipp_settings.spread_scaled = scale == "spread";
        scale_given = true;
      } else if (a == "--stability-reference" && value) {
        hipp_settings.stability_reference = parse_stability_reference(argv[++i], "--stability-reference");
      } else if (a == "--query" && value) {
        query_mode = argv[++i];
        if (query_mode != "fixed" && query_mode != "free") throw Error("--query must be fixed or free");
      } else if (a == "--query-share" && value) {
        query_share = std::stod(argv[++i]);
        if (!(query_share >= 0 && query_share < 1)) throw Error("--query-share must be in [0, 1)");
      } else if (a == "--query-sides" && value) {
        sides_given = true;
        query_sides.clear();
        for (const auto& x : split_list(argv[++i])) {
          const double w = std::stod(x);
          if (!(w >= 0 && w <= 1)) throw Error("--query-sides takes robustness weights in [0, 1]");
          query_sides.push_back(w);
        }
        if (query_sides.empty()) throw Error("--query-sides needs at least one weight");
      } else if (a == "--device" && value) {
        load.device = parse_device(argv[++i]);
      } else if (a == "--threads" && value) {
        use_threads(std::stoi(argv[++i]));
      } else if (a == "--rows" && value) {
        rows_path = argv[++i];
      } else if (!a.empty() && a[0] != '-' && std::atoi(a.c_str()) > 0) {
        budgets.push_back(std::atoi(a.c_str()));
      } else {
        throw Error("unknown argument '" + a + "'");
      }
    }
    if (sides_given && query_mode != "fixed")
      throw Error("--query-sides sets the fixed query grid's preferences; --query free has none");
    if (budgets.empty()) budgets = {128};
    if (seeds < 1) throw Error("--seeds must be at least 1");
    if (ablations)
      for (const char* a : {"hipp-no-vision", "hipp-no-gate", "hipp-flat"}) methods.push_back(a);
    for (const auto& m : methods)
      if (m.rfind("hipp", 0) != 0 &&
          std::find(baseline_methods().begin(), baseline_methods().end(), m) == baseline_methods().end())
        throw Error("unknown method '" + m + "'");
    const fs::path dir = fs::temp_directory_path() / ("hipp-bench-search-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    StudySettings settings;
    settings.subset.pope_per_split = pope_per_split;
    settings.subset.sqa = sqa;
    std::FILE* rows = nullptr;
    if (!rows_path.empty()) {
      rows = std::fopen(rows_path.c_str(), "a");
      if (!rows) throw Error("cannot write " + rows_path);
    }

    std::printf(
        "hypervolume of each method's front (search subset %d POPE per split + %d ScienceQA, "
        "reference point "
        "0,0,0), seeds %d..%d\n",
        pope_per_split, sqa, first_seed, first_seed + seeds - 1);
    std::printf("HiPP: G = %d, B = %d, lr = %g, mu = %d, objectives weighed by %s, query grid %s, query share %s\n",
                hipp_settings.group, hipp_settings.prefs_per_iter, hipp_settings.lr, hipp_settings.epochs,
                hipp_settings.spread_scaled ? "their spread" : "the dense model", query_mode.c_str(),
                query_share > 0 ? std::to_string(query_share).c_str() : "15 or more");
    if (query_mode == "fixed") {
      std::printf("HiPP's fixed query grid takes w = (x, 1 - x, 0) in turn for x =");
      for (double x : query_sides) std::printf(" %.2f", x);
      std::printf("\n");
    }
    Table hv, heldout_hv;
    std::string last_hipp_study;
    for (int n : budgets)
      for (int seed = first_seed; seed < first_seed + seeds; ++seed) {
        std::vector<MethodOutcomes> outcomes;
        QuestionOutcomes dense_outcomes;
        for (const auto& method : methods) {
          const std::string path =
              (dir / (method + "-" + std::to_string(n) + "-" + std::to_string(seed) + ".sqlite")).string();
          create_study(path, model, bench, settings, load, "");
          auto store = open_study_store(path);
          StudySession session(*store, load, "");
          PlanEvaluator evaluator(session);
          if (method.rfind("hipp", 0) == 0) {
            // hipp-defaults: METHOD.md's settings (`train --large-groups`)
            // and a free query grid of at least 15, as `train` queries.
            const bool defaults = method == "hipp-defaults";
            GrpoSettings g = defaults ? GrpoSettings{} : hipp_settings;
            if (defaults && scale_given) g.spread_scaled = hipp_settings.spread_scaled;
            g.seed = static_cast<uint64_t>(seed);
            g.vision_state = method != "hipp-no-vision";
            g.gate = method != "hipp-no-gate";
            g.hierarchical = method != "hipp-flat";
            const int per_iteration = g.group * g.prefs_per_iter;
            const int queries = query_share > 0 && !defaults ? static_cast<int>(std::lround(query_share * n)) : 15;
            g.iterations = std::max(1, (n - queries) / per_iteration);
            HippTrainer trainer(evaluator, *store, g);
            trainer.train();
            int left = n - g.iterations * per_iteration;
            if (query_mode == "fixed" && !defaults) {
              // Robustness- and utility-leaning preferences at sparsities spread over the range.
              const auto& st = session.settings();
              for (int k = 0; k < left; ++k) {
                const double s = st.s_min + (st.s_max - st.s_min) * (k + 0.5) / left;
                const double x = query_sides[static_cast<size_t>(k) % query_sides.size()];
                const Preference w{x, 1.0 - x, 0.0};
                evaluator.evaluate(trainer.query(w, s), "query", w);
              }
            } else {
              for (const auto& w : preference_grid(std::max(left, 1))) {
                if (left-- <= 0) break;
                evaluator.evaluate(trainer.query(w), "query", w);
              }
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
          if (bootstrap > 0) {
            outcomes.push_back(method_outcomes(*store, origin_key, method));
            const auto dense = result_from_json(store->study().dense.at(subset_name(Subset::Search))).outcomes;
            if (!dense_outcomes.empty() && (dense.sqa != dense_outcomes.sqa || dense.pope != dense_outcomes.pope))
              throw Error("bootstrap: the dense model answered differently in " + method + "'s study");
            dense_outcomes = dense;
          }
          if (heldout) heldout_hv[method][n].push_back(heldout_hypervolume(*store, evaluator, origin_key));
          std::fprintf(stderr, "bench_search: %s N=%d seed %d hypervolume %.4f\n", method.c_str(), n, seed,
                       hv[method][n].back());
          if (rows) {
            std::fprintf(rows, "%s %d %d %.6f\n", method.c_str(), n, seed, hv[method][n].back());
            if (heldout)
              std::fprintf(rows, "%s-heldout %d %d %.6f\n", method.c_str(), n, seed, heldout_hv[method][n].back());
            std::fflush(rows);
          }
        }
        if (bootstrap > 0) {
          BootstrapOptions options;
          options.resamples = bootstrap;
          options.seed = static_cast<uint64_t>(seed);
          print_bootstrap(bootstrap_hypervolumes(dense_outcomes, outcomes, options), outcomes, n, seed);
        }
      }
    print_table(hv, methods, budgets);
    if (heldout) {
      std::printf(
          "\nthe same fronts re-scored on the full test sets (hypervolume of their full-set "
          "objectives)\n");
      print_table(heldout_hv, methods, budgets);
    }

    if (!last_hipp_study.empty()) {
      // Controllability and matched sparsity on the last HiPP study.
      auto store = open_study_store(last_hipp_study);
      StudySession session(*store, load, "");
      PlanEvaluator evaluator(session);
      GrpoSettings g;
      g.iterations = 0;
      HippTrainer trainer(evaluator, *store, g);
      std::printf(
          "\ncontrollability (N = %d, seed %d): Spearman(w_rob, POPE mean F1) over w = (x, 1 - x, "
          "0)\n",
          budgets.back(), first_seed + seeds - 1);
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
      for (const Subset subset : {Subset::Search, Subset::Full}) {
        if (subset == Subset::Full && !matched_full) break;
        std::printf("\nmatched sparsity (%s): POPE F1 random / popular / adversarial, ScienceQA\n",
                    subset == Subset::Full ? "full test sets" : "search subset");
        std::printf("%5s %-18s %8s %8s %8s %8s  %s\n", "s", "plan", "random", "popular", "advers.", "SQA",
                    "layer ratios");
        for (double s : {0.3, 0.5, 0.7}) {
          const auto uniform_plan = session.plan(s, {}, "uniform");
          const auto rob_plan = trainer.query({1, 0, 0}, s), util_plan = trainer.query({0, 1, 0}, s);
          const auto uniform = evaluator.evaluate(uniform_plan, "uniform", std::nullopt, subset);
          const auto rob = evaluator.evaluate(rob_plan, "query", Preference{1, 0, 0}, subset);
          const auto util = evaluator.evaluate(util_plan, "query", Preference{0, 1, 0}, subset);
          for (const auto& [name, o, plan] :
               {std::tuple<const char*, const EvalOutcome*, const Blueprint*>{"uniform", &uniform, &uniform_plan},
                {"robustness-leaning", &rob, &rob_plan},
                {"utility-leaning", &util, &util_plan}}) {
            const auto sp = split_of(o->metrics);
            std::string ratios;
            for (size_t l = 0; l < plan->layers(); ++l) {
              char t[16];
              std::snprintf(t, sizeof t, "%s%.2f", l ? " " : "", plan->ratio(l));
              ratios += t;
            }
            std::printf("%5.1f %-18s %8.3f %8.3f %8.3f %8.3f  %s\n", s, name, sp.f1_random, sp.f1_popular,
                        sp.f1_adversarial, sp.sqa, ratios.c_str());
          }
        }
      }
      std::printf("\nqueried plans (no fixed sparsity): preference -> s, layer ratios\n");
      for (const auto& w : {Preference{1, 0, 0}, Preference{0, 1, 0}, Preference{0, 0, 1}, Preference{0.5, 0.5, 0},
                            Preference{1.0 / 3, 1.0 / 3, 1.0 / 3}}) {
        const auto plan = trainer.query(w);
        std::printf("  (%.2f, %.2f, %.2f) -> s %.3f,", w[0], w[1], w[2], plan.sparsity);
        for (size_t l = 0; l < plan.layers(); ++l) std::printf(" %.2f", plan.ratio(l));
        std::printf("\n");
      }
    }
    if (rows) std::fclose(rows);
    fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_search: %s\n", e.what());
    return 1;
  }
}
