#pragma once
// The one place that says which trials a front, a hypervolume, a cloud or a
// policy's figures are made of: complete trials with metrics, of one subset
// (search-subset and full-set objectives are never mixed), of some origins.
#include <string>
#include <vector>

#include "study/store.h"

namespace hipp {

struct TrialSelection {
  Subset subset = Subset::Search;
  std::vector<std::string> origins;  // empty = every origin; see origin_matches
};

// Whether a trial's origin matches a filter: a filter with no ':' matches
// the origin's kind ("grpo" matches "grpo:3", "curve" matches "curve:2:5");
// one with a ':' matches exactly; "" matches every origin.
bool origin_matches(const std::string& origin, const std::string& filter);

// The policy's own plans: its GRPO samples and its queries.
const std::vector<std::string>& policy_origins();

// Whether `trial` is one `selection` names.
bool is_selected(const Trial& trial, const TrialSelection& selection);
// The complete trials with metrics that `selection` names, in the given order.
std::vector<Trial> select_trials(const std::vector<Trial>& trials, const TrialSelection& selection);
// Their objectives, in the same order.
std::vector<Objectives> objectives_of(const std::vector<Trial>& trials);

}  // namespace hipp
