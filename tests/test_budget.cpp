#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "prune/budget.h"

namespace hipp {
namespace {

std::vector<double> random_allocation(std::mt19937_64& random, size_t n) {
  std::gamma_distribution<double> gamma(0.7, 1.0);
  std::vector<double> w(n);
  for (auto& x : w) x = gamma(random) + 1e-6;
  return normalise_allocation(w);
}

TEST(Budget, RemovedParametersMatchTheTargetWithinOneStep) {
  std::mt19937_64 random(11);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t L = 1 + random() % 12;
    std::vector<PrunableLayer> layers;
    for (size_t l = 0; l < L; ++l) layers.push_back({static_cast<int64_t>(64 + random() % 900), 3 * 128});
    BudgetOptions options;
    options.align = trial % 3 == 0 ? 8 : 1;
    if (options.align > 1)
      for (auto& layer : layers) layer.units = (layer.units / 8 + 1) * 8;
    const double s = std::uniform_real_distribution<double>(0.0, 0.6)(random);
    const auto allocation = random_allocation(random, L);
    BudgetResult r;
    try {
      r = map_budget(s, allocation, layers, options);
    } catch (const Error&) {
      continue;  // a skewed allocation may not reach s under r_max; tested below
    }
    int64_t removed = 0;
    for (size_t l = 0; l < L; ++l) {
      removed += r.removed[l] * layers[l].params_per_unit;
      EXPECT_LE(r.removed[l], static_cast<int64_t>(options.r_max * static_cast<double>(layers[l].units)));
      EXPECT_EQ(r.kept[l] % options.align, 0) << "layer " << l;
      EXPECT_EQ(r.kept[l] + r.removed[l], layers[l].units);
    }
    EXPECT_EQ(removed, r.removed_params);
    const int64_t step = options.align * 3 * 128;
    EXPECT_LE(std::llabs(r.removed_params - r.target_removed_params), step)
        << "s " << s << " layers " << L << " align " << options.align;
  }
}

TEST(Budget, UniformAllocationGivesEqualRatios) {
  std::vector<PrunableLayer> layers(4, {352, 384});
  const auto r = map_budget(0.5, uniform_allocation(4), layers);
  for (auto k : r.kept) EXPECT_EQ(k, 176);
  EXPECT_DOUBLE_EQ(r.achieved_sparsity(), 0.5);
}

TEST(Budget, RMaxCapsALayerAndTheRestTakesTheBudget) {
  std::vector<PrunableLayer> layers(4, {100, 10});
  const auto r = map_budget(0.5, {0.7, 0.1, 0.1, 0.1}, layers);
  EXPECT_EQ(r.removed[0], 90);  // capped at r_max 0.9
  EXPECT_EQ(r.removed_params, r.target_removed_params);
  EXPECT_EQ(r.removed[1], r.removed[2]);
}

TEST(Budget, MonotoneInSparsity) {
  std::mt19937_64 random(5);
  std::vector<PrunableLayer> layers;
  for (int l = 0; l < 6; ++l) layers.push_back({static_cast<int64_t>(100 + 37 * l), 30});
  const auto allocation = random_allocation(random, 6);
  int64_t previous = -1;
  std::vector<double> previous_ratios(6, 0.0);
  for (double s = 0; s < 0.55; s += 0.01) {
    const auto r = map_budget(s, allocation, layers);
    EXPECT_GE(r.removed_params, previous) << "s " << s;
    for (size_t l = 0; l < 6; ++l) EXPECT_GE(r.target_ratios[l] + 1e-12, previous_ratios[l]);
    previous = r.removed_params;
    previous_ratios = r.target_ratios;
  }
}

TEST(Budget, DeterministicAndZeroSparsityRemovesNothing) {
  std::vector<PrunableLayer> layers{{128, 9}, {256, 9}, {64, 9}};
  const std::vector<double> a{0.2, 0.5, 0.3};
  const auto r1 = map_budget(0.37, a, layers), r2 = map_budget(0.37, a, layers);
  EXPECT_EQ(r1.removed, r2.removed);
  const auto zero = map_budget(0.0, a, layers);
  for (auto k : zero.removed) EXPECT_EQ(k, 0);
}

TEST(Budget, RejectsBadInput) {
  std::vector<PrunableLayer> layers(2, {100, 10});
  EXPECT_THROW(map_budget(1.0, {0.5, 0.5}, layers), Error);
  EXPECT_THROW(map_budget(-0.1, {0.5, 0.5}, layers), Error);
  EXPECT_THROW(map_budget(0.5, {0.5, 0.6}, layers), Error);   // does not sum to 1
  EXPECT_THROW(map_budget(0.5, {1.5, -0.5}, layers), Error);  // negative entry
  EXPECT_THROW(map_budget(0.5, {1.0}, layers), Error);        // wrong length
  EXPECT_THROW(map_budget(0.6, {1.0, 0.0}, layers), Error);   // one layer cannot hold 60% under r_max 0.9
  BudgetOptions bad;
  bad.align = 0;
  EXPECT_THROW(map_budget(0.5, {0.5, 0.5}, layers, bad), Error);
}

}  // namespace
}  // namespace hipp
