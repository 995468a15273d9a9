#pragma once
// A complete trial with the metrics the cloud and the plan details read, for
// the cloud tests and the widget tests: POPE random (F1 f1 + 0.01, yes-ratio
// 0.4) and adversarial (F1 f1 - 0.01, yes-ratio 0.6) splits, no popular
// split, ScienceQA `sqa` overall / IMG / text, objectives relative to a dense
// model at (0.9, 0.8).
#include <optional>
#include <string>

#include "study/store.h"

namespace hipp::test {

inline Trial complete_trial(int64_t id, const std::string& origin, double f1, double sqa, double sparsity,
                            std::optional<Preference> w = std::nullopt, std::optional<int64_t> parent = std::nullopt) {
  Trial t;
  t.id = id;
  t.origin = origin;
  t.state = TrialState::Complete;
  t.preference = w;
  t.parent = parent;
  TrialMetrics m;
  m.objectives = {f1 / 0.9, sqa / 0.8, sparsity};
  m.raw = {{"pope_mean_f1", f1},
           {"pope",
            {{"random", {{"f1", f1 + 0.01}, {"accuracy", f1}, {"precision", 0.9}, {"recall", 0.8}, {"yes_ratio", 0.4}}},
             {"adversarial", {{"f1", f1 - 0.01}, {"yes_ratio", 0.6}}}}},
           {"scienceqa", {{"accuracy", sqa}, {"image_accuracy", sqa}, {"no_image_accuracy", sqa}}},
           {"language_params", 1.0e6}};
  t.metrics = m;
  return t;
}

}  // namespace hipp::test
