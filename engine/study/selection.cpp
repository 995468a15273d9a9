#include "study/selection.h"

#include <algorithm>

namespace hipp {

bool origin_matches(const std::string& origin, const std::string& filter) {
  if (filter.empty() || origin == filter) return true;
  if (filter.find(':') != std::string::npos) return false;
  return origin.size() > filter.size() && origin.compare(0, filter.size(), filter) == 0 && origin[filter.size()] == ':';
}

const std::vector<std::string>& policy_origins() {
  static const std::vector<std::string> origins = {"grpo", "query"};
  return origins;
}

bool is_selected(const Trial& t, const TrialSelection& selection) {
  if (t.state != TrialState::Complete || !t.metrics || t.subset != selection.subset) return false;
  return selection.origins.empty() ||
         std::any_of(selection.origins.begin(), selection.origins.end(),
                     [&](const std::string& filter) { return origin_matches(t.origin, filter); });
}

std::vector<Trial> select_trials(const std::vector<Trial>& trials, const TrialSelection& selection) {
  std::vector<Trial> out;
  for (const auto& t : trials)
    if (is_selected(t, selection)) out.push_back(t);
  return out;
}

std::vector<Objectives> objectives_of(const std::vector<Trial>& trials) {
  std::vector<Objectives> out;
  out.reserve(trials.size());
  for (const auto& t : trials) out.push_back(t.metrics->objectives);
  return out;
}

}  // namespace hipp
