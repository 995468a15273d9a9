// The study store's contract in memory: the same behaviour as the SQLite
// store (the tests run one suite against both), nothing persisted.
#include <chrono>
#include <map>

#include "core/error.h"
#include "study/store.h"

namespace hipp {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class MemoryStudy : public StudyStore {
 public:
  explicit MemoryStudy(StudyRecord study) : study_(std::move(study)) {
    if (study_.created <= 0) study_.created = now_seconds();
  }

  StudyRecord study() const override { return study_; }
  void set_dense_metrics(Subset subset, const nlohmann::json& metrics) override {
    study_.dense[subset_name(subset)] = metrics;
  }

  int64_t add_plan(const std::string& hash, const nlohmann::json& blueprint) override {
    if (auto found = plan_by_hash(hash)) return found->id;
    plans_.push_back({static_cast<int64_t>(plans_.size()) + 1, hash, blueprint});
    return plans_.back().id;
  }
  std::optional<PlanRecord> plan(int64_t id) const override {
    if (id < 1 || id > static_cast<int64_t>(plans_.size())) return std::nullopt;
    return plans_[static_cast<size_t>(id - 1)];
  }
  std::optional<PlanRecord> plan_by_hash(const std::string& hash) const override {
    for (const auto& p : plans_)
      if (p.hash == hash) return p;
    return std::nullopt;
  }

  int64_t start_trial(int64_t plan_id, const std::string& origin, const std::optional<Preference>& preference,
                      Subset subset) override {
    const auto p = plan(plan_id);
    if (!p) throw Error("study: no plan " + std::to_string(plan_id));
    Trial t;
    t.id = static_cast<int64_t>(trials_.size()) + 1;
    t.plan_id = plan_id;
    t.plan_hash = p->hash;
    t.origin = origin;
    t.preference = preference;
    t.started = now_seconds();
    t.subset = subset;
    trials_.push_back(t);
    return t.id;
  }
  int64_t start_child_trial(int64_t parent_id, const std::string& origin, Subset subset,
                            const nlohmann::json& details) override {
    const auto parent = trial(parent_id);
    if (!parent) throw Error("study: no trial " + std::to_string(parent_id));
    const int64_t id = start_trial(parent->plan_id, origin, parent->preference, subset);
    auto& t = trials_[static_cast<size_t>(id - 1)];
    t.parent = parent_id;
    t.details = details;
    return id;
  }
  Trial& running(int64_t id) {
    if (id < 1 || id > static_cast<int64_t>(trials_.size())) throw Error("study: no trial " + std::to_string(id));
    auto& t = trials_[static_cast<size_t>(id - 1)];
    if (t.state != TrialState::Running)
      throw Error("study: trial " + std::to_string(id) + " is already " + trial_state_name(t.state));
    return t;
  }
  void finish_trial(int64_t id, const TrialMetrics& metrics) override {
    auto& t = running(id);
    t.state = TrialState::Complete;
    t.finished = now_seconds();
    t.subset = metrics.subset;
    t.metrics = metrics;
  }
  void fail_trial(int64_t id, const std::string& error) override {
    auto& t = running(id);
    t.state = TrialState::Fail;
    t.finished = now_seconds();
    t.error = error;
  }
  std::optional<TrialMetrics> cached_metrics(const std::string& hash, Subset subset) const override {
    for (const auto& t : trials_)
      if (t.plan_hash == hash && t.subset == subset && t.state == TrialState::Complete && !t.parent) return t.metrics;
    return std::nullopt;
  }
  std::vector<Trial> trials(const std::string& origin) const override {
    std::vector<Trial> out;
    for (const auto& t : trials_)
      if (origin.empty() || t.origin == origin) out.push_back(t);
    return out;
  }
  std::optional<Trial> trial(int64_t id) const override {
    if (id < 1 || id > static_cast<int64_t>(trials_.size())) return std::nullopt;
    return trials_[static_cast<size_t>(id - 1)];
  }

  void put_layer_states(const std::string& key, const nlohmann::json& states) override { states_[key] = states; }
  std::optional<nlohmann::json> layer_states(const std::string& key) const override {
    auto it = states_.find(key);
    if (it == states_.end()) return std::nullopt;
    return it->second;
  }
  void put_blob(const std::string& name, const std::string& bytes) override { blobs_[name] = bytes; }
  std::optional<std::string> blob(const std::string& name) const override {
    auto it = blobs_.find(name);
    if (it == blobs_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<std::string> layer_state_keys() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : states_) out.push_back(k);
    return out;
  }
  std::vector<std::string> blob_names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : blobs_) out.push_back(k);
    return out;
  }
  int64_t import_trial(const Trial& trial, int64_t plan_id, std::optional<int64_t> parent) override {
    if (trial.state == TrialState::Running) throw Error("study: a running trial cannot be imported");
    Trial t = trial;
    t.id = static_cast<int64_t>(trials_.size()) + 1;
    t.plan_id = plan_id;
    auto p = plan(plan_id);
    if (!p) throw Error("study: no plan " + std::to_string(plan_id));
    t.plan_hash = p->hash;
    t.parent = parent;
    if (t.metrics) t.metrics->subset = t.subset;
    trials_.push_back(t);
    return t.id;
  }

  // One process: every claim is this process's.
  int64_t claim(const std::string&) override { return 0; }
  void release(const std::string&) override {}

  int recover_interrupted() override {
    int n = 0;
    for (auto& t : trials_)
      if (t.state == TrialState::Running) {
        t.state = TrialState::Fail;
        t.error = "interrupted";
        t.finished = now_seconds();
        ++n;
      }
    return n;
  }

 private:
  StudyRecord study_;
  std::vector<PlanRecord> plans_;
  std::vector<Trial> trials_;
  std::map<std::string, nlohmann::json> states_;
  std::map<std::string, std::string> blobs_;
};

}  // namespace

std::unique_ptr<StudyStore> create_memory_study(const StudyRecord& study) {
  return std::make_unique<MemoryStudy>(study);
}

}  // namespace hipp
