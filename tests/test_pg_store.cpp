// The PostgreSQL study store beyond the shared contract (test_study.cpp):
// owners and leases across processes, a server restart, schema versions,
// read-only use, URLs, and study copies between the backends. Every test
// runs on the tests' own server and is skipped when none can be started.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/error.h"
#include "postgres_server.h"
#include "study/copy.h"
#include "study/pg_store.h"
#include "study/store.h"
#include "support.h"

namespace hipp {
namespace {

StudyRecord record() { return test::sample_study(); }

TrialMetrics metrics(double rob) {
  TrialMetrics m;
  m.objectives = {rob, 0.8, 0.3};
  m.raw = {{"pope_mean_f1", rob}};
  return m;
}

class PgStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!postgresql_supported()) GTEST_SKIP() << "this build has no libpq";
    base_ = test::postgres_url(&why);
    if (base_.empty()) GTEST_SKIP() << "no PostgreSQL server for the tests: " << why;
  }
  // Runs SQL on the server with psql; returns its exit code.
  int psql(const std::string& url, const std::string& sql) {
    std::string out;
    return test::run_command("psql -q -v ON_ERROR_STOP=1 '" + url + "' -c \"" + sql + "\"", &out);
  }
  std::string base_;
};

TEST_F(PgStore, UrlsAreCheckedAndPasswordsNeverShown) {
  EXPECT_TRUE(is_postgresql_url("postgres://h/db?study=a"));
  EXPECT_FALSE(is_postgresql_url("/tmp/postgresql.sqlite"));
  const auto u = parse_pg_study_url("postgresql://me:secret@host:5433/db?sslmode=disable&study=my%20study&lease=7");
  EXPECT_EQ(u.study, "my study");
  EXPECT_EQ(u.lease_seconds, 7);
  EXPECT_EQ(u.conninfo, "postgresql://me:secret@host:5433/db?sslmode=disable");
  EXPECT_EQ(pg_study_url("postgresql://h/db?sslmode=disable&study=old", "a b&c"),
            "postgresql://h/db?study=a%20b%26c&sslmode=disable");
  EXPECT_EQ(parse_pg_study_url(pg_study_url("postgresql://h/db", "a b&c")).study, "a b&c");
  EXPECT_EQ(redacted_url("postgresql://me:secret@host/db?study=a"), "postgresql://me@host/db?study=a");
  for (const char* bad : {"postgresql://host/db", "postgresql://host/db?study=a&lease=0",
                          "postgresql://host/db?study=a&lease=x", "postgresql://host/db?study=%zz"}) {
    try {
      parse_pg_study_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos);
    }
  }
  const auto what = test::error_of([] { open_pg_study("postgresql://me:secret@127.0.0.1:1/db?study=a"); });
  EXPECT_NE(what.find("cannot connect"), std::string::npos) << what;
  EXPECT_EQ(what.find("secret"), std::string::npos) << what;
}

TEST_F(PgStore, StudiesShareADatabaseByName) {
  const auto a = test::postgres_study_url(base_), b = test::postgres_study_url(base_);
  auto sa = create_pg_study(a, record());
  auto sb = create_pg_study(b, record());
  EXPECT_THROW(create_pg_study(a, record()), Error);  // never two studies of one name
  sa->finish_trial(sa->start_trial(sa->add_plan("h", {}), "random", std::nullopt, Subset::Search), metrics(0.9));
  EXPECT_EQ(sa->trials().size(), 1u);
  EXPECT_TRUE(sb->trials().empty());  // the same plan hash in another study is another plan
  EXPECT_FALSE(sb->plan_by_hash("h"));
  const auto names = pg_study_names(base_);
  EXPECT_NE(std::find(names.begin(), names.end(), parse_pg_study_url(a).study), names.end());
  EXPECT_TRUE(pg_study_exists(a));
  EXPECT_FALSE(pg_study_exists(test::postgres_study_url(base_)));
  EXPECT_THROW(open_pg_study(test::postgres_study_url(base_)), Error);
}

TEST_F(PgStore, ReadersNeverWrite) {
  const auto url = test::postgres_study_url(base_);
  auto writer = create_pg_study(url, record());
  const auto running = writer->start_trial(writer->add_plan("h", {}), "random", std::nullopt, Subset::Search);
  auto reader = open_pg_study(url, /*read_only=*/true);
  EXPECT_EQ(reader->trials().size(), 1u);
  EXPECT_THROW(reader->add_plan("h2", {}), Error);
  EXPECT_THROW(reader->put_blob("b", "x"), Error);
  EXPECT_THROW(reader->claim("run"), Error);
  EXPECT_EQ(writer->trial(running)->state, TrialState::Running);  // a reader recovers nothing
}

// A writer in another process, SIGKILLed with a trial running: its trial
// stays RUNNING while its lease lasts (no one else may take it for dead),
// and is failed as interrupted by the first store opened after it expires.
TEST_F(PgStore, AKilledWritersTrialExpiresWithItsLease) {
  const auto url = test::postgres_study_url(base_, "&lease=2");
  create_pg_study(url, record());
  std::fflush(nullptr);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      auto store = open_pg_study(url);
      store->finish_trial(store->start_trial(store->add_plan("done", {}), "random", std::nullopt, Subset::Search),
                          metrics(0.9));
      store->start_trial(store->add_plan("in flight", {}), "random", std::nullopt, Subset::Search);
      if (write(ready[1], "x", 1) != 1) _exit(4);
      for (;;) pause();
    } catch (...) {
    }
    _exit(3);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  {
    // Alive: another store leaves its trial alone.
    auto other = open_pg_study(url);
    const auto trials = other->trials();
    ASSERT_EQ(trials.size(), 2u);
    EXPECT_EQ(trials[1].state, TrialState::Running);
    EXPECT_EQ(other->claim("train"), 0);  // claims are free while nobody holds them
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  {
    auto soon = open_pg_study(url);  // within the lease: still RUNNING
    EXPECT_EQ(soon->trials()[1].state, TrialState::Running);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  auto later = open_pg_study(url);
  const auto trials = later->trials();
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[1].state, TrialState::Fail);
  EXPECT_EQ(trials[1].error, "interrupted");
  close(ready[0]);
  close(ready[1]);
}

TEST_F(PgStore, ClaimsBelongToLiveOwners) {
  const auto url = test::postgres_study_url(base_, "&lease=2");
  create_pg_study(url, record());
  auto first = open_pg_study(url);
  auto second = open_pg_study(url);
  EXPECT_EQ(first->claim("run"), 0);
  EXPECT_EQ(first->claim("run"), 0);  // the holder again
  EXPECT_EQ(second->claim("run"), static_cast<int64_t>(getpid()));
  // Heartbeats keep the holder live past its lease.
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  EXPECT_EQ(second->claim("run"), static_cast<int64_t>(getpid()));
  first->release("run");
  EXPECT_EQ(second->claim("run"), 0);
  first.reset();
  EXPECT_EQ(open_pg_study(url)->claim("run"), static_cast<int64_t>(getpid()));  // second still holds it
}

TEST_F(PgStore, AServerRestartIsRiddenOut) {
  const auto url = test::postgres_study_url(base_);
  auto store = create_pg_study(url, record());
  const auto trial = store->start_trial(store->add_plan("h1", {}), "random", std::nullopt, Subset::Search);
  ASSERT_TRUE(test::restart_postgres());
  // Every connection was cut; the next operations reconnect and go on.
  store->finish_trial(trial, metrics(0.9));
  const auto t2 = store->start_trial(store->add_plan("h2", {}), "random", std::nullopt, Subset::Search);
  store->finish_trial(t2, metrics(0.8));
  const auto trials = store->trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::Complete);
  EXPECT_EQ(trials[1].state, TrialState::Complete);
}

TEST_F(PgStore, ANewerSchemaIsRefused) {
  // A database of its own: the schema version is the database's.
  const std::string db = "schema" + std::to_string(getpid());
  ASSERT_EQ(psql(base_, "CREATE DATABASE " + db), 0);
  const std::string base = base_.substr(0, base_.rfind('/') + 1) + db;
  const auto url = base + "?study=s";
  create_pg_study(url, record());
  ASSERT_EQ(psql(base, "UPDATE hipp_schema SET version = 99"), 0);
  const auto what = test::error_of([&] { open_pg_study(url); });
  EXPECT_NE(what.find("schema version 99 is newer"), std::string::npos) << what;
  EXPECT_THROW(create_pg_study(base + "?study=t", record()), Error);
}

// SQLite -> PostgreSQL -> SQLite keeps every trial as it was (times,
// metrics, failures, details, a fine-tune's parent), the layer states and
// the blobs.
TEST_F(PgStore, StudiesCopyBetweenBackends) {
  test::TempDir dir;
  const std::string a = dir.file("a.sqlite"), c = dir.file("c.sqlite");
  const auto b = test::postgres_study_url(base_);
  {
    auto s = create_sqlite_study(a, record());
    const auto p1 = s->add_plan("h1", {{"kept", {1, 2}}});
    const auto t1 = s->start_trial(p1, "grpo:1", Preference{0.5, 0.3, 0.2}, Subset::Search);
    s->finish_trial(t1, metrics(0.9));
    s->fail_trial(s->start_trial(s->add_plan("h2", {}), "random", std::nullopt, Subset::Full), "out of memory");
    const auto child = s->start_child_trial(t1, "finetune", Subset::Full, {{"steps", 40}, {"parent_trial", t1}});
    s->finish_trial(child, metrics(0.95));
    s->start_trial(p1, "query", std::nullopt, Subset::Search);  // still running: left out
    s->put_layer_states("states/wanda-sp", {{{"layer", 0}}});
    s->put_blob("hipp/checkpoint", std::string("\x00\x01policy", 8));
  }
  const auto there = copy_study(a, b);
  EXPECT_EQ(there.trials, 3);
  EXPECT_EQ(there.plans, 2);
  EXPECT_EQ(there.running_left_out, 1);
  EXPECT_EQ(there.layer_states, 1);
  EXPECT_EQ(there.blobs, 1);
  EXPECT_THROW(copy_study(a, b), Error);  // never into an existing study
  copy_study(b, c);

  auto from = open_sqlite_study(a, true), back = open_sqlite_study(c, true);
  const auto before = from->trials(), after = back->trials();
  ASSERT_EQ(after.size(), 3u);
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].origin, before[i].origin);
    EXPECT_EQ(after[i].state, before[i].state);
    EXPECT_EQ(after[i].error, before[i].error);
    EXPECT_EQ(after[i].subset, before[i].subset);
    EXPECT_EQ(after[i].preference, before[i].preference);
    EXPECT_DOUBLE_EQ(after[i].started, before[i].started);
    EXPECT_DOUBLE_EQ(after[i].finished, before[i].finished);
    EXPECT_EQ(after[i].plan_hash, before[i].plan_hash);
    EXPECT_EQ(after[i].metrics.has_value(), before[i].metrics.has_value());
    if (after[i].metrics) {
      EXPECT_EQ(after[i].metrics->raw, before[i].metrics->raw);
    }
  }
  ASSERT_TRUE(after[2].parent);
  EXPECT_EQ(*after[2].parent, after[0].id);
  EXPECT_EQ(after[2].details["parent_trial"], after[0].id);
  EXPECT_EQ(back->study().created, record().created);
  EXPECT_EQ(*back->blob("hipp/checkpoint"), std::string("\x00\x01policy", 8));
  EXPECT_TRUE(back->layer_states("states/wanda-sp"));
  EXPECT_EQ(back->plan_by_hash("h1")->blueprint, from->plan_by_hash("h1")->blueprint);
}

}  // namespace
}  // namespace hipp
