#include "study/pareto.h"

#include <pagmo/utils/hypervolume.hpp>
#include <pagmo/utils/multi_objective.hpp>

namespace hipp {

namespace {

// pagmo minimises: negate.
std::vector<pagmo::vector_double> as_minimisation(const std::vector<Objectives>& points) {
  std::vector<pagmo::vector_double> out;
  for (const auto& p : points) out.push_back({-p.robustness, -p.utility, -p.compression});
  return out;
}

}  // namespace

std::vector<size_t> pareto_ranks(const std::vector<Objectives>& points) {
  std::vector<size_t> ranks(points.size(), 0);
  if (points.size() < 2) return ranks;
  const auto sorted = pagmo::fast_non_dominated_sorting(as_minimisation(points));
  const auto& rank = std::get<3>(sorted);
  for (size_t i = 0; i < points.size(); ++i) ranks[i] = static_cast<size_t>(rank[i]);
  return ranks;
}

std::vector<size_t> non_dominated(const std::vector<Objectives>& points) {
  const auto ranks = pareto_ranks(points);
  std::vector<size_t> front;
  for (size_t i = 0; i < points.size(); ++i)
    if (ranks[i] == 0) front.push_back(i);
  return front;
}

double hypervolume(const std::vector<Objectives>& points, const Objectives& reference) {
  std::vector<Objectives> above;
  for (const auto& p : points)
    if (p.robustness > reference.robustness && p.utility > reference.utility && p.compression > reference.compression)
      above.push_back(p);
  if (above.empty()) return 0.0;
  pagmo::hypervolume hv(as_minimisation(above), /*verify=*/true);
  return hv.compute({-reference.robustness, -reference.utility, -reference.compression});
}

}  // namespace hipp
