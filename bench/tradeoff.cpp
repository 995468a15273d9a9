// What a layer allocation can buy at a fixed sparsity: the attainable set the
// HiPP policy searches (and the ceiling of its controllability and
// matched-sparsity goals).
//
//   bench_tradeoff MODEL_DIR BENCH_DIR [--sparsity S ...] [--samples K]
//                  [--subset POPE_PER_SPLIT,SQA | --full] [--seed N] [--random-only]
//                  [--single-layers] [--climb N]
//
// At every sparsity: the uniform plan, the first or the second half of the
// layers spared (their share of the budget a tenth of the others'), each
// layer spared and each layer loaded (three times the others'; skipped with
// --random-only), then K allocations from Dir(1, ..., 1). Prints every plan's
// POPE F1 per split and ScienceQA accuracy, then the range over the plans,
// the Spearman correlation between POPE mean F1 and ScienceQA over the
// random allocations (and over all plans), what uniform pruning costs
// against the dense model, the best plan on each axis against uniform, and
// the best trading pair: the plans A and B with the largest
// min(POPE_A - POPE_B, ScienceQA_B - ScienceQA_A).
//
// --single-layers first prunes each layer alone, as far as r_max allows, the
// others intact, and prints POPE and ScienceQA (image and no-image problems
// apart): which layer each objective depends on, and whether one layer
// decides both.
//
// --climb N then hill-climbs POPE mean F1 at every sparsity from the best
// POPE plan found: N times it moves a random share of one layer's budget to
// another layer, evaluates, and keeps the move when POPE rises (ScienceQA
// breaks ties). The end is an estimate of the most POPE an allocation keeps
// at that sparsity (optimistic when it climbs on the set it reports).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "core/rank_correlation.h"
#include "core/threads.h"
#include "search/plan_evaluator.h"

namespace fs = std::filesystem;
using namespace hipp;

namespace {

struct Row {
  std::string name;
  std::vector<double> allocation;  // the budget's shares, as session.plan takes them
  std::vector<double> ratios;
  double f1[3] = {0, 0, 0};
  double pope = 0, sqa = 0;
  double sqa_image = 0, sqa_no_image = 0;  // ScienceQA's two parts
};

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) {
      std::fprintf(stderr,
                   "usage: bench_tradeoff MODEL_DIR BENCH_DIR [--sparsity S ...] [--samples K] "
                   "[--subset POPE_PER_SPLIT,SQA | --full] [--seed N] [--random-only] [--single-layers] [--climb N]\n");
      return 2;
    }
    use_threads(0);
    const std::string model = argv[1], bench = argv[2];
    std::vector<double> sparsities;
    int samples = 24, climb = 0;
    unsigned seed = 1;
    bool full = false, random_only = false, single_layers = false;
    StudySettings settings;
    settings.subset.pope_per_split = 50;
    settings.subset.sqa = 100;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      const bool has_value = i + 1 < argc;
      if (a == "--sparsity" && has_value) {
        sparsities.push_back(std::stod(argv[++i]));
      } else if (a == "--samples" && has_value) {
        samples = std::stoi(argv[++i]);
      } else if (a == "--seed" && has_value) {
        seed = static_cast<unsigned>(std::stoul(argv[++i]));
      } else if (a == "--climb" && has_value) {
        climb = std::stoi(argv[++i]);
      } else if (a == "--full") {
        full = true;
      } else if (a == "--random-only") {
        random_only = true;
      } else if (a == "--single-layers") {
        single_layers = true;
      } else if (a == "--subset" && has_value) {
        const std::string spec = argv[++i];
        const auto comma = spec.find(',');
        if (comma == std::string::npos) throw Error("--subset needs POPE_PER_SPLIT,SQA");
        settings.subset.pope_per_split = std::stoi(spec.substr(0, comma));
        settings.subset.sqa = std::stoi(spec.substr(comma + 1));
      } else {
        throw Error("unknown argument '" + a + "'");
      }
    }
    if (sparsities.empty()) sparsities = {0.3, 0.5};
    const fs::path dir = fs::temp_directory_path() / ("hipp-bench-tradeoff-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string path = (dir / "study.sqlite").string();
    create_study(path, model, bench, settings, {}, "");
    auto store = open_study_store(path);
    StudySession session(*store, {}, "");
    PlanEvaluator evaluator(session);
    const size_t layers = session.layers();
    const Subset subset = full ? Subset::Full : Subset::Search;
    std::mt19937_64 rng(seed);
    std::gamma_distribution<double> gamma(1.0, 1.0);

    std::printf("allocation trade-off on %s (%s), %zu layers, %d random allocations per sparsity\n", model.c_str(),
                full ? "full test sets"
                     : ("search subset " + std::to_string(settings.subset.pope_per_split) + " POPE per split + " +
                        std::to_string(settings.subset.sqa) + " ScienceQA")
                           .c_str(),
                layers, samples);
    if (single_layers) {
      std::printf("\neach layer alone pruned (the others intact)\n%-8s %6s %7s %7s %7s %9s\n", "layer", "ratio", "POPE",
                  "SQA", "IMG", "no image");
      for (size_t l = 0; l < layers; ++l) {
        std::vector<double> one_hot(layers, 0.0);
        one_hot[l] = 1.0;
        // As far as r_max allows: the largest sparsity one layer can carry,
        // found from r_max / L downwards (layers may differ in size).
        std::optional<Blueprint> blueprint;
        for (double s = 0.99 * settings.r_max / static_cast<double>(layers); !blueprint && s > 1e-4; s *= 0.9) {
          try {
            blueprint = session.plan(s, one_hot, "layer " + std::to_string(l));
          } catch (const Error&) {
          }
        }
        if (!blueprint) throw Error("no plan prunes layer " + std::to_string(l) + " alone");
        const auto out = evaluator.evaluate(*blueprint, "single layer", std::nullopt, subset);
        if (out.failed) {
          std::printf("%-8zu failed: %s\n", l, out.error.c_str());
          continue;
        }
        const auto& sqa = out.metrics.raw["scienceqa"];
        std::printf("%-8zu %6.2f %7.3f %7.3f %7.3f %9.3f\n", l, blueprint->ratio(l),
                    out.metrics.raw.value("pope_mean_f1", 0.0), sqa.value("accuracy", 0.0),
                    sqa.value("image_accuracy", 0.0), sqa.value("no_image_accuracy", 0.0));
        std::fflush(stdout);
      }
    }
    for (double s : sparsities) {
      std::vector<std::pair<std::string, std::vector<double>>> plans;
      plans.emplace_back("uniform", std::vector<double>(layers, 1.0 / static_cast<double>(layers)));
      auto normalised = [](std::vector<double> a) {
        const double total = std::accumulate(a.begin(), a.end(), 0.0);
        for (double& x : a) x /= total;
        return a;
      };
      for (const bool first : {true, false}) {
        std::vector<double> a(layers, 1.0);
        for (size_t l = 0; l < layers; ++l)
          if ((l < layers / 2) == first) a[l] = 0.1;
        plans.emplace_back(first ? "spare 1st half" : "spare 2nd half", normalised(a));
      }
      for (size_t l = 0; l < layers && !random_only; ++l)
        for (const auto& [label, weight] : {std::pair<const char*, double>{"spare", 0.1}, {"load", 3.0}}) {
          std::vector<double> a(layers, 1.0);
          a[l] = weight;
          plans.emplace_back(std::string(label) + " L" + std::to_string(l), normalised(a));
        }
      for (int k = 0; k < samples; ++k) {
        std::vector<double> a(layers);
        for (double& x : a) x = gamma(rng);
        plans.emplace_back("random " + std::to_string(k + 1), normalised(a));
      }
      std::printf("\ns = %.2f\n%-14s %-40s %7s %7s %7s %7s %7s %7s %9s\n", s, "plan", "layer ratios", "random",
                  "popular", "advers.", "mean", "SQA", "IMG", "no image");
      // Evaluates one allocation at s and prints its row.
      auto run = [&](const std::string& name, const std::vector<double>& allocation) -> std::optional<Row> {
        const auto blueprint = session.plan(s, allocation, name);
        const auto out = evaluator.evaluate(blueprint, name, std::nullopt, subset);
        if (out.failed) {
          std::printf("%-14s failed: %s\n", name.c_str(), out.error.c_str());
          return std::nullopt;
        }
        Row row;
        row.name = name;
        row.allocation = allocation;
        for (size_t l = 0; l < blueprint.layers(); ++l) row.ratios.push_back(blueprint.ratio(l));
        const auto& pope = out.metrics.raw["pope"];
        const char* splits[3] = {"random", "popular", "adversarial"};
        for (int i = 0; i < 3; ++i) row.f1[i] = pope.contains(splits[i]) ? pope[splits[i]].value("f1", 0.0) : 0.0;
        row.pope = out.metrics.raw.value("pope_mean_f1", 0.0);
        if (out.metrics.raw.contains("scienceqa")) {
          const auto& sqa = out.metrics.raw["scienceqa"];
          row.sqa = sqa.value("accuracy", 0.0);
          row.sqa_image = sqa.value("image_accuracy", 0.0);
          row.sqa_no_image = sqa.value("no_image_accuracy", 0.0);
        }
        std::string ratios;
        for (double r : row.ratios) {
          char t[16];
          std::snprintf(t, sizeof t, "%s%.2f", ratios.empty() ? "" : " ", r);
          ratios += t;
        }
        std::printf("%-14s %-40s %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %9.3f\n", name.c_str(), ratios.c_str(), row.f1[0],
                    row.f1[1], row.f1[2], row.pope, row.sqa, row.sqa_image, row.sqa_no_image);
        std::fflush(stdout);
        return row;
      };
      std::vector<Row> rows;
      for (const auto& [name, allocation] : plans)
        if (auto row = run(name, allocation)) rows.push_back(*row);
      if (rows.empty()) continue;
      std::vector<double> pope, sqa, random_pope, random_sqa;
      for (const auto& r : rows) {
        pope.push_back(r.pope);
        sqa.push_back(r.sqa);
        if (r.name.rfind("random ", 0) == 0) {
          random_pope.push_back(r.pope);
          random_sqa.push_back(r.sqa);
        }
      }
      const auto& uniform = rows.front();
      const auto dense = store->study().dense.value(subset_name(subset), nlohmann::json::object());
      const double dense_pope = dense.value("pope_mean_f1", 0.0);
      const double dense_sqa = dense.contains("scienceqa") ? dense["scienceqa"].value("accuracy", 0.0) : 0.0;
      std::printf("dense: POPE mean F1 %.3f, ScienceQA %.3f; uniform costs %.1f POPE points, %.1f ScienceQA points\n",
                  dense_pope, dense_sqa, 100 * (dense_pope - uniform.pope), 100 * (dense_sqa - uniform.sqa));
      std::printf(
          "range over %zu plans: POPE mean F1 %.3f .. %.3f, ScienceQA %.3f .. %.3f\n"
          "Spearman(POPE, ScienceQA): %.3f over the %zu random allocations, %.3f over all plans\n",
          rows.size(), *std::min_element(pope.begin(), pope.end()), *std::max_element(pope.begin(), pope.end()),
          *std::min_element(sqa.begin(), sqa.end()), *std::max_element(sqa.begin(), sqa.end()),
          random_pope.size() > 1 ? spearman(random_pope, random_sqa) : 0.0, random_pope.size(), spearman(pope, sqa));
      const auto best_pope = std::max_element(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.pope < b.pope || (a.pope == b.pope && a.sqa < b.sqa);
      });
      const auto best_sqa = std::max_element(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.sqa < b.sqa || (a.sqa == b.sqa && a.pope < b.pope);
      });
      std::printf(
          "best POPE: %s (%+.3f POPE, %+.3f ScienceQA against uniform); best ScienceQA: %s (%+.3f "
          "POPE, %+.3f ScienceQA)\n",
          best_pope->name.c_str(), best_pope->pope - uniform.pope, best_pope->sqa - uniform.sqa, best_sqa->name.c_str(),
          best_sqa->pope - uniform.pope, best_sqa->sqa - uniform.sqa);
      // The pair that trades the most: A ahead on POPE, B ahead on ScienceQA,
      // scored by the smaller of the two leads.
      const Row *trade_a = nullptr, *trade_b = nullptr;
      double trade = -1e9;
      for (const auto& a : rows)
        for (const auto& b : rows) {
          const double lead = std::min(a.pope - b.pope, b.sqa - a.sqa);
          if (&a != &b && lead > trade) trade = lead, trade_a = &a, trade_b = &b;
        }
      if (trade_a)
        std::printf("best trading pair: A = %s, B = %s: POPE A - B %+.1f points, ScienceQA B - A %+.1f points\n",
                    trade_a->name.c_str(), trade_b->name.c_str(), 100 * (trade_a->pope - trade_b->pope),
                    100 * (trade_b->sqa - trade_a->sqa));
      if (climb > 0 && layers > 1) {  // a move needs two layers
        // Hill-climb POPE from the best POPE plan: move a random share of
        // one layer's budget to another, keep the move when POPE rises.
        Row best = *best_pope;
        std::uniform_int_distribution<size_t> pick(0, layers - 1);
        std::uniform_real_distribution<double> share(0.1, 0.6);
        std::printf("climbing POPE from %s (%d steps)\n", best.name.c_str(), climb);
        int kept = 0;
        for (int step = 1; step <= climb; ++step) {
          const size_t from = pick(rng);
          size_t to = pick(rng);
          while (to == from) to = pick(rng);
          auto allocation = best.allocation;
          const double moved = share(rng) * allocation[from];
          allocation[from] -= moved;
          allocation[to] += moved;
          std::optional<Row> row;
          try {
            row = run("climb " + std::to_string(step), allocation);
          } catch (const Error& e) {  // a move past r_max has no plan
            std::printf("climb %-8d no plan: %s\n", step, e.what());
          }
          if (row && (row->pope > best.pope || (row->pope == best.pope && row->sqa > best.sqa))) {
            best = *row;
            ++kept;
          }
        }
        std::printf("climb end (%d moves kept): POPE %.3f (%+.1f points over uniform), ScienceQA %.3f (%+.1f)\n", kept,
                    best.pope, 100 * (best.pope - uniform.pope), best.sqa, 100 * (best.sqa - uniform.sqa));
      }
    }
    fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_tradeoff: %s\n", e.what());
    return 1;
  }
}
