#include "study/pg_store.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/paths.h"
#include "eval/metrics.h"

#ifdef HIPP_WITH_POSTGRESQL
#include <libpq-fe.h>
#endif

namespace hipp {

bool is_postgresql_url(const std::string& where) {
  return where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0;
}

std::string redacted_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(const std::string& s, const std::string& where) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1, lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) throw Error(where + ": malformed %-escape in '" + s + "'");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// The URL before its '?', and its non-empty query parameters.
std::pair<std::string, std::vector<std::string>> split_url(const std::string& url) {
  const auto question = url.find('?');
  std::vector<std::string> params;
  if (question != std::string::npos) {
    const std::string query = url.substr(question + 1);
    for (size_t start = 0; start <= query.size();) {
      const auto end = std::min(query.find('&', start), query.size());
      if (end > start) params.push_back(query.substr(start, end - start));
      start = end + 1;
    }
  }
  return {url.substr(0, question), params};
}

}  // namespace

std::string pg_study_url(const std::string& url, const std::string& name) {
  auto [base, params] = split_url(url);
  std::string out = base + "?study=";
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  for (const auto& param : params)
    if (param.rfind("study=", 0) != 0) out += "&" + param;
  return out;
}

PgStudyUrl parse_pg_study_url(const std::string& url, bool need_study) {
  const std::string shown = redacted_url(url);
  if (!is_postgresql_url(url)) throw Error(shown + ": not a postgresql:// URL");
  PgStudyUrl out;
  auto [base, params] = split_url(url);
  std::vector<std::string> kept;
  for (const auto& param : params) {
    const auto eq = param.find('=');
    const std::string key = param.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : percent_decoded(param.substr(eq + 1), shown);
    if (key == "study") {
      out.study = value;
    } else if (key == "lease") {
      char* end_ptr = nullptr;
      out.lease_seconds = std::strtod(value.c_str(), &end_ptr);
      if (value.empty() || *end_ptr != '\0' || !(out.lease_seconds >= 1 && out.lease_seconds <= 3600))
        throw Error(shown + ": lease must be a number of seconds from 1 to 3600, not '" + value + "'");
    } else {
      kept.push_back(param);
    }
  }
  if (out.study.empty() && need_study)
    throw Error(shown + ": name the study in the URL, e.g. postgresql://user@host:5432/db?study=NAME");
  for (char c : out.study)
    if (static_cast<unsigned char>(c) < 0x20) throw Error(shown + ": the study name holds a control character");
  out.conninfo = base;
  for (size_t i = 0; i < kept.size(); ++i) out.conninfo += (i == 0 ? "?" : "&") + kept[i];
  return out;
}

#ifndef HIPP_WITH_POSTGRESQL

bool postgresql_supported() { return false; }

namespace {
[[noreturn]] void unsupported(const std::string& url) {
  throw Error(redacted_url(url) +
              ": this build has no PostgreSQL support (install libpq-dev, then configure and build again)");
}
}  // namespace

std::unique_ptr<StudyStore> create_pg_study(const std::string& url, const StudyRecord&) { unsupported(url); }
bool pg_study_exists(const std::string& url) { unsupported(url); }
std::vector<std::string> pg_study_names(const std::string& url) { unsupported(url); }
void drop_pg_study(const std::string& url) { unsupported(url); }
std::unique_ptr<StudyStore> open_pg_study(const std::string& url, bool) { unsupported(url); }

#else

bool postgresql_supported() { return true; }

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_token() {
  std::random_device device;
  std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  static const char* digits = "0123456789abcdef";
  std::string token;
  for (int i = 0; i < 32; ++i) token += digits[rng() % 16];
  return token;
}

// The server's clock, the one every owner's heartbeat and lease are read on.
const char* kServerNow = "extract(epoch from clock_timestamp())";

const char* kSchema = R"sql(
CREATE TABLE hipp_schema (version INTEGER NOT NULL);
CREATE TABLE hipp_studies (
  id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,
  model_dir TEXT NOT NULL, model_fingerprint TEXT NOT NULL,
  bench_dir TEXT NOT NULL, bench_fingerprint TEXT NOT NULL,
  settings TEXT NOT NULL, dense TEXT NOT NULL, created DOUBLE PRECISION NOT NULL);
CREATE TABLE hipp_plans (
  id BIGSERIAL PRIMARY KEY, study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  hash TEXT NOT NULL, blueprint TEXT NOT NULL, UNIQUE (study_id, hash));
CREATE TABLE hipp_owners (
  token TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL,
  lease DOUBLE PRECISION NOT NULL, heartbeat DOUBLE PRECISION NOT NULL);
CREATE TABLE hipp_trials (
  id BIGSERIAL PRIMARY KEY, study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  plan_id BIGINT NOT NULL REFERENCES hipp_plans(id),
  origin TEXT NOT NULL, pref_rob DOUBLE PRECISION, pref_util DOUBLE PRECISION, pref_comp DOUBLE PRECISION,
  state TEXT NOT NULL CHECK (state IN ('RUNNING', 'COMPLETE', 'FAIL')),
  error TEXT NOT NULL DEFAULT '', started DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION,
  subset TEXT NOT NULL, owner TEXT, parent BIGINT REFERENCES hipp_trials(id), details TEXT NOT NULL DEFAULT '{}');
CREATE INDEX hipp_trials_study ON hipp_trials(study_id, id);
CREATE INDEX hipp_trials_plan ON hipp_trials(plan_id);
CREATE TABLE hipp_metrics (
  trial_id BIGINT PRIMARY KEY REFERENCES hipp_trials(id) ON DELETE CASCADE,
  robustness DOUBLE PRECISION NOT NULL, utility DOUBLE PRECISION NOT NULL,
  compression DOUBLE PRECISION NOT NULL, raw TEXT NOT NULL);
CREATE TABLE hipp_layer_states (
  study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  key TEXT NOT NULL, states TEXT NOT NULL, PRIMARY KEY (study_id, key));
CREATE TABLE hipp_blobs (
  study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL, bytes BYTEA NOT NULL, PRIMARY KEY (study_id, name));
CREATE TABLE hipp_claims (
  study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  name TEXT NOT NULL, owner TEXT NOT NULL, PRIMARY KEY (study_id, name));
)sql";

// Version 2: the evaluation queue, and owners that say which study they
// serve and whether they are workers (with a name to show).
const char* kSchemaV2 = R"sql(
ALTER TABLE hipp_owners ADD COLUMN IF NOT EXISTS study_id BIGINT;
ALTER TABLE hipp_owners ADD COLUMN IF NOT EXISTS worker TEXT;
CREATE TABLE IF NOT EXISTS hipp_queue (
  id BIGSERIAL PRIMARY KEY, study_id BIGINT NOT NULL REFERENCES hipp_studies(id) ON DELETE CASCADE,
  trial_id BIGINT NOT NULL UNIQUE REFERENCES hipp_trials(id) ON DELETE CASCADE,
  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  claimed_by TEXT, attempts INTEGER NOT NULL DEFAULT 0,
  enqueued DOUBLE PRECISION NOT NULL, claimed DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS hipp_queue_waiting ON hipp_queue(study_id, state, id);
)sql";

// The connection broke (server restart, network): the operation may be
// repeated on a new connection.
struct ConnectionLost : Error {
  using Error::Error;
};

// One statement parameter: text, binary bytes, or NULL.
struct Param {
  std::optional<std::string> value;
  bool binary = false;
  Param() = default;
  Param(std::string v) : value(std::move(v)) {}  // NOLINT: implicit by design
  Param(const char* v) : value(std::string(v)) {}
  Param(int64_t v) : value(std::to_string(v)) {}
  Param(double v) {
    char text[40];
    std::snprintf(text, sizeof text, "%.17g", v);
    value = text;
  }
  static Param bytes(const std::string& b) {
    Param p(b);
    p.binary = true;
    return p;
  }
  static Param null() { return Param(); }
};

template <typename T>
Param optional_param(const std::optional<T>& v) {
  return v ? Param(*v) : Param::null();
}

class Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  ~Result() { PQclear(r_); }
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  int rows() const { return PQntuples(r_); }
  bool is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
  }
  int64_t integer(int row, int col) const { return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10); }
  double real(int row, int col) const { return std::strtod(PQgetvalue(r_, row, col), nullptr); }

 private:
  PGresult* r_;
};

// One libpq connection with the statement helpers.
class Connection {
 public:
  Connection(std::string conninfo, std::string shown) : conninfo_(std::move(conninfo)), shown_(std::move(shown)) {
    conn_ = PQconnectdb(conninfo_.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string message = first_line(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw Error(shown_ + ": cannot connect (" + message + ")");
    }
    quiet();
  }
  ~Connection() {
    if (conn_) PQfinish(conn_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result run(const std::string& sql, const std::vector<Param>& params = {}, bool binary_result = false) {
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    for (const auto& p : params) {
      values.push_back(p.value ? p.value->data() : nullptr);
      lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
      formats.push_back(p.binary ? 1 : 0);
    }
    PGresult* r = PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                               lengths.data(), formats.data(), binary_result ? 1 : 0);
    const auto status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Result(r);
    const std::string message = first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    PQclear(r);
    if (PQstatus(conn_) != CONNECTION_OK) throw ConnectionLost(shown_ + ": connection lost (" + message + ")");
    throw Error(shown_ + ": " + message);
  }
  // Several statements, no parameters (the schema).
  void run_script(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    const std::string message = first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    PQclear(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
    if (PQstatus(conn_) != CONNECTION_OK) throw ConnectionLost(shown_ + ": connection lost (" + message + ")");
    throw Error(shown_ + ": " + message);
  }
  // A new connection after a lost one: tries for up to `seconds`.
  bool reconnect(double seconds, const std::atomic<bool>* stop = nullptr) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (true) {
      PQreset(conn_);
      if (PQstatus(conn_) == CONNECTION_OK) {
        quiet();
        return true;
      }
      if (std::chrono::steady_clock::now() >= until || (stop != nullptr && stop->load())) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }

 private:
  static std::string first_line(const char* text) {
    std::string s = text ? text : "";
    s = s.substr(0, s.find('\n'));
    return s.empty() ? "unknown error" : s;
  }
  void quiet() { PQclear(PQexec(conn_, "SET client_min_messages = warning")); }

  std::string conninfo_, shown_;
  PGconn* conn_ = nullptr;
};

// Repeats `f` on a new connection while the old one is lost (a minute at most).
template <typename F>
auto with_reconnect(Connection& c, F&& f) -> decltype(f()) {
  while (true) {
    try {
      return f();
    } catch (const ConnectionLost& e) {
      if (!c.reconnect(60)) throw Error(std::string(e.what()) + "; no new connection within a minute");
    }
  }
}

class PgStudy : public StudyStore, public EvaluationQueue {
 public:
  PgStudy(const std::string& url, bool read_only)
      : info_(parse_pg_study_url(url)), shown_(redacted_url(url)), read_only_(read_only) {
    db_ = std::make_unique<Connection>(info_.conninfo, shown_);
  }
  ~PgStudy() override {
    stop_heartbeat();
    if (!read_only_ && !owner_.empty()) {
      try {
        db_->run("DELETE FROM hipp_owners WHERE token = $1", {owner_});
      } catch (...) {
        // An owner row left behind expires with its lease.
      }
    }
  }

  // ---- opening -----------------------------------------------------------

  void create(const StudyRecord& r) {
    write([&] {
      db_->run("SELECT pg_advisory_xact_lock(7410339)");  // one schema creator at a time
      if (!has_schema()) {
        db_->run_script(kSchema);
        db_->run("INSERT INTO hipp_schema VALUES (1)");
      }
      check_version();
      upgrade_schema();
      if (db_->run("SELECT 1 FROM hipp_studies WHERE name = $1", {info_.study}).rows() > 0)
        throw Error(shown_ + ": study '" + info_.study + "' already exists; open it, or choose another name");
      auto res = db_->run(
          "INSERT INTO hipp_studies (name, model_dir, model_fingerprint, bench_dir, bench_fingerprint, settings, "
          "dense, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
          {info_.study, r.model_dir, r.model_fingerprint, r.bench_dir, r.bench_fingerprint, r.settings.dump(),
           r.dense.dump(), r.created ? r.created : now_seconds()});
      study_id_ = res.integer(0, 0);
      return 0;
    });
    become_owner();
  }

  void open() {
    with_reconnect(*db_, [&] {
      if (!has_schema())
        throw Error(shown_ + ": the database holds no hipp-prune studies (create one with study create --out URL)");
      check_version();
      if (!read_only_ && schema_version() < kPgSchemaVersion)
        write([&] {
          db_->run("SELECT pg_advisory_xact_lock(7410339)");
          upgrade_schema();
          return 0;
        });
      auto res = db_->run("SELECT id FROM hipp_studies WHERE name = $1", {info_.study});
      if (res.rows() == 0)
        throw Error(shown_ + ": no study '" + info_.study + "' in this database (study list URL shows them)");
      study_id_ = res.integer(0, 0);
      return 0;
    });
    if (read_only_) return;
    become_owner();
    recover_interrupted();
  }

  // ---- the contract ------------------------------------------------------

  StudyRecord study() const override {
    return read([&] {
      auto res = db_->run(
          "SELECT model_dir, model_fingerprint, bench_dir, bench_fingerprint, settings, dense, created FROM "
          "hipp_studies WHERE id = $1",
          {study_id_});
      if (res.rows() == 0) throw Error(shown_ + ": study '" + info_.study + "' was removed");
      StudyRecord r;
      r.model_dir = res.text(0, 0);
      r.model_fingerprint = res.text(0, 1);
      r.bench_dir = res.text(0, 2);
      r.bench_fingerprint = res.text(0, 3);
      r.settings = nlohmann::json::parse(res.text(0, 4));
      r.dense = nlohmann::json::parse(res.text(0, 5));
      if (r.dense.is_object())
        for (auto& [subset, result] : r.dense.items()) upgrade_result_json(result);
      r.created = res.real(0, 6);
      return r;
    });
  }

  void set_dense_metrics(Subset subset, const nlohmann::json& metrics) override {
    write([&] {
      auto res = db_->run("SELECT dense FROM hipp_studies WHERE id = $1 FOR UPDATE", {study_id_});
      auto dense = nlohmann::json::parse(res.text(0, 0));
      dense[subset_name(subset)] = metrics;
      db_->run("UPDATE hipp_studies SET dense = $1 WHERE id = $2", {dense.dump(), study_id_});
      return 0;
    });
  }

  int64_t add_plan(const std::string& hash, const nlohmann::json& blueprint) override {
    return write([&] {
      db_->run("INSERT INTO hipp_plans (study_id, hash, blueprint) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
               {study_id_, hash, blueprint.dump()});
      return db_->run("SELECT id FROM hipp_plans WHERE study_id = $1 AND hash = $2", {study_id_, hash}).integer(0, 0);
    });
  }
  std::optional<PlanRecord> plan(int64_t id) const override { return read_plan("id = $2", Param(id)); }
  std::optional<PlanRecord> plan_by_hash(const std::string& hash) const override {
    return read_plan("hash = $2", Param(hash));
  }

  int64_t start_trial(int64_t plan_id, const std::string& origin, const std::optional<Preference>& preference,
                      Subset subset) override {
    return write([&] {
      if (db_->run("SELECT 1 FROM hipp_plans WHERE id = $1 AND study_id = $2", {plan_id, study_id_}).rows() == 0)
        throw Error(shown_ + ": no plan " + std::to_string(plan_id));
      return insert_trial(plan_id, origin, preference, subset, std::nullopt, "{}");
    });
  }

  int64_t start_child_trial(int64_t parent_id, const std::string& origin, Subset subset,
                            const nlohmann::json& details) override {
    const auto parent = trial(parent_id);
    if (!parent) throw Error(shown_ + ": no trial " + std::to_string(parent_id));
    return write(
        [&] { return insert_trial(parent->plan_id, origin, parent->preference, subset, parent_id, details.dump()); });
  }

  void finish_trial(int64_t id, const TrialMetrics& m) override {
    write([&] {
      require_running(id);
      db_->run("INSERT INTO hipp_metrics (trial_id, robustness, utility, compression, raw) VALUES ($1, $2, $3, $4, $5)",
               {id, m.objectives.robustness, m.objectives.utility, m.objectives.compression, m.raw.dump()});
      db_->run("UPDATE hipp_trials SET state = 'COMPLETE', finished = $1, subset = $2 WHERE id = $3",
               {now_seconds(), subset_name(m.subset), id});
      return 0;
    });
  }

  void fail_trial(int64_t id, const std::string& error) override {
    write([&] {
      require_running(id);
      db_->run("UPDATE hipp_trials SET state = 'FAIL', finished = $1, error = $2 WHERE id = $3",
               {now_seconds(), error, id});
      return 0;
    });
  }

  std::optional<TrialMetrics> cached_metrics(const std::string& hash, Subset subset) const override {
    return read([&]() -> std::optional<TrialMetrics> {
      auto res = db_->run(
          "SELECT m.robustness, m.utility, m.compression, m.raw FROM hipp_metrics m JOIN hipp_trials t ON t.id = "
          "m.trial_id JOIN hipp_plans p ON p.id = t.plan_id WHERE t.study_id = $1 AND p.hash = $2 AND t.subset = $3 "
          "AND t.state = 'COMPLETE' AND t.parent IS NULL ORDER BY t.id LIMIT 1",
          {study_id_, hash, subset_name(subset)});
      if (res.rows() == 0) return std::nullopt;
      TrialMetrics m;
      m.subset = subset;
      m.objectives = {res.real(0, 0), res.real(0, 1), res.real(0, 2)};
      m.raw = nlohmann::json::parse(res.text(0, 3));
      upgrade_result_json(m.raw);
      return m;
    });
  }

  std::vector<Trial> trials(const std::string& origin) const override {
    if (origin.empty()) return read_trials("", {});
    return read_trials("AND t.origin = $2", {Param(origin)});
  }
  std::optional<Trial> trial(int64_t id) const override {
    auto found = read_trials("AND t.id = $2", {Param(id)});
    if (found.empty()) return std::nullopt;
    return found.front();
  }

  void put_layer_states(const std::string& key, const nlohmann::json& states) override {
    write([&] {
      db_->run(
          "INSERT INTO hipp_layer_states (study_id, key, states) VALUES ($1, $2, $3) ON CONFLICT (study_id, key) DO "
          "UPDATE SET states = EXCLUDED.states",
          {study_id_, key, states.dump()});
      return 0;
    });
  }
  std::optional<nlohmann::json> layer_states(const std::string& key) const override {
    return read([&]() -> std::optional<nlohmann::json> {
      auto res = db_->run("SELECT states FROM hipp_layer_states WHERE study_id = $1 AND key = $2", {study_id_, key});
      if (res.rows() == 0) return std::nullopt;
      return nlohmann::json::parse(res.text(0, 0));
    });
  }
  void put_blob(const std::string& name, const std::string& bytes) override {
    write([&] {
      db_->run(
          "INSERT INTO hipp_blobs (study_id, name, bytes) VALUES ($1, $2, $3) ON CONFLICT (study_id, name) DO "
          "UPDATE SET bytes = EXCLUDED.bytes",
          {study_id_, name, Param::bytes(bytes)});
      return 0;
    });
  }
  std::optional<std::string> blob(const std::string& name) const override {
    return read([&]() -> std::optional<std::string> {
      auto res = db_->run("SELECT bytes FROM hipp_blobs WHERE study_id = $1 AND name = $2", {study_id_, name},
                          /*binary_result=*/true);
      if (res.rows() == 0) return std::nullopt;
      return res.text(0, 0);
    });
  }

  std::vector<std::string> layer_state_keys() const override {
    return names("SELECT key FROM hipp_layer_states WHERE study_id = $1 ORDER BY key");
  }
  std::vector<std::string> blob_names() const override {
    return names("SELECT name FROM hipp_blobs WHERE study_id = $1 ORDER BY name");
  }

  int64_t import_trial(const Trial& t, int64_t plan_id, std::optional<int64_t> parent) override {
    if (t.state == TrialState::Running) throw Error(shown_ + ": a running trial cannot be imported");
    return write([&] {
      auto pref = [&](size_t i) { return t.preference ? Param((*t.preference)[i]) : Param::null(); };
      const int64_t id =
          db_->run(
                 "INSERT INTO hipp_trials (study_id, plan_id, origin, pref_rob, pref_util, pref_comp, state, error, "
                 "started, finished, subset, owner, parent, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                 "$11, NULL, $12, $13) RETURNING id",
                 {study_id_, plan_id, t.origin, pref(0), pref(1), pref(2), trial_state_name(t.state), t.error,
                  t.started, t.finished, subset_name(t.subset), optional_param(parent), t.details.dump()})
              .integer(0, 0);
      if (t.metrics)
        db_->run(
            "INSERT INTO hipp_metrics (trial_id, robustness, utility, compression, raw) VALUES ($1, $2, $3, $4, $5)",
            {id, t.metrics->objectives.robustness, t.metrics->objectives.utility, t.metrics->objectives.compression,
             t.metrics->raw.dump()});
      return id;
    });
  }

  // RUNNING trials whose owner's lease has run out (or that this store
  // itself left running) become FAIL.
  int recover_interrupted() override {
    return write([&] {
      auto res = db_->run(std::string("UPDATE hipp_trials t SET state = 'FAIL', error = 'interrupted', finished = "
                                      "$1 WHERE t.study_id = $2 AND t.state = 'RUNNING' AND (t.owner IS NULL OR "
                                      "t.owner = $3 OR NOT EXISTS (SELECT 1 FROM hipp_owners o WHERE o.token = "
                                      "t.owner AND o.heartbeat > ") +
                              kServerNow + " - o.lease)) RETURNING t.id",
                          {now_seconds(), study_id_, owner_});
      return res.rows();
    });
  }

  int64_t claim(const std::string& name) override {
    return write([&]() -> int64_t {
      db_->run("INSERT INTO hipp_claims (study_id, name, owner) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
               {study_id_, name, owner_});
      auto res = db_->run(std::string("SELECT c.owner, o.pid, o.heartbeat > ") + kServerNow +
                              " - o.lease FROM hipp_claims c LEFT JOIN hipp_owners o ON o.token = c.owner WHERE "
                              "c.study_id = $1 AND c.name = $2 FOR UPDATE OF c",
                          {study_id_, name});
      const std::string holder = res.text(0, 0);
      const bool live = !res.is_null(0, 2) && res.text(0, 2) == "t";
      if (holder != owner_ && live) return std::max<int64_t>(1, res.integer(0, 1));
      db_->run("UPDATE hipp_claims SET owner = $1 WHERE study_id = $2 AND name = $3", {owner_, study_id_, name});
      return 0;
    });
  }

  void release(const std::string& name) override {
    write([&] {
      db_->run("DELETE FROM hipp_claims WHERE study_id = $1 AND name = $2 AND owner = $3", {study_id_, name, owner_});
      return 0;
    });
  }

  // ---- the evaluation queue ----------------------------------------------

  EvaluationQueue* evaluation_queue() override { return read_only_ ? nullptr : this; }

  std::vector<int64_t> enqueue(const std::vector<int64_t>& trial_ids) override {
    return write([&] {
      std::vector<int64_t> entries;
      for (int64_t trial : trial_ids) {
        auto res = db_->run("SELECT state FROM hipp_trials WHERE id = $1 AND study_id = $2", {trial, study_id_});
        if (res.rows() == 0 || res.text(0, 0) != "RUNNING")
          throw Error(shown_ + ": trial " + std::to_string(trial) + " is not a running trial of this study");
        // A trial is queued once (a repeated transaction finds its entry).
        db_->run(
            "INSERT INTO hipp_queue (study_id, trial_id, state, enqueued) VALUES ($1, $2, 'queued', $3) ON CONFLICT "
            "(trial_id) DO NOTHING",
            {study_id_, trial, now_seconds()});
        entries.push_back(db_->run("SELECT id FROM hipp_queue WHERE trial_id = $1", {trial}).integer(0, 0));
      }
      return entries;
    });
  }

  QueueProgress progress(const std::vector<int64_t>& entries) override {
    return read([&] {
      QueueProgress p;
      // An entry whose trial no longer runs was given up by its search; one
      // claimed by a worker that is gone waits for the next claim.
      auto res = db_->run(std::string("SELECT CASE WHEN q.state IN ('queued', 'running') AND t.state <> 'RUNNING' "
                                      "THEN 'cancelled' WHEN q.state = 'running' AND NOT ") +
                              live_owner("q.claimed_by") +
                              " THEN 'queued' ELSE q.state END, count(*) FROM hipp_queue q JOIN hipp_trials t ON t.id "
                              "= q.trial_id WHERE q.study_id = $1 AND q.id = ANY($2::bigint[]) GROUP BY 1",
                          {study_id_, id_array(entries)});
      for (int i = 0; i < res.rows(); ++i) {
        const std::string state = res.text(i, 0);
        const int n = static_cast<int>(res.integer(i, 1));
        (state == "queued"    ? p.queued
         : state == "running" ? p.running
         : state == "done"    ? p.done
         : state == "failed"  ? p.failed
                              : p.cancelled) += n;
      }
      p.workers = static_cast<int>(
          db_->run("SELECT count(*) FROM hipp_owners o WHERE o.study_id = $1 AND o.worker IS NOT NULL AND " +
                       live_owner("o.token"),
                   {study_id_})
              .integer(0, 0));
      return p;
    });
  }

  void withdraw(const std::vector<int64_t>& entries) override {
    write([&] {
      db_->run(
          "UPDATE hipp_queue SET state = 'cancelled' WHERE study_id = $1 AND id = ANY($2::bigint[]) AND state IN "
          "('queued', 'running')",
          {study_id_, id_array(entries)});
      return 0;
    });
  }

  void become_worker(const std::string& name) override {
    write([&] {
      db_->run("UPDATE hipp_owners SET worker = $1 WHERE token = $2", {name, owner_});
      return 0;
    });
  }

  std::optional<QueuedEvaluation> claim_next() override {
    return write([&]() -> std::optional<QueuedEvaluation> {
      // A worker holds one claim at a time: one it holds already was claimed
      // by a transaction whose answer a lost connection swallowed.
      auto res = db_->run(
          "SELECT id, trial_id, attempts FROM hipp_queue WHERE study_id = $1 AND claimed_by = $2 AND "
          "state = 'running' ORDER BY id LIMIT 1",
          {study_id_, owner_});
      // SKIP LOCKED: workers claiming at the same moment take different entries.
      if (res.rows() == 0)
        res = db_->run(
            std::string("UPDATE hipp_queue SET state = 'running', claimed_by = $2, attempts = attempts + 1, claimed = "
                        "$3 WHERE id = (SELECT q.id FROM hipp_queue q JOIN hipp_trials t ON t.id = q.trial_id WHERE "
                        "q.study_id = $1 AND t.state = 'RUNNING' AND (q.state = 'queued' OR (q.state = 'running' AND "
                        "NOT ") +
                live_owner("q.claimed_by") +
                ")) ORDER BY q.id LIMIT 1 FOR UPDATE OF q SKIP LOCKED) RETURNING id, trial_id, attempts",
            {study_id_, owner_, now_seconds()});
      if (res.rows() == 0) return std::nullopt;
      QueuedEvaluation e;
      e.id = res.integer(0, 0);
      e.trial_id = res.integer(0, 1);
      e.attempt = static_cast<int>(res.integer(0, 2));
      auto t = db_->run(
          "SELECT t.plan_id, p.hash, t.origin, t.subset, p.blueprint FROM hipp_trials t JOIN hipp_plans p ON p.id = "
          "t.plan_id WHERE t.id = $1",
          {e.trial_id});
      e.plan_id = t.integer(0, 0);
      e.plan_hash = t.text(0, 1);
      e.origin = t.text(0, 2);
      e.subset = parse_subset(t.text(0, 3));
      e.blueprint = nlohmann::json::parse(t.text(0, 4));
      return e;
    });
  }

  bool complete(const QueuedEvaluation& entry, const TrialMetrics& m) override {
    return settle(entry, "done", [&] {
      db_->run("INSERT INTO hipp_metrics (trial_id, robustness, utility, compression, raw) VALUES ($1, $2, $3, $4, $5)",
               {entry.trial_id, m.objectives.robustness, m.objectives.utility, m.objectives.compression, m.raw.dump()});
      db_->run("UPDATE hipp_trials SET state = 'COMPLETE', finished = $1, subset = $2 WHERE id = $3",
               {now_seconds(), subset_name(m.subset), entry.trial_id});
    });
  }

  bool fail(const QueuedEvaluation& entry, const std::string& error) override {
    return settle(entry, "failed", [&] {
      db_->run("UPDATE hipp_trials SET state = 'FAIL', finished = $1, error = $2 WHERE id = $3",
               {now_seconds(), error, entry.trial_id});
    });
  }

  void give_back(const QueuedEvaluation& entry) override {
    write([&] {
      db_->run(
          "UPDATE hipp_queue SET state = 'queued', claimed_by = NULL WHERE id = $1 AND claimed_by = $2 AND state = "
          "'running'",
          {entry.id, owner_});
      return 0;
    });
  }

 private:
  template <typename F>
  auto read(F&& f) const -> decltype(f()) {
    return with_reconnect(*db_, f);
  }
  // One transaction; repeated whole on a new connection if the old one is lost.
  template <typename F>
  auto write(F&& f) -> decltype(f()) {
    if (read_only_) throw Error(shown_ + ": opened read-only; this command does not write to the study");
    return with_reconnect(*db_, [&] {
      db_->run("BEGIN");
      try {
        auto r = f();
        db_->run("COMMIT");
        return r;
      } catch (const ConnectionLost&) {
        throw;
      } catch (...) {
        try {
          db_->run("ROLLBACK");
        } catch (...) {
          // The connection is gone: the server rolled back.
        }
        throw;
      }
    });
  }

  std::vector<std::string> names(const std::string& sql) const {
    return read([&] {
      auto res = db_->run(sql, {study_id_});
      std::vector<std::string> out;
      for (int i = 0; i < res.rows(); ++i) out.push_back(res.text(i, 0));
      return out;
    });
  }
  // SQL: whether the owner `token_column` names is alive (renewed within its lease).
  static std::string live_owner(const std::string& token_column) {
    return std::string("EXISTS (SELECT 1 FROM hipp_owners lo WHERE lo.token = ") + token_column +
           " AND lo.heartbeat > " + kServerNow + " - lo.lease)";
  }
  static std::string id_array(const std::vector<int64_t>& ids) {
    std::string out = "{";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "}";
  }
  // Ends a claimed entry as `state` with `record` (the trial's result), in
  // one transaction, when this worker still holds the claim and the trial
  // still runs. Repeated after a lost connection, it finds its own earlier
  // commit and says so.
  template <typename F>
  bool settle(const QueuedEvaluation& entry, const std::string& state, F&& record) {
    return write([&] {
      auto q = db_->run("SELECT state, claimed_by FROM hipp_queue WHERE id = $1 AND study_id = $2 FOR UPDATE",
                        {entry.id, study_id_});
      if (q.rows() == 0) return false;
      const bool mine = !q.is_null(0, 1) && q.text(0, 1) == owner_;
      if (q.text(0, 0) == state && mine) return true;
      if (q.text(0, 0) != "running" || !mine) return false;
      auto t = db_->run("SELECT state FROM hipp_trials WHERE id = $1 FOR UPDATE", {entry.trial_id});
      if (t.rows() == 0 || t.text(0, 0) != "RUNNING") {
        db_->run("UPDATE hipp_queue SET state = 'cancelled' WHERE id = $1", {entry.id});
        return false;
      }
      record();
      db_->run("UPDATE hipp_queue SET state = $1 WHERE id = $2", {state, entry.id});
      return true;
    });
  }
  bool has_schema() const { return db_->run("SELECT to_regclass('hipp_schema') IS NOT NULL").text(0, 0) == "t"; }
  int64_t schema_version() const {
    auto res = db_->run("SELECT max(version) FROM hipp_schema");
    return res.is_null(0, 0) ? 0 : res.integer(0, 0);
  }
  // Brings an older schema to this build's, inside the caller's transaction
  // (which holds the schema lock).
  void upgrade_schema() {
    if (schema_version() < 2) {
      db_->run_script(kSchemaV2);
      db_->run("UPDATE hipp_schema SET version = 2");
    }
  }
  void check_version() const {
    const int64_t v = schema_version();
    if (v > kPgSchemaVersion)
      throw Error(shown_ + ": study schema version " + std::to_string(v) + " is newer than this build reads (" +
                  std::to_string(kPgSchemaVersion) + ")");
    if (v < 1) throw Error(shown_ + ": unknown study schema version " + std::to_string(v));
  }

  // This store's owner row and the heartbeat that keeps it live.
  void become_owner() {
    owner_ = random_token();
    with_reconnect(*db_, [&] {
      db_->run(std::string("INSERT INTO hipp_owners (token, host, pid, lease, heartbeat, study_id) VALUES ($1, $2, "
                           "$3, $4, ") +
                   kServerNow + ", $5)",
               {owner_, host_name(), static_cast<int64_t>(::getpid()), info_.lease_seconds, study_id_});
      return 0;
    });
    heartbeat_ = std::thread([this] { beat(); });
  }
  void beat() {
    try {
      Connection c(info_.conninfo, shown_);
      std::unique_lock<std::mutex> lock(mutex_);
      const auto period = std::chrono::duration<double>(info_.lease_seconds / 4);
      while (!wake_.wait_for(lock, period, [&] { return stop_.load(); })) {
        try {
          c.run(std::string("UPDATE hipp_owners SET heartbeat = ") + kServerNow + " WHERE token = $1", {owner_});
        } catch (const ConnectionLost&) {
          c.reconnect(info_.lease_seconds / 4, &stop_);
        } catch (...) {
          // A failed renewal is tried again at the next beat.
        }
      }
    } catch (...) {
      // No heartbeat connection: this store's trials expire with its lease.
    }
  }
  void stop_heartbeat() {
    if (!heartbeat_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    heartbeat_.join();
  }

  int64_t insert_trial(int64_t plan_id, const std::string& origin, const std::optional<Preference>& w, Subset subset,
                       std::optional<int64_t> parent, const std::string& details) {
    auto pref = [&](size_t i) { return w ? Param((*w)[i]) : Param::null(); };
    return db_
        ->run(
            "INSERT INTO hipp_trials (study_id, plan_id, origin, pref_rob, pref_util, pref_comp, state, started, "
            "subset, owner, parent, details) VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', $7, $8, $9, $10, $11) "
            "RETURNING id",
            {study_id_, plan_id, origin, pref(0), pref(1), pref(2), now_seconds(), subset_name(subset), owner_,
             optional_param(parent), details})
        .integer(0, 0);
  }

  void require_running(int64_t id) {
    auto res = db_->run("SELECT state FROM hipp_trials WHERE id = $1 AND study_id = $2 FOR UPDATE", {id, study_id_});
    if (res.rows() == 0) throw Error(shown_ + ": no trial " + std::to_string(id));
    if (res.text(0, 0) != "RUNNING")
      throw Error(shown_ + ": trial " + std::to_string(id) + " is already " + res.text(0, 0));
  }

  std::optional<PlanRecord> read_plan(const std::string& where, const Param& key) const {
    return read([&]() -> std::optional<PlanRecord> {
      auto res =
          db_->run("SELECT id, hash, blueprint FROM hipp_plans WHERE study_id = $1 AND " + where, {study_id_, key});
      if (res.rows() == 0) return std::nullopt;
      return PlanRecord{res.integer(0, 0), res.text(0, 1), nlohmann::json::parse(res.text(0, 2))};
    });
  }

  std::vector<Trial> read_trials(const std::string& where, std::vector<Param> params) const {
    params.insert(params.begin(), Param(study_id_));
    return read([&] {
      auto res = db_->run(
          "SELECT t.id, t.plan_id, p.hash, t.origin, t.pref_rob, t.pref_util, t.pref_comp, t.state, t.error, "
          "t.started, t.finished, t.subset, m.robustness, m.utility, m.compression, m.raw, t.parent, t.details FROM "
          "hipp_trials t JOIN hipp_plans p ON p.id = t.plan_id LEFT JOIN hipp_metrics m ON m.trial_id = t.id WHERE "
          "t.study_id = $1 " +
              where + " ORDER BY t.id",
          params);
      std::vector<Trial> out;
      for (int i = 0; i < res.rows(); ++i) {
        Trial t;
        t.id = res.integer(i, 0);
        t.plan_id = res.integer(i, 1);
        t.plan_hash = res.text(i, 2);
        t.origin = res.text(i, 3);
        if (!res.is_null(i, 4)) t.preference = Preference{res.real(i, 4), res.real(i, 5), res.real(i, 6)};
        const std::string state = res.text(i, 7);
        t.state = state == "RUNNING"    ? TrialState::Running
                  : state == "COMPLETE" ? TrialState::Complete
                                        : TrialState::Fail;
        t.error = res.text(i, 8);
        t.started = res.real(i, 9);
        t.finished = res.is_null(i, 10) ? 0 : res.real(i, 10);
        try {
          t.subset = parse_subset(res.text(i, 11));
        } catch (const Error& e) {
          throw Error(shown_ + ": trial " + std::to_string(t.id) + ": " + e.what());
        }
        if (!res.is_null(i, 12)) {
          TrialMetrics m;
          m.subset = t.subset;
          m.objectives = {res.real(i, 12), res.real(i, 13), res.real(i, 14)};
          m.raw = nlohmann::json::parse(res.text(i, 15));
          upgrade_result_json(m.raw);
          t.metrics = m;
        }
        if (!res.is_null(i, 16)) t.parent = res.integer(i, 16);
        t.details = nlohmann::json::parse(res.text(i, 17));
        out.push_back(std::move(t));
      }
      return out;
    });
  }

  PgStudyUrl info_;
  std::string shown_;
  bool read_only_ = false;
  std::unique_ptr<Connection> db_;
  int64_t study_id_ = 0;
  std::string owner_;
  std::thread heartbeat_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> stop_{false};
};

}  // namespace

std::unique_ptr<StudyStore> create_pg_study(const std::string& url, const StudyRecord& study) {
  auto store = std::make_unique<PgStudy>(url, false);
  store->create(study);
  return store;
}

std::vector<std::string> pg_study_names(const std::string& url) {
  const auto info = parse_pg_study_url(url, false);
  Connection c(info.conninfo, redacted_url(url));
  std::vector<std::string> out;
  if (c.run("SELECT to_regclass('hipp_studies') IS NOT NULL").text(0, 0) != "t") return out;
  auto res = c.run("SELECT name FROM hipp_studies ORDER BY name");
  for (int i = 0; i < res.rows(); ++i) out.push_back(res.text(i, 0));
  return out;
}

void drop_pg_study(const std::string& url) {
  const auto info = parse_pg_study_url(url);
  Connection c(info.conninfo, redacted_url(url));
  if (c.run("SELECT to_regclass('hipp_studies') IS NOT NULL").text(0, 0) != "t") return;
  // Trials name their parents: the metrics and trials go first, then the rest by cascade.
  c.run("BEGIN");
  c.run(
      "DELETE FROM hipp_metrics WHERE trial_id IN (SELECT t.id FROM hipp_trials t JOIN hipp_studies s ON s.id = "
      "t.study_id WHERE s.name = $1)",
      {info.study});
  c.run("UPDATE hipp_trials SET parent = NULL WHERE study_id = (SELECT id FROM hipp_studies WHERE name = $1)",
        {info.study});
  c.run("DELETE FROM hipp_trials WHERE study_id = (SELECT id FROM hipp_studies WHERE name = $1)", {info.study});
  c.run("DELETE FROM hipp_studies WHERE name = $1", {info.study});
  c.run("COMMIT");
}

bool pg_study_exists(const std::string& url) {
  const auto info = parse_pg_study_url(url);
  Connection c(info.conninfo, redacted_url(url));
  if (c.run("SELECT to_regclass('hipp_studies') IS NOT NULL").text(0, 0) != "t") return false;
  return c.run("SELECT 1 FROM hipp_studies WHERE name = $1", {info.study}).rows() > 0;
}

std::unique_ptr<StudyStore> open_pg_study(const std::string& url, bool read_only) {
  auto store = std::make_unique<PgStudy>(url, read_only);
  store->open();
  return store;
}

#endif

}  // namespace hipp
