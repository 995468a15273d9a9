// The SQLite study store. Schema history:
//   v1  study, plans, trials, metrics, layer_states
//   v2  trials.subset (search or full set), trials.owner (the process id of
//       the writer that runs a trial) and the blobs table
#include <sqlite3.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "eval/metrics.h"
#include "study/store.h"

namespace hipp {
namespace fs = std::filesystem;

StudyClaim::StudyClaim(StudyStore& store, const std::string& name, const std::string& what)
    : store_(store), name_(name) {
  if (const int64_t holder = store_.claim(name_))
    throw Error(what + " is running in another process (pid " + std::to_string(holder) +
                "); wait for it to finish, or stop it");
}

StudyClaim::~StudyClaim() {
  try {
    store_.release(name_);
  } catch (...) {
    // A claim left behind is freed when this process is gone.
  }
}

std::string trial_state_name(TrialState state) {
  switch (state) {
    case TrialState::Running:
      return "RUNNING";
    case TrialState::Complete:
      return "COMPLETE";
    case TrialState::Fail:
      return "FAIL";
  }
  return "FAIL";
}

const char* subset_name(Subset subset) { return subset == Subset::Full ? "full" : "search"; }

Subset parse_subset(const std::string& text) {
  if (text == "search") return Subset::Search;
  if (text == "full") return Subset::Full;
  throw Error("unknown subset '" + text + "' (search or full)");
}

namespace {

TrialState parse_state(const std::string& s) {
  if (s == "RUNNING") return TrialState::Running;
  if (s == "COMPLETE") return TrialState::Complete;
  return TrialState::Fail;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* kSchemaV1 = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE study (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  model_dir TEXT NOT NULL, model_fingerprint TEXT NOT NULL,
  bench_dir TEXT NOT NULL, bench_fingerprint TEXT NOT NULL,
  settings TEXT NOT NULL, dense TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE plans (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, blueprint TEXT NOT NULL);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY, plan_id INTEGER NOT NULL REFERENCES plans(id),
  origin TEXT NOT NULL, pref_rob REAL, pref_util REAL, pref_comp REAL,
  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETE', 'FAIL')),
  error TEXT NOT NULL DEFAULT '', started REAL NOT NULL, finished REAL);
CREATE INDEX trials_plan ON trials(plan_id);
CREATE TABLE metrics (
  trial_id INTEGER PRIMARY KEY REFERENCES trials(id),
  robustness REAL NOT NULL, utility REAL NOT NULL, compression REAL NOT NULL, raw TEXT NOT NULL);
CREATE TABLE layer_states (key TEXT PRIMARY KEY, states TEXT NOT NULL);
INSERT INTO schema_version VALUES (1);
)sql";

const char* kMigrateV1ToV2 = R"sql(
ALTER TABLE trials ADD COLUMN subset TEXT NOT NULL DEFAULT 'search';
ALTER TABLE trials ADD COLUMN owner INTEGER;
CREATE TABLE blobs (name TEXT PRIMARY KEY, bytes BLOB NOT NULL);
UPDATE schema_version SET version = 2;
)sql";

const char* kMigrateV2ToV3 = R"sql(
ALTER TABLE trials ADD COLUMN parent INTEGER REFERENCES trials(id);
ALTER TABLE trials ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
UPDATE schema_version SET version = 3;
)sql";

// SQLite's message, with the operating system's reason where a system call
// failed ("disk I/O error (File too large)" under a file-size limit).
std::string sqlite_error(sqlite3* db) {
  std::string message = sqlite3_errmsg(db);
  const int code = sqlite3_extended_errcode(db) & 0xff;
  const int system = sqlite3_system_errno(db);
  if ((code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) && system != 0)
    message += std::string(" (") + std::strerror(system) + ")";
  return message;
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      throw Error(where_ + ": " + sqlite_error(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  Statement& bind_blob(int i, const std::string& bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // True while there is a row.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(where_ + ": " + sqlite_error(db_));
  }
  std::string text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i))) : "";
  }
  std::string blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, i))) : "";
  }
  int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }
  double real(int i) const { return sqlite3_column_double(stmt_, i); }
  bool is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string where_;
};

// Whether `pid` is a process on this machine other than this one that still
// runs (a trial's writer, a claim's holder).
bool another_live_process(pid_t pid) { return pid > 0 && pid != ::getpid() && (::kill(pid, 0) == 0 || errno == EPERM); }

class SqliteStudy : public StudyStore {
 public:
  SqliteStudy(const std::string& path, bool create, bool read_only = false) : path_(path), read_only_(read_only) {
    const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | (create ? SQLITE_OPEN_CREATE : 0) |
                      SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite_error(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error(path + ": cannot open study (" + message + ")");
    }
    sqlite3_busy_timeout(db_, 30000);
    try {
      // Nothing is written before the file is known to be a study (WAL mode
      // is set by create_schema and open_existing): a file that is not one is
      // reported, never converted.
      exec("PRAGMA foreign_keys = ON");
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteStudy() override { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
      throw Error(path_ + ": " + sqlite_error(db_));
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT (rolled back on error).
  template <typename F>
  auto write(F&& body) {
    if (read_only_) throw Error(path_ + ": opened read-only");
    exec("BEGIN IMMEDIATE");
    try {
      if constexpr (std::is_void_v<decltype(body())>) {
        body();
        exec("COMMIT");
      } else {
        auto result = body();
        exec("COMMIT");
        return result;
      }
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  Statement prepare(const std::string& sql) const { return Statement(db_, sql, path_); }

  int version() const {
    Statement has(db_, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", path_);
    has.step();
    if (has.integer(0) == 0) throw Error(path_ + ": not a hipp-prune study (no schema_version table)");
    Statement s(db_, "SELECT version FROM schema_version", path_);
    if (!s.step()) throw Error(path_ + ": the study has no schema version row");
    return static_cast<int>(s.integer(0));
  }

  void use_wal() {
    exec("PRAGMA journal_mode = WAL");
    exec("PRAGMA synchronous = NORMAL");
  }

  void create_schema(const StudyRecord& study) {
    use_wal();
    write([&] {
      exec(kSchemaV1);
      exec(kMigrateV1ToV2);
      exec(kMigrateV2ToV3);
      auto s = prepare(
          "INSERT INTO study (id, model_dir, model_fingerprint, bench_dir, bench_fingerprint, settings, dense, "
          "created) "
          "VALUES (1, ?, ?, ?, ?, ?, ?, ?)");
      s.bind(1, study.model_dir).bind(2, study.model_fingerprint).bind(3, study.bench_dir);
      s.bind(4, study.bench_fingerprint).bind(5, study.settings.dump()).bind(6, study.dense.dump());
      s.bind(7, study.created > 0 ? study.created : now_seconds());
      s.step();
    });
    set_user_version();
  }

  void open_existing() {
    {
      auto check = prepare("PRAGMA integrity_check");
      check.step();
      if (check.text(0) != "ok") {
        // One line: the first problem SQLite names, and how many there are.
        std::vector<std::string> problems;
        do {
          std::istringstream lines(check.text(0));
          for (std::string line; std::getline(lines, line);)
            if (!line.empty()) problems.push_back(line);
        } while (check.step());
        throw Error(path_ + ": the study file is damaged (" + (problems.empty() ? "" : problems.front()) +
                    (problems.size() > 1 ? "; " + std::to_string(problems.size() - 1) + " more problems" : "") +
                    "); restore it from a copy");
      }
    }
    {
      // The schema version is kept twice: the schema_version table and
      // SQLite's own user_version (0 in files written before it was set).
      auto s = prepare("PRAGMA user_version");
      s.step();
      if (s.integer(0) > kStudySchemaVersion)
        throw Error(path_ + ": study schema version " + std::to_string(s.integer(0)) +
                    " is newer than this build reads (" + std::to_string(kStudySchemaVersion) + ")");
    }
    const int v = version();
    if (v > kStudySchemaVersion)
      throw Error(path_ + ": study schema version " + std::to_string(v) + " is newer than this build reads (" +
                  std::to_string(kStudySchemaVersion) + ")");
    if (v < 1) throw Error(path_ + ": unknown study schema version " + std::to_string(v));
    if (read_only_) {
      // An older study is read through an upgraded copy in memory: the file
      // itself is never changed by a reader.
      if (v < kStudySchemaVersion) {
        copy_into_memory();
        read_only_ = false;
        migrate(v);
        read_only_ = true;
      }
      return;
    }
    use_wal();
    migrate(v);
    recover_interrupted();
  }

  void migrate(int from) {
    if (from == 1) write([&] { exec(kMigrateV1ToV2); });
    if (from <= 2) write([&] { exec(kMigrateV2ToV3); });
    set_user_version();
  }

  void set_user_version() {
    auto s = prepare("PRAGMA user_version");
    s.step();
    if (s.integer(0) != kStudySchemaVersion) exec("PRAGMA user_version = " + std::to_string(kStudySchemaVersion));
  }

  // Replaces the connection by an in-memory copy of the database.
  void copy_into_memory() {
    sqlite3* memory = nullptr;
    if (sqlite3_open_v2(":memory:", &memory, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      sqlite3_close(memory);
      throw Error(path_ + ": cannot open a memory copy of the study");
    }
    sqlite3_backup* backup = sqlite3_backup_init(memory, "main", db_, "main");
    const int rc = backup ? sqlite3_backup_step(backup, -1) : sqlite3_errcode(memory);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) {
      const std::string message = sqlite3_errmsg(memory);
      sqlite3_close(memory);
      throw Error(path_ + ": cannot read the study (" + message + ")");
    }
    sqlite3_close(db_);
    db_ = memory;
    exec("PRAGMA foreign_keys = ON");
  }

  StudyRecord study() const override {
    auto s = prepare(
        "SELECT model_dir, model_fingerprint, bench_dir, bench_fingerprint, settings, dense, created FROM study");
    if (!s.step()) throw Error(path_ + ": the study row is missing");
    StudyRecord r;
    r.model_dir = s.text(0);
    r.model_fingerprint = s.text(1);
    r.bench_dir = s.text(2);
    r.bench_fingerprint = s.text(3);
    r.settings = nlohmann::json::parse(s.text(4));
    r.dense = nlohmann::json::parse(s.text(5));
    if (r.dense.is_object())
      for (auto& [subset, result] : r.dense.items()) upgrade_result_json(result);
    r.created = s.real(6);
    return r;
  }

  void set_dense_metrics(Subset subset, const nlohmann::json& metrics) override {
    write([&] {
      auto dense = study().dense;
      dense[subset_name(subset)] = metrics;
      prepare("UPDATE study SET dense = ?").bind(1, dense.dump()).step();
    });
  }

  int64_t add_plan(const std::string& hash, const nlohmann::json& blueprint) override {
    return write([&] {
      prepare("INSERT OR IGNORE INTO plans (hash, blueprint) VALUES (?, ?)")
          .bind(1, hash)
          .bind(2, blueprint.dump())
          .step();
      auto s = prepare("SELECT id FROM plans WHERE hash = ?");
      s.bind(1, hash);
      s.step();
      return s.integer(0);
    });
  }

  std::optional<PlanRecord> read_plan(const std::string& where, const std::function<void(Statement&)>& bind) const {
    auto s = prepare("SELECT id, hash, blueprint FROM plans WHERE " + where);
    bind(s);
    if (!s.step()) return std::nullopt;
    return PlanRecord{s.integer(0), s.text(1), nlohmann::json::parse(s.text(2))};
  }
  std::optional<PlanRecord> plan(int64_t id) const override {
    return read_plan("id = ?", [&](Statement& s) { s.bind(1, id); });
  }
  std::optional<PlanRecord> plan_by_hash(const std::string& hash) const override {
    return read_plan("hash = ?", [&](Statement& s) { s.bind(1, hash); });
  }

  int64_t start_trial(int64_t plan_id, const std::string& origin, const std::optional<Preference>& preference,
                      Subset subset) override {
    return write([&] {
      auto s = prepare(
          "INSERT INTO trials (plan_id, origin, pref_rob, pref_util, pref_comp, state, started, subset, owner) "
          "VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, ?, ?)");
      s.bind(1, plan_id).bind(2, origin);
      for (int i = 0; i < 3; ++i) {
        if (preference) {
          s.bind(3 + i, (*preference)[static_cast<size_t>(i)]);
        } else {
          s.bind_null(3 + i);
        }
      }
      s.bind(6, now_seconds()).bind(7, subset_name(subset)).bind(8, static_cast<int64_t>(::getpid()));
      s.step();
      return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    });
  }

  int64_t start_child_trial(int64_t parent_id, const std::string& origin, Subset subset,
                            const nlohmann::json& details) override {
    const auto parent = trial(parent_id);
    if (!parent) throw Error(path_ + ": no trial " + std::to_string(parent_id));
    return write([&] {
      auto s = prepare(
          "INSERT INTO trials (plan_id, origin, pref_rob, pref_util, pref_comp, state, started, subset, owner, "
          "parent, details) VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?, ?)");
      s.bind(1, parent->plan_id).bind(2, origin);
      for (int i = 0; i < 3; ++i) {
        if (parent->preference) {
          s.bind(3 + i, (*parent->preference)[static_cast<size_t>(i)]);
        } else {
          s.bind_null(3 + i);
        }
      }
      s.bind(6, now_seconds()).bind(7, subset_name(subset)).bind(8, static_cast<int64_t>(::getpid()));
      s.bind(9, parent_id).bind(10, details.dump());
      s.step();
      return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    });
  }

  void finish_trial(int64_t id, const TrialMetrics& m) override {
    write([&] {
      require_running(id);
      auto s = prepare("INSERT INTO metrics (trial_id, robustness, utility, compression, raw) VALUES (?, ?, ?, ?, ?)");
      s.bind(1, id).bind(2, m.objectives.robustness).bind(3, m.objectives.utility).bind(4, m.objectives.compression);
      s.bind(5, m.raw.dump()).step();
      prepare("UPDATE trials SET state = 'COMPLETE', finished = ?, subset = ? WHERE id = ?")
          .bind(1, now_seconds())
          .bind(2, subset_name(m.subset))
          .bind(3, id)
          .step();
    });
  }

  void fail_trial(int64_t id, const std::string& error) override {
    write([&] {
      require_running(id);
      prepare("UPDATE trials SET state = 'FAIL', finished = ?, error = ? WHERE id = ?")
          .bind(1, now_seconds())
          .bind(2, error)
          .bind(3, id)
          .step();
    });
  }

  void require_running(int64_t id) {
    auto s = prepare("SELECT state FROM trials WHERE id = ?");
    s.bind(1, id);
    if (!s.step()) throw Error(path_ + ": no trial " + std::to_string(id));
    if (s.text(0) != "RUNNING") throw Error(path_ + ": trial " + std::to_string(id) + " is already " + s.text(0));
  }

  std::optional<TrialMetrics> cached_metrics(const std::string& hash, Subset subset) const override {
    auto s = prepare(
        "SELECT m.robustness, m.utility, m.compression, m.raw FROM metrics m JOIN trials t ON t.id = m.trial_id "
        "JOIN plans p ON p.id = t.plan_id WHERE p.hash = ? AND t.subset = ? AND t.state = 'COMPLETE' AND t.parent IS "
        "NULL "
        "ORDER BY t.id LIMIT 1");
    s.bind(1, hash).bind(2, subset_name(subset));
    if (!s.step()) return std::nullopt;
    TrialMetrics m;
    m.subset = subset;
    m.objectives = {s.real(0), s.real(1), s.real(2)};
    m.raw = nlohmann::json::parse(s.text(3));
    upgrade_result_json(m.raw);
    return m;
  }

  std::vector<Trial> read_trials(const std::string& where, const std::function<void(Statement&)>& bind) const {
    auto s = prepare(
        "SELECT t.id, t.plan_id, p.hash, t.origin, t.pref_rob, t.pref_util, t.pref_comp, t.state, t.error, t.started, "
        "t.finished, t.subset, m.robustness, m.utility, m.compression, m.raw, t.parent, t.details FROM trials t JOIN "
        "plans p ON p.id = "
        "t.plan_id LEFT JOIN metrics m ON m.trial_id = t.id " +
        where + " ORDER BY t.id");
    bind(s);
    std::vector<Trial> out;
    while (s.step()) {
      Trial t;
      t.id = s.integer(0);
      t.plan_id = s.integer(1);
      t.plan_hash = s.text(2);
      t.origin = s.text(3);
      if (!s.is_null(4)) t.preference = Preference{s.real(4), s.real(5), s.real(6)};
      t.state = parse_state(s.text(7));
      t.error = s.text(8);
      t.started = s.real(9);
      t.finished = s.is_null(10) ? 0 : s.real(10);
      try {
        t.subset = parse_subset(s.text(11));
      } catch (const Error& e) {
        throw Error(path_ + ": trial " + std::to_string(t.id) + ": " + e.what());
      }
      if (!s.is_null(12)) {
        TrialMetrics m;
        m.subset = t.subset;
        m.objectives = {s.real(12), s.real(13), s.real(14)};
        m.raw = nlohmann::json::parse(s.text(15));
        upgrade_result_json(m.raw);
        t.metrics = m;
      }
      if (!s.is_null(16)) t.parent = s.integer(16);
      t.details = nlohmann::json::parse(s.text(17));
      out.push_back(std::move(t));
    }
    return out;
  }
  std::vector<Trial> trials(const std::string& origin) const override {
    if (origin.empty()) return read_trials("", [](Statement&) {});
    return read_trials("WHERE t.origin = ?", [&](Statement& s) { s.bind(1, origin); });
  }
  std::optional<Trial> trial(int64_t id) const override {
    auto found = read_trials("WHERE t.id = ?", [&](Statement& s) { s.bind(1, id); });
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  void put_layer_states(const std::string& key, const nlohmann::json& states) override {
    write([&] {
      prepare("INSERT OR REPLACE INTO layer_states (key, states) VALUES (?, ?)")
          .bind(1, key)
          .bind(2, states.dump())
          .step();
    });
  }
  std::optional<nlohmann::json> layer_states(const std::string& key) const override {
    auto s = prepare("SELECT states FROM layer_states WHERE key = ?");
    s.bind(1, key);
    if (!s.step()) return std::nullopt;
    return nlohmann::json::parse(s.text(0));
  }
  void put_blob(const std::string& name, const std::string& bytes) override {
    write([&] {
      prepare("INSERT OR REPLACE INTO blobs (name, bytes) VALUES (?, ?)").bind(1, name).bind_blob(2, bytes).step();
    });
  }
  std::optional<std::string> blob(const std::string& name) const override {
    auto s = prepare("SELECT bytes FROM blobs WHERE name = ?");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return s.blob(0);
  }

  std::vector<std::string> layer_state_keys() const override {
    std::vector<std::string> out;
    auto s = prepare("SELECT key FROM layer_states ORDER BY key");
    while (s.step()) out.push_back(s.text(0));
    return out;
  }
  std::vector<std::string> blob_names() const override {
    std::vector<std::string> out;
    auto s = prepare("SELECT name FROM blobs WHERE name NOT LIKE 'claim:%' ORDER BY name");
    while (s.step()) out.push_back(s.text(0));
    return out;
  }

  int64_t import_trial(const Trial& t, int64_t plan_id, std::optional<int64_t> parent) override {
    if (t.state == TrialState::Running) throw Error(path_ + ": a running trial cannot be imported");
    return write([&] {
      auto s = prepare(
          "INSERT INTO trials (plan_id, origin, pref_rob, pref_util, pref_comp, state, error, started, finished, "
          "subset, owner, parent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)");
      s.bind(1, plan_id).bind(2, t.origin);
      for (int i = 0; i < 3; ++i) {
        if (t.preference) {
          s.bind(3 + i, (*t.preference)[static_cast<size_t>(i)]);
        } else {
          s.bind_null(3 + i);
        }
      }
      s.bind(6, trial_state_name(t.state)).bind(7, t.error).bind(8, t.started).bind(9, t.finished);
      s.bind(10, subset_name(t.subset));
      if (parent) {
        s.bind(11, *parent);
      } else {
        s.bind_null(11);
      }
      s.bind(12, t.details.dump());
      s.step();
      const auto id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
      if (t.metrics) {
        auto m =
            prepare("INSERT INTO metrics (trial_id, robustness, utility, compression, raw) VALUES (?, ?, ?, ?, ?)");
        m.bind(1, id).bind(2, t.metrics->objectives.robustness).bind(3, t.metrics->objectives.utility);
        m.bind(4, t.metrics->objectives.compression).bind(5, t.metrics->raw.dump()).step();
      }
      return id;
    });
  }

  // RUNNING trials whose writer process is gone (or unknown) become FAIL; a
  // trial that another live process on this machine is running is left alone.
  int recover_interrupted() override {
    return write([&] {
      std::vector<int64_t> orphans;
      {
        auto s = prepare("SELECT id, owner FROM trials WHERE state = 'RUNNING'");
        while (s.step()) {
          const bool known = !s.is_null(1);
          const auto owner = static_cast<pid_t>(s.integer(1));
          const bool alive = known && another_live_process(owner);
          if (!alive) orphans.push_back(s.integer(0));
        }
      }
      for (int64_t id : orphans)
        prepare("UPDATE trials SET state = 'FAIL', error = 'interrupted', finished = ? WHERE id = ?")
            .bind(1, now_seconds())
            .bind(2, id)
            .step();
      return static_cast<int>(orphans.size());
    });
  }

  int64_t claim(const std::string& name) override {
    return write([&]() -> int64_t {
      const std::string key = "claim:" + name;
      auto s = prepare("SELECT bytes FROM blobs WHERE name = ?");
      s.bind(1, key);
      if (s.step()) {
        const std::string holder = s.blob(0);
        const auto pid = static_cast<pid_t>(std::strtoll(holder.c_str(), nullptr, 10));
        if (another_live_process(pid)) return pid;
      }
      prepare("INSERT OR REPLACE INTO blobs (name, bytes) VALUES (?, ?)")
          .bind(1, key)
          .bind_blob(2, std::to_string(::getpid()))
          .step();
      return 0;
    });
  }

  void release(const std::string& name) override {
    write([&] {
      prepare("DELETE FROM blobs WHERE name = ? AND bytes = ?")
          .bind(1, "claim:" + name)
          .bind_blob(2, std::to_string(::getpid()))
          .step();
    });
  }

 private:
  std::string path_;
  bool read_only_ = false;
  sqlite3* db_ = nullptr;
};

}  // namespace

std::unique_ptr<StudyStore> create_sqlite_study(const std::string& path, const StudyRecord& study) {
  if (fs::exists(path)) throw Error(path + ": already exists; open it, or choose another file");
  if (const auto parent = fs::path(path).parent_path(); !parent.empty() && !fs::is_directory(parent))
    throw Error(path + ": folder " + parent.string() + " does not exist");
  try {
    auto store = std::make_unique<SqliteStudy>(path, true);
    store->create_schema(study);
    return store;
  } catch (...) {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ignored);
    throw;
  }
}

std::unique_ptr<StudyStore> open_sqlite_study(const std::string& path, bool read_only) {
  if (!fs::exists(path)) throw Error(path + ": no such study file");
  auto store = std::make_unique<SqliteStudy>(path, false, read_only);
  store->open_existing();
  return store;
}

int sqlite_study_version(const std::string& path) {
  if (!fs::exists(path)) throw Error(path + ": no such study file");
  SqliteStudy store(path, false, true);
  return store.version();
}

}  // namespace hipp
