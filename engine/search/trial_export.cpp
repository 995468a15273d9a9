#include "search/trial_export.h"

#include <filesystem>

#include "core/error.h"
#include "model/presets.h"
#include "model/presets_inl.h"
#include "prune/export.h"
#include "search/study_session.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

Trial find_trial(const StudyStore& store, int64_t id) {
  const auto t = store.trial(id);
  if (!t) throw Error("the study has no trial " + std::to_string(id));
  return *t;
}

}  // namespace

Blueprint trial_blueprint(const StudyStore& store, int64_t trial) {
  const auto t = find_trial(store, trial);
  const auto plan = store.plan(t.plan_id);
  if (!plan) throw Error("trial " + std::to_string(trial) + " has no plan");
  return blueprint_from_json(plan->blueprint, "plan of trial " + std::to_string(trial));
}

void export_trial_blueprint(const StudyStore& store, int64_t trial, const std::string& path) {
  write_blueprint(path, trial_blueprint(store, trial));
}

void export_trial_model(StudyStore& store, int64_t trial, const std::string& out_dir, const TrialModelExport& o) {
  if (fs::exists(out_dir)) throw Error(out_dir + " already exists; choose another folder");
  const auto t = find_trial(store, trial);
  const auto blueprint = trial_blueprint(store, trial);
  if (t.parent) {
    // A fine-tuned trial's weights are not the plan's: copy its export.
    const std::string source = t.details.value("out_dir", std::string());
    if (source.empty() || !fs::is_directory(source))
      throw Error("trial " + std::to_string(trial) + " is a fine-tune whose model folder (" +
                  (source.empty() ? std::string("not recorded") : source) + ") is gone");
    write_folder_atomically(out_dir, [&](const std::string& dir) {
      for (const auto& entry : fs::directory_iterator(source))
        if (entry.is_regular_file()) fs::copy_file(entry.path(), fs::path(dir) / entry.path().filename());
    });
    return;
  }
  StudySession session(store, o.load, o.cache_dir, o.log);
  auto pruned = session.pruned_model(blueprint);
  if (o.cancel && o.cancel->load()) throw Cancelled();
  export_pruned_model(pruned, blueprint, store.study().model_dir, out_dir);
}

}  // namespace hipp
