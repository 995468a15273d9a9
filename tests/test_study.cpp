#include <gtest/gtest.h>

#include <sqlite3.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <type_traits>

#include "core/error.h"
#include "postgres_server.h"
#include "study/pareto.h"
#include "study/pg_store.h"
#include "study/selection.h"
#include "study/store.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

using test::sample_study;

TrialMetrics metrics(double rob, double util, double comp, Subset subset = Subset::Search) {
  TrialMetrics m;
  m.subset = subset;
  m.objectives = {rob, util, comp};
  m.raw = {{"pope_mean_f1", rob * 0.9}};
  return m;
}

// ---- one suite, both implementations ------------------------------------------

struct SqliteFactory {
  test::TempDir dir;
  std::unique_ptr<StudyStore> make() { return create_sqlite_study(dir.file("study.sqlite"), sample_study()); }
};
struct MemoryFactory {
  std::unique_ptr<StudyStore> make() { return create_memory_study(sample_study()); }
};
// A fresh study on the tests' own PostgreSQL server.
struct PostgresFactory {
  std::unique_ptr<StudyStore> make() { return create_pg_study(test::postgres_study_url(base), sample_study()); }
  bool available(std::string* why) {
    if (!postgresql_supported()) {
      *why = "this build has no libpq";
      return false;
    }
    base = test::postgres_url(why);
    return !base.empty();
  }
  std::string base;
};

template <typename Factory>
class StoreContract : public ::testing::Test {
 protected:
  void SetUp() override {
    if constexpr (std::is_same_v<Factory, PostgresFactory>) {
      std::string why;
      if (!factory.available(&why)) GTEST_SKIP() << "no PostgreSQL server for the tests: " << why;
    }
  }
  Factory factory;
};
using Implementations = ::testing::Types<SqliteFactory, MemoryFactory, PostgresFactory>;
TYPED_TEST_SUITE(StoreContract, Implementations);

TYPED_TEST(StoreContract, StudyRecordRoundTrips) {
  auto store = this->factory.make();
  const auto s = store->study();
  EXPECT_EQ(s.model_fingerprint, "fp-model");
  EXPECT_EQ(s.settings["importance"], "wanda-sp");
  EXPECT_GT(s.created, 0);
  store->set_dense_metrics(Subset::Full, {{"pope_mean_f1", 0.8}});
  EXPECT_EQ(store->study().dense["full"]["pope_mean_f1"], 0.8);
  EXPECT_EQ(store->study().dense["search"]["pope_mean_f1"], 0.9);
}

TYPED_TEST(StoreContract, PlansAreUniqueByHash) {
  auto store = this->factory.make();
  const auto a = store->add_plan("h1", {{"sparsity", 0.3}});
  const auto b = store->add_plan("h2", {{"sparsity", 0.5}});
  EXPECT_NE(a, b);
  EXPECT_EQ(store->add_plan("h1", {{"sparsity", 0.3}}), a);
  EXPECT_EQ(store->plan(a)->blueprint["sparsity"], 0.3);
  EXPECT_EQ(store->plan_by_hash("h2")->id, b);
  EXPECT_FALSE(store->plan_by_hash("nope"));
  EXPECT_FALSE(store->plan(999));
}

TYPED_TEST(StoreContract, TrialLifecycleAndCacheHits) {
  auto store = this->factory.make();
  const auto plan = store->add_plan("h1", {{"sparsity", 0.3}});
  EXPECT_FALSE(store->cached_metrics("h1", Subset::Search));
  const auto t1 = store->start_trial(plan, "uniform", std::nullopt, Subset::Search);
  EXPECT_EQ(store->trial(t1)->state, TrialState::Running);
  EXPECT_FALSE(store->cached_metrics("h1", Subset::Search));  // running is not a result
  store->finish_trial(t1, metrics(0.97, 0.95, 0.3));
  const auto cached = store->cached_metrics("h1", Subset::Search);
  ASSERT_TRUE(cached);
  EXPECT_DOUBLE_EQ(cached->objectives.robustness, 0.97);
  const double f1 = cached->raw["pope_mean_f1"];
  EXPECT_DOUBLE_EQ(f1, 0.97 * 0.9);
  EXPECT_FALSE(store->cached_metrics("h1", Subset::Full));         // another subset is another evaluation
  EXPECT_THROW(store->finish_trial(t1, metrics(0, 0, 0)), Error);  // already complete

  const Preference w{0.6, 0.3, 0.1};
  const auto t2 = store->start_trial(plan, "grpo:1", w, Subset::Search);
  store->fail_trial(t2, "out of memory");
  const auto all = store->trials();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].state, TrialState::Fail);
  EXPECT_EQ(all[1].error, "out of memory");
  ASSERT_TRUE(all[1].preference);
  EXPECT_DOUBLE_EQ((*all[1].preference)[0], 0.6);
  EXPECT_FALSE(all[0].preference);
  EXPECT_EQ(all[0].plan_hash, "h1");
  EXPECT_TRUE(all[0].metrics);
  EXPECT_FALSE(all[1].metrics);
  EXPECT_EQ(store->trials("uniform").size(), 1u);
  EXPECT_EQ(store->trials("nsga2").size(), 0u);
}

TYPED_TEST(StoreContract, ChildTrialsKeepTheirParentAndStayOutOfTheCache) {
  auto store = this->factory.make();
  const auto plan = store->add_plan("h1", {});
  // A child of a trial whose plan has no plain evaluation yet.
  const Preference w{0.2, 0.7, 0.1};
  const auto parent = store->start_trial(plan, "query", w, Subset::Search);
  store->finish_trial(parent, metrics(0.8, 0.7, 0.5));
  const auto child = store->start_child_trial(parent, "finetune", Subset::Search, {{"steps", 40}, {"rank", 8}});
  store->finish_trial(child, metrics(0.95, 0.9, 0.5));
  const auto t = store->trial(child);
  ASSERT_TRUE(t && t->parent);
  EXPECT_EQ(*t->parent, parent);
  EXPECT_EQ(t->plan_hash, "h1");
  EXPECT_EQ(t->origin, "finetune");
  EXPECT_EQ(t->details["steps"], 40);
  ASSERT_TRUE(t->preference);
  EXPECT_DOUBLE_EQ((*t->preference)[1], 0.7);
  EXPECT_FALSE(store->trial(parent)->parent);
  // The plan's cached metrics are the pruned model's, not the fine-tuned one's.
  EXPECT_DOUBLE_EQ(store->cached_metrics("h1", Subset::Search)->objectives.robustness, 0.8);
  // A plan evaluated only as a child has no cached metrics.
  const auto other = store->add_plan("h2", {});
  const auto p2 = store->start_trial(other, "uniform", std::nullopt, Subset::Search);
  store->fail_trial(p2, "oom");
  const auto c2 = store->start_child_trial(p2, "finetune", Subset::Full, {});
  store->finish_trial(c2, metrics(1, 1, 0.3));
  EXPECT_FALSE(store->cached_metrics("h2", Subset::Full));
  EXPECT_THROW(store->start_child_trial(999, "finetune", Subset::Search, {}), Error);
}

TYPED_TEST(StoreContract, RecoveryFailsRunningTrials) {
  auto store = this->factory.make();
  const auto plan = store->add_plan("h1", {});
  const auto left = store->start_trial(plan, "random", std::nullopt, Subset::Search);
  const auto done = store->start_trial(plan, "random", std::nullopt, Subset::Search);
  store->finish_trial(done, metrics(1, 1, 0.2));
  EXPECT_EQ(store->recover_interrupted(), 1);
  ASSERT_TRUE(store->trial(left));
  EXPECT_EQ(store->trial(left)->state, TrialState::Fail);
  EXPECT_EQ(store->trial(left)->error, "interrupted");
  EXPECT_EQ(store->trial(done)->state, TrialState::Complete);
  EXPECT_EQ(store->recover_interrupted(), 0);
}

TYPED_TEST(StoreContract, LayerStatesAndBlobs) {
  auto store = this->factory.make();
  EXPECT_FALSE(store->layer_states("k"));
  store->put_layer_states("k", {{{"layer", 0}, {"m", 0.5}}});
  EXPECT_EQ((*store->layer_states("k"))[0]["m"], 0.5);
  std::string bytes("\x00\x01\xff policy", 10);
  store->put_blob("policy/1", bytes);
  EXPECT_EQ(*store->blob("policy/1"), bytes);
  store->put_blob("policy/1", "v2");
  EXPECT_EQ(*store->blob("policy/1"), "v2");
  EXPECT_FALSE(store->blob("none"));
}

// One selection of trials for every front, hypervolume and cloud.
TEST(TrialSelection, SubsetAndOriginKinds) {
  EXPECT_TRUE(origin_matches("grpo:3", "grpo"));
  EXPECT_TRUE(origin_matches("grpo:3", "grpo:3"));
  EXPECT_FALSE(origin_matches("grpo:3", "grpo:4"));
  EXPECT_FALSE(origin_matches("grpo:3", "grp"));
  EXPECT_TRUE(origin_matches("curve:2:5", "curve"));
  EXPECT_TRUE(origin_matches("random", ""));
  EXPECT_FALSE(origin_matches("randomised", "random"));
  auto trial = [](int64_t id, const std::string& origin, Subset subset, TrialState state) {
    Trial t;
    t.id = id;
    t.origin = origin;
    t.subset = subset;
    t.state = state;
    if (state == TrialState::Complete) t.metrics = metrics(0.5, 0.5, 0.5);
    return t;
  };
  const std::vector<Trial> trials = {
      trial(1, "random", Subset::Search, TrialState::Complete), trial(2, "random", Subset::Full, TrialState::Complete),
      trial(3, "grpo:1", Subset::Search, TrialState::Complete), trial(4, "query", Subset::Search, TrialState::Complete),
      trial(5, "grpo:2", Subset::Search, TrialState::Fail),     trial(6, "nsga2", Subset::Search, TrialState::Running)};
  auto ids = [](const std::vector<Trial>& selected) {
    std::vector<int64_t> out;
    for (const auto& t : selected) out.push_back(t.id);
    return out;
  };
  EXPECT_EQ(ids(select_trials(trials, {Subset::Search, {}})), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(ids(select_trials(trials, {Subset::Full, {}})), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids(select_trials(trials, {Subset::Search, policy_origins()})), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(ids(select_trials(trials, {Subset::Search, {"random"}})), (std::vector<int64_t>{1}));
  EXPECT_EQ(objectives_of(select_trials(trials, {Subset::Full, {}})).size(), 1u);
}

TEST(TrialSelection, SubsetNamesRoundTripAndOthersAreRefused) {
  for (const Subset s : {Subset::Search, Subset::Full}) EXPECT_EQ(parse_subset(subset_name(s)), s);
  EXPECT_STREQ(subset_name(Subset::Full), "full");
  const auto what = test::error_of([] { parse_subset("Full "); });
  EXPECT_NE(what.find("'Full '"), std::string::npos) << what;
}

// ---- SQLite specifics -----------------------------------------------------------

TEST(SqliteStudy, PersistsAcrossOpenAndRefusesBadFiles) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  {
    auto store = create_sqlite_study(path, sample_study());
    const auto plan = store->add_plan("h1", {{"x", 1}});
    store->finish_trial(store->start_trial(plan, "owl", std::nullopt, Subset::Search), metrics(0.9, 0.8, 0.5));
  }
  EXPECT_THROW(create_sqlite_study(path, sample_study()), Error);  // never overwrites
  auto store = open_sqlite_study(path);
  EXPECT_EQ(store->trials("owl").size(), 1u);
  EXPECT_TRUE(store->cached_metrics("h1", Subset::Search));
  EXPECT_EQ(sqlite_study_version(path), kStudySchemaVersion);

  test::write_bytes(dir.file("text.sqlite"), "this is not a database, just some text that is long enough");
  EXPECT_THROW(open_sqlite_study(dir.file("text.sqlite")), Error);
  EXPECT_THROW(open_sqlite_study(dir.file("missing.sqlite")), Error);
  EXPECT_THROW(create_sqlite_study(dir.file("no/such/folder/s.sqlite"), sample_study()), Error);
}

void build_database(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
  sqlite3_close(db);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SqliteStudy, ATrialWithAnUnknownSubsetIsReportedNotRead) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  {
    auto store = create_sqlite_study(path, sample_study());
    store->finish_trial(store->start_trial(store->add_plan("h1", {}), "owl", std::nullopt, Subset::Search),
                        metrics(0.9, 0.8, 0.5));
  }
  build_database(path, "UPDATE trials SET subset = 'half'");
  auto store = open_sqlite_study(path, /*read_only=*/true);
  const auto what = test::error_of([&] { store->trials(); });
  EXPECT_NE(what.find("trial 1"), std::string::npos) << what;
  EXPECT_NE(what.find("'half'"), std::string::npos) << what;
}

TEST(SqliteStudy, UpgradesAVersion1File) {
  test::TempDir dir;
  const std::string path = dir.file("v1.sqlite");
  build_database(path, read_text(std::string(HIPP_TEST_FIXTURES) + "/study_v1.sql"));
  EXPECT_EQ(sqlite_study_version(path), 1);
  auto store = open_sqlite_study(path);
  EXPECT_EQ(sqlite_study_version(path), 3);
  EXPECT_EQ(store->study().model_fingerprint, "fp-model");
  const auto trials = store->trials();
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].subset, Subset::Search);  // the column v2 added, with its default
  EXPECT_FALSE(trials[0].parent);               // the columns v3 added
  EXPECT_TRUE(trials[0].details.empty());
  EXPECT_EQ(trials[1].state, TrialState::Fail);  // it was RUNNING when the file was last closed
  EXPECT_TRUE(store->cached_metrics("hash-a", Subset::Search));
  store->put_blob("b", "works after the upgrade");
  EXPECT_EQ(*store->blob("b"), "works after the upgrade");
  EXPECT_EQ((*store->layer_states("states-v1"))[0]["layer"], 0);
}

TEST(SqliteStudy, RefusesANewerSchema) {
  test::TempDir dir;
  const std::string path = dir.file("v9.sqlite");
  build_database(path,
                 "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (9);");
  try {
    open_sqlite_study(path);
    FAIL() << "opened a newer schema";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

// Readers never change a file: an unrelated database keeps its journal mode,
// an empty file stays empty, an older study is read through a copy in memory
// and stays at its version.
TEST(SqliteStudy, ReadersNeverChangeAFile) {
  test::TempDir dir;
  auto file_bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string other = dir.file("other.sqlite");
  build_database(other, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);");
  const std::string before = file_bytes(other);
  ASSERT_GE(before.size(), 20u);
  EXPECT_EQ(before[18], 1) << "rollback journal";
  EXPECT_THROW(open_sqlite_study(other, /*read_only=*/true), Error);
  EXPECT_THROW(open_sqlite_study(other), Error);  // a writer refuses it too, before changing it
  EXPECT_EQ(file_bytes(other), before);

  const std::string empty = dir.file("empty.sqlite");
  test::write_bytes(empty, "");
  for (bool read_only : {true, false}) {
    try {
      open_sqlite_study(empty, read_only);
      ADD_FAILURE() << "opened an empty file";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not a hipp-prune study"), std::string::npos) << e.what();
    }
    EXPECT_EQ(std::filesystem::file_size(empty), 0u);
  }

  const std::string v1 = dir.file("v1.sqlite");
  build_database(v1, read_text(std::string(HIPP_TEST_FIXTURES) + "/study_v1.sql"));
  const std::string v1_bytes = file_bytes(v1);
  {
    auto reader = open_sqlite_study(v1, /*read_only=*/true);
    EXPECT_EQ(reader->trials().size(), 2u);
    EXPECT_EQ(reader->trials()[0].subset, Subset::Search);
    EXPECT_EQ(reader->trials()[1].state, TrialState::Running) << "recovery is a writer's job";
    EXPECT_THROW(reader->put_blob("x", "y"), Error);
  }
  EXPECT_EQ(file_bytes(v1), v1_bytes);
  EXPECT_EQ(sqlite_study_version(v1), 1);
}

// SQLite's user_version carries the schema version too; a newer one is refused.
TEST(SqliteStudy, UserVersionIsKeptAndANewerOneRefused) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  create_sqlite_study(path, sample_study());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* statement = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &statement, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(statement, 0), kStudySchemaVersion);
  sqlite3_finalize(statement);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  for (bool read_only : {true, false}) {
    try {
      open_sqlite_study(path, read_only);
      ADD_FAILURE() << "opened a newer schema";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("99 is newer"), std::string::npos) << e.what();
    }
  }
}

// A claim (one training run per process): free, held by a live process, or
// left by a dead one.
TEST(SqliteStudy, ClaimsBelongToLiveProcesses) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  auto store = create_sqlite_study(path, sample_study());
  EXPECT_EQ(store->claim("run:a"), 0);
  EXPECT_EQ(store->claim("run:a"), 0) << "this process holds it already";
  // Held by another live process (this test's parent stands in for it).
  store->put_blob("claim:run:b", std::to_string(getppid()));
  EXPECT_EQ(store->claim("run:b"), getppid());
  EXPECT_THROW(StudyClaim(*store, "run:b", "training run 'b'"), Error);
  // A process that has exited holds nothing.
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  store->put_blob("claim:run:c", std::to_string(child));
  EXPECT_EQ(store->claim("run:c"), 0);
  {
    StudyClaim held(*store, "run:d", "training run 'd'");
    EXPECT_TRUE(store->blob("claim:run:d"));
  }
  EXPECT_FALSE(store->blob("claim:run:d")) << "released when the holder is done";
}

TEST(SqliteStudy, ReaderThreadWhileAWriterInserts) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  auto writer = create_sqlite_study(path, sample_study());
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::string reader_error;
  std::thread reader([&] {
    try {
      auto store = open_sqlite_study(path, /*read_only=*/true);
      size_t last = 0;
      while (!done.load()) {
        const auto trials = store->trials();
        if (trials.size() < last) throw Error("trials went backwards");
        last = trials.size();
        for (const auto& t : trials)
          if (t.state == TrialState::Complete && !t.metrics) throw Error("a complete trial without metrics");
        ++reads;
      }
    } catch (const std::exception& e) {
      reader_error = e.what();
    }
  });
  for (int i = 0; i < 200; ++i) {
    const auto plan = writer->add_plan("h" + std::to_string(i), {{"i", i}});
    const auto trial = writer->start_trial(plan, "random", std::nullopt, Subset::Search);
    if (i == 100)  // halfway, with a trial in flight: wait until the reader has read
      for (int wait = 0; wait < 5000 && reads.load() < 3; ++wait)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    writer->finish_trial(trial, metrics(0.5, 0.5, 0.5));
  }
  done = true;
  reader.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(writer->trials().size(), 200u);
  // Nothing the reader did touched the writer's trials, and it cannot write.
  for (const auto& t : writer->trials()) EXPECT_EQ(t.state, TrialState::Complete);
  auto read_only = open_sqlite_study(path, true);
  EXPECT_THROW(read_only->add_plan("x", {}), Error);
}

TEST(SqliteStudy, OpeningDoesNotFailAnotherLiveWritersTrial) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  auto writer = create_sqlite_study(path, sample_study());
  const auto trial = writer->start_trial(writer->add_plan("h", {}), "random", std::nullopt, Subset::Search);
  // A second writer in another process (its recovery runs on open).
  std::fflush(nullptr);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      auto other = open_sqlite_study(path);
      _exit(other->trial(trial)->state == TrialState::Running ? 0 : 4);
    } catch (...) {
      _exit(5);
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  writer->finish_trial(trial, metrics(1, 1, 0.5));  // still ours to finish
}

TEST(SqliteStudy, SurvivesSigkillMidSearch) {
  test::TempDir dir;
  const std::string path = dir.file("s.sqlite");
  create_sqlite_study(path, sample_study());
  std::fflush(nullptr);  // the child must not inherit unwritten test output
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A search loop: start, "evaluate", finish; killed somewhere in between.
    try {
      auto store = open_sqlite_study(path);
      for (int i = 0;; ++i) {
        const auto plan = store->add_plan("h" + std::to_string(i), {{"i", i}});
        const auto trial = store->start_trial(plan, "random", std::nullopt, Subset::Search);
        usleep(2000);
        store->finish_trial(trial, metrics(0.9, 0.9, 0.3));
      }
    } catch (...) {
    }
    _exit(3);
  }
  usleep(400000);
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* check = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, nullptr);
  ASSERT_EQ(sqlite3_step(check), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(check, 0)), "ok");
  sqlite3_finalize(check);
  sqlite3_close(db);

  auto store = open_sqlite_study(path);
  const auto trials = store->trials();
  ASSERT_GT(trials.size(), 5u);
  int failed = 0;
  for (const auto& t : trials) {
    if (t.state == TrialState::Fail) {
      ++failed;
      EXPECT_EQ(t.error, "interrupted");
    }
    EXPECT_NE(t.state, TrialState::Running);
  }
  EXPECT_LE(failed, 1);  // at most the evaluation in flight is lost
  // And the search resumes.
  const auto plan = store->add_plan("after", {});
  store->finish_trial(store->start_trial(plan, "random", std::nullopt, Subset::Search), metrics(1, 1, 0.1));
  EXPECT_EQ(store->trials().size(), trials.size() + 1);
}

// ---- Pareto front and hypervolume ---------------------------------------------------

TEST(Pareto, NonDominatedSetByHand) {
  const std::vector<Objectives> p{
      {1.0, 1.0, 0.1},  // 0: front (best robustness/utility)
      {0.9, 0.9, 0.1},  // 1: dominated by 0
      {0.8, 0.7, 0.5},  // 2: front (more compression)
      {0.8, 0.6, 0.5},  // 3: dominated by 2
      {0.5, 0.9, 0.4},  // 4: front (0 compresses less, 2 is less useful)
      {0.8, 0.7, 0.5},  // 5: duplicate of 2, kept
  };
  EXPECT_EQ(non_dominated(p), (std::vector<size_t>{0, 2, 4, 5}));
  const auto ranks = pareto_ranks(p);
  EXPECT_EQ(ranks[1], 1u);
  EXPECT_EQ(ranks[3], 1u);
  EXPECT_TRUE(non_dominated({}).empty());
  EXPECT_EQ(non_dominated({{0.1, 0.1, 0.1}}), (std::vector<size_t>{0}));
}

TEST(Pareto, HypervolumeByHand) {
  // One box: 0.5 x 0.4 x 0.2.
  EXPECT_NEAR(hypervolume({{0.5, 0.4, 0.2}}), 0.04, 1e-12);
  // Two boxes overlapping in [0,0.5]x[0,0.4]x[0,0.2]: 0.04 + 1*1*0.1 - 0.5*0.4*0.1.
  EXPECT_NEAR(hypervolume({{0.5, 0.4, 0.2}, {1.0, 1.0, 0.1}}), 0.04 + 0.1 - 0.02, 1e-12);
  // A dominated point adds nothing; a point at the reference adds nothing.
  EXPECT_NEAR(hypervolume({{0.5, 0.4, 0.2}, {0.4, 0.4, 0.1}, {0.9, 0.9, 0.0}}), 0.04, 1e-12);
  EXPECT_EQ(hypervolume({}), 0.0);
  // Another reference point.
  EXPECT_NEAR(hypervolume({{1.0, 1.0, 0.5}}, {0.5, 0.5, 0.0}), 0.125, 1e-12);
}

}  // namespace
}  // namespace hipp
