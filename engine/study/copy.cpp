#include "study/copy.h"

#include <filesystem>
#include <map>

#include "core/error.h"
#include "study/pg_store.h"

namespace hipp {

StudyCopyCounts copy_study_contents(const StudyStore& from, StudyStore& to,
                                    const std::function<void(int, int)>& progress) {
  StudyCopyCounts counts;
  std::map<int64_t, int64_t> plan_ids, trial_ids;
  const auto trials = from.trials();
  int done = 0;
  for (const auto& t : trials) {
    if (progress) progress(done, static_cast<int>(trials.size()));
    ++done;
    if (t.state == TrialState::Running) {
      ++counts.running_left_out;
      continue;
    }
    auto plan = plan_ids.find(t.plan_id);
    if (plan == plan_ids.end()) {
      const auto record = from.plan(t.plan_id);
      if (!record)
        throw Error("trial " + std::to_string(t.id) + " names plan " + std::to_string(t.plan_id) +
                    ", which the study does not hold");
      plan = plan_ids.emplace(t.plan_id, to.add_plan(record->hash, record->blueprint)).first;
      ++counts.plans;
    }
    std::optional<int64_t> parent;
    if (t.parent) {
      auto it = trial_ids.find(*t.parent);
      if (it == trial_ids.end())
        throw Error("trial " + std::to_string(t.id) + " names parent trial " + std::to_string(*t.parent) +
                    ", which was not copied before it");
      parent = it->second;
    }
    Trial copy = t;
    if (copy.details.is_object() && copy.details.contains("parent_trial") && parent)
      copy.details["parent_trial"] = *parent;
    trial_ids[t.id] = to.import_trial(copy, plan->second, parent);
    ++counts.trials;
  }
  for (const auto& key : from.layer_state_keys()) {
    to.put_layer_states(key, *from.layer_states(key));
    ++counts.layer_states;
  }
  for (const auto& name : from.blob_names()) {
    to.put_blob(name, *from.blob(name));
    ++counts.blobs;
  }
  if (progress) progress(static_cast<int>(trials.size()), static_cast<int>(trials.size()));
  return counts;
}

StudyCopyCounts copy_study(const std::string& from, const std::string& to,
                           const std::function<void(int, int)>& progress) {
  auto source = open_study_store(from, /*read_only=*/true);
  if (study_store_exists(to)) throw Error(redacted_url(to) + ": already exists; copy into a new file or study name");
  auto target = create_study_store(to, source->study());
  try {
    return copy_study_contents(*source, *target, progress);
  } catch (...) {
    target.reset();
    std::error_code ignored;
    if (is_postgresql_url(to)) {
      try {
        drop_pg_study(to);
      } catch (...) {
        // The first error is the one to report.
      }
    } else {
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(to + suffix, ignored);
    }
    throw;
  }
}

}  // namespace hipp
