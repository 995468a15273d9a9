// What one trained policy saves (docs/policy.md, "Amortisation"): for
// preferences the policy was not trained on, its plan (one query, no
// evaluation) against the best plan a dedicated random search of N plan
// evaluations finds for the same preference, both scored on the study's
// search subset by the scalarised return w . o (objectives over the dense
// model's, as the study stores them).
//
//   bench_amortisation STUDY [--run NAME] [--prefs K] [--random-evals N]
//                      [--seed S] [--min-distance D] [--scratch FILE] [--threads N]
//
// The study is only read: the bench copies its record and the run's policy
// into an in-memory study and evaluates there. The K preferences are drawn
// from Dir(1, 1, 1) (seeded by --seed) and kept only when they lie at least
// D (L1, default 0.05) from every preference the run trained on; each gets
// its own random search (Dir(1, ..., 1) allocations, s uniform on the study's
// range; seed S * 1000 + k). Prints, per preference, the policy's plan
// (sparsity, query time), its return, the best random plan's sparsity and
// return, and their ratio; then the same two plans under the return GRPO
// trains on, w . o + lambda_stab * log(rho_geo) (rho_geo over the uniform
// plan's at the same sparsity when the run's stability reference is
// uniform or it ends with a budget polish; the random plan best by that
// return), and that ratio; then the best w . o among the plans the study already
// holds (what the run's own search found for w); then the mean and the
// smallest ratio.
//
// --scratch FILE keeps the bench's evaluations in FILE (a study file made
// from the study's record on first use) instead of memory. The random plans
// depend only on --seed and the preference's index, not on the policy, so a
// second bench of another run of an equal study (same model, benchmark,
// subset and settings, e.g. a fresh copy trained differently) finds them
// scored and costs only the policy's ten plans.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "study/selection.h"

using namespace hipp;

namespace {

// w . o: the return without its stability term.
double scalarised(const Preference& w, const Objectives& o) { return plan_return(w, o, 1.0, 0.0); }

double l1(const Preference& a, const Preference& b) {
  return std::fabs(a[0] - b[0]) + std::fabs(a[1] - b[1]) + std::fabs(a[2] - b[2]);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr,
                   "usage: bench_amortisation STUDY [--run NAME] [--prefs K] [--random-evals N] [--seed S]\n"
                   "                          [--min-distance D] [--scratch FILE] [--threads N]\n");
      return 2;
    }
    use_threads(0);
    const std::string study_path = argv[1];
    std::string run = "hipp", scratch;
    int prefs = 10, random_evals = 64;
    uint64_t seed = 1;
    double min_distance = 0.05;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      const bool value = i + 1 < argc;
      if (a == "--run" && value) {
        run = argv[++i];
      } else if (a == "--prefs" && value) {
        prefs = std::stoi(argv[++i]);
      } else if (a == "--random-evals" && value) {
        random_evals = std::stoi(argv[++i]);
      } else if (a == "--seed" && value) {
        seed = std::stoull(argv[++i]);
      } else if (a == "--min-distance" && value) {
        min_distance = std::stod(argv[++i]);
      } else if (a == "--scratch" && value) {
        scratch = argv[++i];
      } else if (a == "--threads" && value) {
        use_threads(std::stoi(argv[++i]));
      } else {
        throw Error("unknown argument '" + a + "'");
      }
    }
    if (prefs < 1 || random_evals < 1) throw Error("--prefs and --random-evals must be at least 1");

    // The user's study stays untouched: its record and the run's policy go
    // into a study in memory, where every evaluation of this bench lands.
    auto source = open_study_store(study_path, true);
    if (!study_has_policy(*source, run)) throw Error(study_path + " has no trained policy run '" + run + "'");
    std::vector<Preference> trained;
    for (const auto& t : source->trials())
      if (origin_matches(t.origin, "grpo") && t.preference &&
          std::find(trained.begin(), trained.end(), *t.preference) == trained.end())
        trained.push_back(*t.preference);
    // What the run's own study holds: every scored plan on the search subset.
    const auto known = objectives_of(select_trials(source->trials(), {Subset::Search, {}}));
    std::unique_ptr<StudyStore> store;
    if (scratch.empty()) {
      store = create_memory_study(source->study());
    } else if (std::filesystem::exists(scratch)) {
      store = open_study_store(scratch);
      const auto mine = store->study(), theirs = source->study();
      // The dense model's answers on the search subset, not its timings, which differ run to run.
      auto answers = [](const StudyRecord& r) {
        const auto search = r.dense.find(subset_name(Subset::Search));
        return search != r.dense.end() && search->contains("outcomes") ? (*search)["outcomes"] : nlohmann::json();
      };
      if (mine.model_fingerprint != theirs.model_fingerprint || mine.bench_fingerprint != theirs.bench_fingerprint ||
          mine.settings != theirs.settings || answers(mine) != answers(theirs) || answers(mine).is_null())
        throw Error(scratch +
                    " holds the evaluations of another study (model, benchmark, subset or settings "
                    "differ): give another --scratch file");
    } else {
      store = create_study_store(scratch, source->study());
    }
    for (const char* blob : {"settings", "checkpoint"}) {
      const auto bytes = source->blob(run + "/" + blob);
      if (!bytes) throw Error(study_path + ": run '" + run + "' has no " + blob);
      store->put_blob(run + "/" + blob, *bytes);
    }
    source.reset();

    StudySession session(*store, {}, "");
    PlanEvaluator evaluator(session);
    HippTrainer policy(evaluator, *store, GrpoSettings{}, run);
    const auto& subset = session.settings().subset;
    std::printf(
        "amortisation on %s (run '%s', %d iterations, %zu training preferences); search subset %d POPE per "
        "split + %d ScienceQA\n",
        study_path.c_str(), run.c_str(), policy.completed_iterations(), trained.size(), subset.pope_per_split,
        subset.sqa);
    std::printf(
        "%d preferences from Dir(1,1,1) at least %.2f (L1) from every training preference; random search "
        "of %d evaluations each\n\n",
        prefs, min_distance, random_evals);
    const double lambda = policy.settings().lambda_stab;
    std::printf(
        "w (rob/util/comp)   policy s  query ms  policy w.o  random s  random best w.o  ratio   with stability: policy "
        " "
        "random  ratio   study best w.o\n");

    std::mt19937_64 random(seed);
    std::gamma_distribution<double> gamma(1.0, 1.0);
    double ratio_sum = 0, ratio_min = 1e300, query_ms_max = 0;
    int reached = 0;
    for (int k = 0; k < prefs; ++k) {
      Preference w{};
      for (int tries = 0;; ++tries) {
        double total = 0;
        for (double& x : w) total += (x = gamma(random));
        for (double& x : w) x /= total;
        double nearest = 1e300;
        for (const auto& t : trained) nearest = std::min(nearest, l1(w, t));
        if (nearest >= min_distance) break;
        if (tries > 10000) throw Error("no preference lies that far from every training preference");
      }
      const auto start = std::chrono::steady_clock::now();
      const Blueprint plan = policy.query(w);
      const double query_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      query_ms_max = std::max(query_ms_max, query_ms);
      const auto mine = evaluator.evaluate(plan, "query", w);
      if (mine.failed) throw Error("the policy's plan failed: " + mine.error);
      const double policy_return = scalarised(w, mine.metrics.objectives);
      auto trained_return = [&](const Blueprint& b, const Objectives& o) {
        // The return GRPO trained on (a budget polish's, when the run ends with one).
        return plan_return(w, o, return_flow(policy.stability(b), reads_uniform_flow(policy.settings())), lambda);
      };
      const double policy_trained = trained_return(plan, mine.metrics.objectives);

      BaselineOptions options;
      options.method = "random";
      options.evaluations = random_evals;
      options.seed = seed * 1000 + static_cast<uint64_t>(k);
      double best = -1e300, best_s = 0, best_trained = -1e300;
      for (const auto& out : run_baseline(evaluator, options)) {
        if (out.failed) continue;
        const auto trial = store->trial(out.trial_id);
        const auto record = trial ? store->plan(trial->plan_id) : std::nullopt;
        if (!record) throw Error("a random plan's trial is missing from the study");
        const auto b = blueprint_from_json(record->blueprint, "random plan");
        const double r = scalarised(w, out.metrics.objectives);
        if (r > best) best = r, best_s = b.sparsity;
        best_trained = std::max(best_trained, trained_return(b, out.metrics.objectives));
      }
      double study_best = -1e300;
      for (const auto& o : known) study_best = std::max(study_best, scalarised(w, o));
      const double ratio = policy_return / best;
      ratio_sum += ratio;
      ratio_min = std::min(ratio_min, ratio);
      reached += ratio >= 0.98;
      std::printf("%.2f / %.2f / %.2f    %8.3f  %8.2f  %10.4f  %8.3f  %15.4f  %5.3f  %22.4f  %6.4f  %5.3f  %15.4f\n",
                  w[0], w[1], w[2], plan.sparsity, query_ms, policy_return, best_s, best, ratio, policy_trained,
                  best_trained, policy_trained / best_trained, study_best);
      std::fflush(stdout);
    }
    std::printf(
        "\nratio policy / best random: mean %.3f, smallest %.3f; %d of %d preferences at 0.98 or more; "
        "slowest query %.2f ms\n",
        ratio_sum / prefs, ratio_min, reached, prefs, query_ms_max);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_amortisation: %s\n", e.what());
    return 1;
  }
}
