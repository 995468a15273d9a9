#pragma once
// Spearman rank correlation, for the benches' controllability and trade-off
// figures. Torch-free.
#include <vector>

namespace hipp {

// Ranks from 0; tied values share the mean of their ranks.
std::vector<double> average_ranks(const std::vector<double>& values);

// Pearson correlation of the average ranks of x and y (same length). 0 when
// either side is constant (all tied) or there are fewer than two values.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace hipp
