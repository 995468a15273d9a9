#pragma once
// Pareto front and hypervolume over (robustness, utility, compression), all
// maximised. Pure functions; the app draws their results. Torch-free.
//
// Reference point: the origin of the normalised objectives (robustness and
// utility relative to the dense model, compression as achieved sparsity), so
// a plan counts by how much of the box between the origin and itself it
// covers. A point that is not above the reference in every objective covers
// nothing.
#include <vector>

#include "study/store.h"

namespace hipp {

// Indices of the non-dominated points, ascending. Duplicates of a
// non-dominated point are all kept.
std::vector<size_t> non_dominated(const std::vector<Objectives>& points);

// Exact hypervolume dominated by `points` above `reference` (pagmo2's exact
// algorithms).
double hypervolume(const std::vector<Objectives>& points, const Objectives& reference = {});

// Pareto rank of every point: 0 for the front, 1 for the front once it is
// removed, and so on.
std::vector<size_t> pareto_ranks(const std::vector<Objectives>& points);

}  // namespace hipp
