#pragma once
// The study store (docs/study.md): one search over one model + benchmark +
// settings, remembered in one SQLite file. Plans are unique by their
// canonical blueprint hash; a trial is one evaluation of a plan (origin:
// a baseline's name, a GRPO iteration, a user query, a fine-tune), with its
// state, timestamps, error text and, when complete, its objectives and raw
// metrics. Layer states and binary blobs (policy checkpoints) live beside
// them. Torch-free.
//
// Thread-safety contract: a StudyStore object is used by one thread at a
// time. Open one store per thread or process; any number of them may read
// while one writes (SQLite WAL mode, busy timeout), and no reader ever sees
// "database is locked". Every write is one transaction.
//
// Crash safety: a process killed mid-search loses at most the evaluation in
// flight. open_sqlite_study() runs PRAGMA integrity_check, migrates older
// schema versions, and marks trials left RUNNING by a process that no longer
// runs as FAIL ("interrupted"); each trial records its writer's process id.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hipp {

inline constexpr int kStudySchemaVersion = 3;

using Preference = std::array<double, 3>;  // (robustness, utility, compression), on the simplex

struct Objectives {
  double robustness = 0;   // POPE mean F1 / the dense model's
  double utility = 0;      // ScienceQA accuracy / the dense model's
  double compression = 0;  // achieved sparsity
};

// The questions a trial was scored on: the study's search subset or the
// full test sets. Its stored text is subset_name(): "search" or "full".
enum class Subset { Search, Full };
const char* subset_name(Subset subset);
// The subset a text names; anything else is an Error naming the text.
Subset parse_subset(const std::string& text);

struct TrialMetrics {
  Subset subset = Subset::Search;
  Objectives objectives;
  nlohmann::json raw = nlohmann::json::object();  // per-split POPE, ScienceQA, costs
};

enum class TrialState { Running, Complete, Fail };
std::string trial_state_name(TrialState state);

struct Trial {
  int64_t id = 0;
  int64_t plan_id = 0;
  std::string plan_hash;
  std::string origin;  // "uniform", "owl", "random", "nsga2", "grpo:3", "query", "finetune"
  std::optional<Preference> preference;
  TrialState state = TrialState::Running;
  std::string error;
  double started = 0, finished = 0;  // seconds since the Unix epoch
  Subset subset = Subset::Search;
  std::optional<TrialMetrics> metrics;  // complete trials
  // A child trial (a fine-tune of its parent's pruned model) names its
  // parent; its plan is the parent's, its weights are not, so its metrics
  // never serve as the plan's cached metrics.
  std::optional<int64_t> parent;
  nlohmann::json details = nlohmann::json::object();  // e.g. fine-tuning settings and steps
};

struct PlanRecord {
  int64_t id = 0;
  std::string hash;
  nlohmann::json blueprint;
};

struct StudyRecord {
  std::string model_dir, model_fingerprint;
  std::string bench_dir, bench_fingerprint;
  nlohmann::json settings = nlohmann::json::object();  // subset, calibration, importance, ...
  nlohmann::json dense = nlohmann::json::object();     // subset -> the dense model's raw metrics
  double created = 0;
};

// The evaluation queue of a study that many processes share (a PostgreSQL
// study, docs/distributed.md). A search enqueues RUNNING trials it started;
// workers claim them one at a time, score the plan and finish the trial. A
// claim lives as long as its worker's heartbeat: the evaluation of a worker
// that died is claimed again by another, and only the worker that holds a
// claim may record its result, so no evaluation is recorded twice.
struct QueuedEvaluation {
  int64_t id = 0;  // the queue entry
  int64_t trial_id = 0, plan_id = 0;
  std::string plan_hash, origin;
  Subset subset = Subset::Search;
  nlohmann::json blueprint;
  int attempt = 1;  // 2 and more: an earlier worker died holding it
};

// The state of a set of queue entries, and the workers serving the study.
struct QueueProgress {
  int queued = 0, running = 0, done = 0, failed = 0, cancelled = 0;
  int workers = 0;  // live workers of the study now
  int finished() const { return done + failed + cancelled; }
};

class EvaluationQueue {
 public:
  virtual ~EvaluationQueue() = default;
  // Queues RUNNING trials of this study, in order; returns their entries.
  virtual std::vector<int64_t> enqueue(const std::vector<int64_t>& trial_ids) = 0;
  virtual QueueProgress progress(const std::vector<int64_t>& entries) = 0;
  // Entries not yet finished are withdrawn (a search stopped by Ctrl-C).
  virtual void withdraw(const std::vector<int64_t>& entries) = 0;

  // Announces this store as a worker (counted by progress()); `name` is
  // shown to users (host and process id).
  virtual void become_worker(const std::string& name) = 0;
  // The oldest claimable entry, now this worker's; nullopt when none waits.
  virtual std::optional<QueuedEvaluation> claim_next() = 0;
  // Record the claimed evaluation's result (the trial finished or failed)
  // when this worker still holds the claim and the trial still runs;
  // returns false, recording nothing, when it does not.
  virtual bool complete(const QueuedEvaluation& entry, const TrialMetrics& metrics) = 0;
  virtual bool fail(const QueuedEvaluation& entry, const std::string& error) = 0;
  // Returns a claim to the queue unfinished (a worker stopped by Ctrl-C).
  virtual void give_back(const QueuedEvaluation& entry) = 0;
};

class StudyStore {
 public:
  virtual ~StudyStore() = default;
  virtual StudyRecord study() const = 0;
  virtual void set_dense_metrics(Subset subset, const nlohmann::json& metrics) = 0;

  // Returns the plan's id, inserting it when its hash is new.
  virtual int64_t add_plan(const std::string& hash, const nlohmann::json& blueprint) = 0;
  virtual std::optional<PlanRecord> plan(int64_t id) const = 0;
  virtual std::optional<PlanRecord> plan_by_hash(const std::string& hash) const = 0;

  // A RUNNING trial of a plan; finish_trial / fail_trial end it.
  virtual int64_t start_trial(int64_t plan_id, const std::string& origin, const std::optional<Preference>& preference,
                              Subset subset) = 0;
  // A RUNNING child trial of `parent_id`: same plan and preference, its own
  // origin, subset and details.
  virtual int64_t start_child_trial(int64_t parent_id, const std::string& origin, Subset subset,
                                    const nlohmann::json& details) = 0;
  virtual void finish_trial(int64_t trial_id, const TrialMetrics& metrics) = 0;
  virtual void fail_trial(int64_t trial_id, const std::string& error) = 0;
  // The metrics of a complete evaluation of this plan on this subset, if any
  // (child trials excluded).
  virtual std::optional<TrialMetrics> cached_metrics(const std::string& plan_hash, Subset subset) const = 0;
  // Every trial in id order; `origin` filters when not empty.
  virtual std::vector<Trial> trials(const std::string& origin = "") const = 0;
  virtual std::optional<Trial> trial(int64_t id) const = 0;

  virtual void put_layer_states(const std::string& key, const nlohmann::json& states) = 0;
  virtual std::optional<nlohmann::json> layer_states(const std::string& key) const = 0;
  virtual void put_blob(const std::string& name, const std::string& bytes) = 0;
  virtual std::optional<std::string> blob(const std::string& name) const = 0;
  // Every layer-state key and blob name (claims excluded), in name order.
  virtual std::vector<std::string> layer_state_keys() const = 0;
  virtual std::vector<std::string> blob_names() const = 0;

  // A finished trial as another store recorded it (a study copy): its
  // origin, preference, state, times, error, subset, metrics and details
  // kept; `plan_id` and `parent` are this store's. Returns its id here.
  virtual int64_t import_trial(const Trial& trial, int64_t plan_id, std::optional<int64_t> parent) = 0;

  // Marks trials left RUNNING by a dead writer as FAIL ("interrupted");
  // returns how many. (The memory store has one writer: all of them.)
  virtual int recover_interrupted() = 0;

  // Claims `name` (e.g. a policy training run) for this process, atomically:
  // returns 0 when this process holds it now, or the process id of the live
  // process that holds it. A claim of a process that has died is free.
  virtual int64_t claim(const std::string& name) = 0;
  // Gives up this process's claim on `name` (nothing when it holds none).
  virtual void release(const std::string& name) = 0;

  // The study's evaluation queue, for stores that many processes share
  // (PostgreSQL); nullptr for a SQLite file or memory, which evaluate in
  // the searching process.
  virtual EvaluationQueue* evaluation_queue() { return nullptr; }
};

// Holds a claim for its lifetime; throws hipp::Error naming the holder when
// another live process has it.
class StudyClaim {
 public:
  StudyClaim(StudyStore& store, const std::string& name, const std::string& what);
  ~StudyClaim();
  StudyClaim(const StudyClaim&) = delete;
  StudyClaim& operator=(const StudyClaim&) = delete;

 private:
  StudyStore& store_;
  std::string name_;
};

// The study at `where`: a postgresql:// URL (study/pg_store.h) or else a
// SQLite file. Every command that takes --study goes through these.
std::unique_ptr<StudyStore> create_study_store(const std::string& where, const StudyRecord& study);
std::unique_ptr<StudyStore> open_study_store(const std::string& where, bool read_only = false);
// Whether a study is there already (a file, or the URL's study name in its
// database); a server that cannot be reached is an Error.
bool study_store_exists(const std::string& where);

// Creates a new study file; refuses an existing path.
std::unique_ptr<StudyStore> create_sqlite_study(const std::string& path, const StudyRecord& study);
// Opens an existing study file: integrity check, migration, recovery of
// trials whose writer process has died. `read_only` (readers: the app's
// reader connection, study list/show, front, export) never changes the file:
// no migration (an older schema is upgraded in a copy in memory), no
// recovery, and every write is refused.
std::unique_ptr<StudyStore> open_sqlite_study(const std::string& path, bool read_only = false);
// The same contract in memory, for tests and throw-away searches.
std::unique_ptr<StudyStore> create_memory_study(const StudyRecord& study);

// The schema version stored in a study file (without opening it as a study).
int sqlite_study_version(const std::string& path);

}  // namespace hipp
