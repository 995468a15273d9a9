#include "prune/budget.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace hipp {

std::vector<double> uniform_allocation(size_t layers) {
  return std::vector<double>(layers, layers ? 1.0 / static_cast<double>(layers) : 0.0);
}

std::vector<double> normalise_allocation(const std::vector<double>& weights) {
  double total = 0;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) throw Error("allocation weights must be finite and non-negative");
    total += w;
  }
  if (total <= 0) throw Error("allocation weights are all zero");
  std::vector<double> out;
  for (double w : weights) out.push_back(w / total);
  return out;
}

namespace {

// The smallest number of units a layer may keep: a multiple of `align`, at
// least one step, and at least (1 - r_max) of its units.
int64_t min_kept(const PrunableLayer& layer, const BudgetOptions& o) {
  const auto floor_kept = static_cast<int64_t>(std::ceil((1.0 - o.r_max) * static_cast<double>(layer.units) - 1e-9));
  int64_t kept = std::max<int64_t>(o.align, floor_kept);
  kept = (kept + o.align - 1) / o.align * o.align;
  return kept;
}

// Largest allowed removal not above `units_wanted`.
int64_t removal_at_most(const PrunableLayer& layer, double units_wanted, const BudgetOptions& o) {
  const int64_t lowest_kept = min_kept(layer, o);
  if (lowest_kept >= layer.units) return 0;
  // kept = n - removed must be a multiple of align and >= lowest_kept; the
  // unpruned layer (removed 0) is always allowed.
  const double kept_wanted = static_cast<double>(layer.units) - units_wanted;
  int64_t kept = static_cast<int64_t>(std::ceil(kept_wanted / static_cast<double>(o.align) - 1e-9)) * o.align;
  kept = std::max(kept, lowest_kept);
  if (kept >= layer.units) return 0;
  return layer.units - kept;
}

}  // namespace

BudgetResult map_budget(double sparsity, const std::vector<double>& allocation,
                        const std::vector<PrunableLayer>& layers, const BudgetOptions& o) {
  if (!(sparsity >= 0 && sparsity < 1)) throw Error("sparsity must be in [0, 1), got " + std::to_string(sparsity));
  if (!(o.r_max > 0 && o.r_max <= 1)) throw Error("r_max must be in (0, 1], got " + std::to_string(o.r_max));
  if (o.align < 1) throw Error("align must be at least 1");
  if (allocation.size() != layers.size())
    throw Error("the allocation has " + std::to_string(allocation.size()) + " entries but the model has " +
                std::to_string(layers.size()) + " prunable layers");
  if (layers.empty()) throw Error("nothing to prune: no prunable layers");
  double total = 0;
  for (double a : allocation) {
    if (!(a >= 0) || !std::isfinite(a)) throw Error("allocation entries must be finite and non-negative");
    total += a;
  }
  if (std::abs(total - 1) > 1e-6) throw Error("allocation entries must sum to 1, they sum to " + std::to_string(total));

  BudgetResult r;
  const size_t L = layers.size();
  for (const auto& layer : layers) {
    if (layer.units < 1 || layer.params_per_unit < 1) throw Error("every prunable layer needs units and a cost");
    r.prunable_params += layer.units * layer.params_per_unit;
  }
  r.target_removed_params = static_cast<int64_t>(std::llround(sparsity * static_cast<double>(r.prunable_params)));

  // Continuous water-filling: removed(c) = sum_l min(r_max, c L a_l) n_l k_l,
  // non-decreasing in c; bisection finds c with removed(c) = target.
  auto removed_at = [&](double c, std::vector<double>* ratios) {
    double sum = 0;
    for (size_t l = 0; l < L; ++l) {
      const double ratio = std::min(o.r_max, c * static_cast<double>(L) * allocation[l]);
      if (ratios) (*ratios)[l] = ratio;
      sum += ratio * static_cast<double>(layers[l].units * layers[l].params_per_unit);
    }
    return sum;
  };
  const double target = static_cast<double>(r.target_removed_params);
  double reachable = 0;
  for (size_t l = 0; l < L; ++l) {
    if (allocation[l] <= 0) continue;
    reachable += static_cast<double>(removal_at_most(layers[l], o.r_max * static_cast<double>(layers[l].units), o) *
                                     layers[l].params_per_unit);
  }
  if (target > reachable + 0.5)
    throw Error("sparsity " + std::to_string(sparsity) + " is out of reach: with this allocation and r_max " +
                std::to_string(o.r_max) + " at most " +
                std::to_string(reachable / static_cast<double>(r.prunable_params)) +
                " of the prunable parameters can go");
  r.target_ratios.assign(L, 0.0);
  if (target > 0) {
    double lo = 0, hi = 1;
    while (removed_at(hi, nullptr) < target && hi < 1e12) hi *= 2;
    for (int i = 0; i < 200; ++i) {
      const double mid = 0.5 * (lo + hi);
      (removed_at(mid, nullptr) < target ? lo : hi) = mid;
    }
    removed_at(hi, &r.target_ratios);
  }

  // Rounding: every layer down to an allowed count, then one aligned step at
  // a time to the layers furthest below their target while a step brings the
  // total closer to the target.
  r.removed.assign(L, 0);
  std::vector<double> wanted(L);
  int64_t removed_params = 0;
  for (size_t l = 0; l < L; ++l) {
    wanted[l] = r.target_ratios[l] * static_cast<double>(layers[l].units);
    r.removed[l] = removal_at_most(layers[l], wanted[l], o);
    removed_params += r.removed[l] * layers[l].params_per_unit;
  }
  const auto cap = [&](size_t l) {
    return removal_at_most(layers[l], o.r_max * static_cast<double>(layers[l].units), o);
  };
  while (true) {
    const int64_t residual = r.target_removed_params - removed_params;
    if (residual <= 0) break;
    size_t best = L;
    double best_deficit = 0;
    for (size_t l = 0; l < L; ++l) {
      const int64_t next = removal_at_most(layers[l], static_cast<double>(r.removed[l] + o.align), o);
      if (next <= r.removed[l] || next > cap(l)) continue;
      const int64_t step_cost = (next - r.removed[l]) * layers[l].params_per_unit;
      if (step_cost > 2 * residual) continue;  // the step would overshoot by more than it gains
      const double deficit = (wanted[l] - static_cast<double>(r.removed[l])) / static_cast<double>(o.align);
      if (best == L || deficit > best_deficit) {
        best = l;
        best_deficit = deficit;
      }
    }
    if (best == L) break;
    const int64_t next = removal_at_most(layers[best], static_cast<double>(r.removed[best] + o.align), o);
    removed_params += (next - r.removed[best]) * layers[best].params_per_unit;
    r.removed[best] = next;
  }
  r.removed_params = removed_params;
  for (size_t l = 0; l < L; ++l) r.kept.push_back(layers[l].units - r.removed[l]);
  return r;
}

}  // namespace hipp
