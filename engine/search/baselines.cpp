#include "search/baselines.h"

#include <cmath>
#include <memory>
#include <random>

#include <pagmo/algorithms/nsga2.hpp>
#include <pagmo/batch_evaluators/member_bfe.hpp>
#include <pagmo/bfe.hpp>
#include <pagmo/population.hpp>
#include <pagmo/problem.hpp>

#include "core/error.h"
#include "prune/budget.h"

namespace hipp {

const std::vector<std::string>& baseline_methods() {
  static const std::vector<std::string> methods{"uniform", "owl", "random", "nsga2"};
  return methods;
}

namespace {

// A plan of a baseline: sparsity and allocation.
struct Draw {
  double s = 0;
  std::vector<double> allocation;
};

struct Run {
  PlanEvaluator* evaluator = nullptr;
  const BaselineOptions* options = nullptr;
  std::vector<EvalOutcome> outcomes;

  // Evaluates a batch of plans (all at once, so that workers can share it),
  // each recorded as a trial of the method. Planning cannot fail here: every
  // allocation entry is positive, so the budget mapping reaches any s below
  // r_max.
  std::vector<EvalOutcome> evaluate(const std::vector<Draw>& draws, const std::string& source) {
    std::vector<PlanJob> jobs;
    for (const auto& d : draws)
      jobs.push_back(
          {evaluator->session().plan(d.s, d.allocation, source), options->method, std::nullopt, Subset::Search});
    const int before = static_cast<int>(outcomes.size());
    auto batch = evaluator->evaluate_batch(jobs, [&](size_t i, const EvalOutcome& o) {
      if (options->progress) options->progress(before + static_cast<int>(i) + 1, options->evaluations, o);
    });
    outcomes.insert(outcomes.end(), batch.begin(), batch.end());
    return batch;
  }
};

std::vector<double> grid(double lo, double hi, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(n == 1 ? 0.5 * (lo + hi) : lo + (hi - lo) * i / (n - 1));
  return out;
}

std::vector<double> dirichlet_ones(std::mt19937_64& random, size_t n) {
  std::gamma_distribution<double> gamma(1.0, 1.0);
  std::vector<double> w(n);
  for (auto& x : w) x = std::max(gamma(random), 1e-9);
  return normalise_allocation(w);
}

// The NSGA-II problem: x = (s, w_1..w_L), allocation = w / sum(w); pagmo
// minimises, so the objectives are negated; a failed plan scores 0 in all.
struct PlanProblem {
  std::shared_ptr<Run> run;
  double s_min = 0, s_max = 0;
  size_t layers = 0;

  pagmo::vector_double fitness(const pagmo::vector_double& x) const { return batch_fitness(x); }
  // Every individual of a generation at once: one batch of evaluations.
  pagmo::vector_double batch_fitness(const pagmo::vector_double& xs) const {
    const size_t n = layers + 1;
    std::vector<Draw> draws;
    for (size_t start = 0; start + n <= xs.size(); start += n) {
      std::vector<double> weights(xs.begin() + static_cast<std::ptrdiff_t>(start + 1),
                                  xs.begin() + static_cast<std::ptrdiff_t>(start + n));
      draws.push_back({xs[start], normalise_allocation(weights)});
    }
    pagmo::vector_double out;
    for (const auto& outcome : run->evaluate(draws, "nsga2")) {
      if (outcome.failed) {
        out.insert(out.end(), {0.0, 0.0, 0.0});
        continue;
      }
      const auto& o = outcome.metrics.objectives;
      out.insert(out.end(), {-o.robustness, -o.utility, -o.compression});
    }
    return out;
  }
  bool has_batch_fitness() const { return true; }
  std::pair<pagmo::vector_double, pagmo::vector_double> get_bounds() const {
    pagmo::vector_double lo(layers + 1, 0.01), hi(layers + 1, 1.0);
    lo[0] = s_min;
    hi[0] = s_max;
    return {lo, hi};
  }
  pagmo::vector_double::size_type get_nobj() const { return 3; }
  std::string get_name() const { return "hipp plan"; }
};

}  // namespace

std::vector<EvalOutcome> run_baseline(PlanEvaluator& evaluator, const BaselineOptions& options) {
  const auto& methods = baseline_methods();
  if (std::find(methods.begin(), methods.end(), options.method) == methods.end())
    throw Error("unknown baseline '" + options.method + "' (uniform, owl, random or nsga2)");
  if (options.evaluations < 1) throw Error("a baseline needs at least one evaluation");
  auto run = std::make_shared<Run>();
  run->evaluator = &evaluator;
  run->options = &options;
  const auto& st = evaluator.session().settings();
  const size_t L = evaluator.session().layers();
  const int n = options.evaluations;
  std::mt19937_64 random(options.seed);

  if (options.method == "uniform" || options.method == "owl") {
    std::vector<Draw> draws;
    for (double s : grid(st.s_min, st.s_max, n))
      draws.push_back({s, options.method == "uniform" ? uniform_allocation(L)
                                                      : owl_allocation(evaluator.session().outlier_ratios(), s)});
    run->evaluate(draws, options.method);
  } else if (options.method == "random") {
    std::uniform_real_distribution<double> sparsity(st.s_min, st.s_max);
    std::vector<Draw> draws;
    for (int i = 0; i < n; ++i) {
      const double s = sparsity(random);
      draws.push_back({s, dirichlet_ones(random, L)});
    }
    run->evaluate(draws, "random");
  } else {
    // Population a multiple of 4 (NSGA-II's requirement) near sqrt(n), at
    // least 8; generations to spend the rest; the remainder drawn at random.
    int population = std::max(8, 4 * static_cast<int>(std::lround(std::sqrt(static_cast<double>(n)) / 4.0)));
    int generations = n / population - 1;
    if (generations >= 1) {
      PlanProblem udp{run, st.s_min, st.s_max, L};
      pagmo::problem problem(udp);
      // Generations are scored as batches (pagmo's batch fitness evaluation).
      const pagmo::bfe batch{pagmo::member_bfe{}};
      pagmo::population pop(problem, batch, static_cast<pagmo::population::size_type>(population),
                            static_cast<unsigned>(options.seed));
      pagmo::nsga2 nsga2(static_cast<unsigned>(generations), 0.95, 10.0, 1.0 / static_cast<double>(L + 1), 50.0,
                         static_cast<unsigned>(options.seed));
      nsga2.set_bfe(batch);
      pagmo::algorithm algorithm(nsga2);
      algorithm.evolve(pop);
    }
    std::uniform_real_distribution<double> sparsity(st.s_min, st.s_max);
    std::vector<Draw> rest;
    while (static_cast<int>(run->outcomes.size() + rest.size()) < n) {
      const double s = sparsity(random);
      rest.push_back({s, dirichlet_ones(random, L)});
    }
    if (!rest.empty()) run->evaluate(rest, "nsga2");
  }
  if (static_cast<int>(run->outcomes.size()) != n)
    throw Error("internal: baseline " + options.method + " spent " + std::to_string(run->outcomes.size()) +
                " evaluations instead of " + std::to_string(n));
  return std::move(run->outcomes);
}

}  // namespace hipp
