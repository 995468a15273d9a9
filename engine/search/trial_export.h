#pragma once
// Exports what a study's trial stands for: its plan as a blueprint file, or
// its pruned model as a Hugging Face-layout folder (the plan applied to the
// study's model with the study's importance scores; for a fine-tuned trial,
// its merged model as the fine-tune exported it). Both writes are atomic.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "model/checkpoint.h"
#include "prune/blueprint.h"
#include "study/store.h"

namespace hipp {

Blueprint trial_blueprint(const StudyStore& store, int64_t trial);
void export_trial_blueprint(const StudyStore& store, int64_t trial, const std::string& path);

struct TrialModelExport {
  LoadOptions load;
  std::string cache_dir;
  std::function<void(const std::string&)> log;
  const std::atomic<bool>* cancel = nullptr;
};
void export_trial_model(StudyStore& store, int64_t trial, const std::string& out_dir,
                        const TrialModelExport& options = {});

}  // namespace hipp
