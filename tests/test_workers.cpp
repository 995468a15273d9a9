// Evaluation workers on a PostgreSQL study (docs/distributed.md): the queue's
// claims, searches that hand their batches to workers and get exactly what
// they would have computed themselves, and workers that die, freeze or lose
// their server mid-run. Every test runs on the tests' own PostgreSQL server
// and is skipped when none can be started.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "core/error.h"
#include "model/presets.h"
#include "postgres_server.h"
#include "search/baselines.h"
#include "search/hipp_trainer.h"
#include "search/plan_evaluator.h"
#include "study/copy.h"
#include "study/pg_store.h"
#include "study/store.h"
#include "support.h"

namespace hipp {
namespace {

using namespace std::chrono_literals;

TrialMetrics metrics(double rob) {
  TrialMetrics m;
  m.objectives = {rob, 0.8, 0.3};
  m.raw = {{"pope_mean_f1", rob}};
  return m;
}

std::string server(std::string* why) {
  if (!postgresql_supported()) {
    *why = "this build has no libpq";
    return "";
  }
  return test::postgres_url(why);
}

// Runs SQL on the server with psql; returns its output (tuples only).
std::string psql(const std::string& url, const std::string& sql) {
  std::string out;
  if (test::run_command("psql -qAt -v ON_ERROR_STOP=1 '" + url + "' -c \"" + sql + "\"", &out) != 0)
    ADD_FAILURE() << sql << ": " << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Queue : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    base_ = server(&why);
    if (base_.empty()) GTEST_SKIP() << "no PostgreSQL server for the tests: " << why;
  }
  std::string base_;
};

// A search's trials, queued: RUNNING trials of `store` for plans p0, p1, ...
std::vector<int64_t> queue_trials(StudyStore& store, int n) {
  std::vector<int64_t> trials;
  for (int i = 0; i < n; ++i)
    trials.push_back(
        store.start_trial(store.add_plan("p" + std::to_string(i), {{"i", i}}), "random", std::nullopt, Subset::Search));
  return store.evaluation_queue()->enqueue(trials);
}

TEST_F(Queue, EachEntryIsClaimedOnceAndRecordedOnce) {
  const auto url = test::postgres_study_url(base_);
  auto search = create_pg_study(url, test::sample_study());
  ASSERT_NE(search->evaluation_queue(), nullptr);
  const auto entries = queue_trials(*search, 4);
  auto p = search->evaluation_queue()->progress(entries);
  EXPECT_EQ(p.queued, 4);
  EXPECT_EQ(p.workers, 0);

  auto w1 = open_pg_study(url), w2 = open_pg_study(url);
  auto *q1 = w1->evaluation_queue(), *q2 = w2->evaluation_queue();
  q1->become_worker("one");
  q2->become_worker("two");
  const auto a = q1->claim_next(), b = q2->claim_next();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->id, entries[0]);  // oldest first
  EXPECT_EQ(a->blueprint, nlohmann::json({{"i", 0}}));
  EXPECT_EQ(a->plan_hash, "p0");
  EXPECT_EQ(a->attempt, 1);
  p = search->evaluation_queue()->progress(entries);
  EXPECT_EQ(p.running, 2);
  EXPECT_EQ(p.queued, 2);
  EXPECT_EQ(p.workers, 2);

  EXPECT_TRUE(q1->complete(*a, metrics(0.91)));
  EXPECT_TRUE(q1->complete(*a, metrics(0.91)));  // a repeated commit finds its own
  EXPECT_FALSE(q2->complete(*a, metrics(0.5)));  // never another worker's claim
  EXPECT_TRUE(q2->fail(*b, "out of memory"));
  const auto ta = search->trial(a->trial_id), tb = search->trial(b->trial_id);
  EXPECT_EQ(ta->state, TrialState::Complete);
  EXPECT_DOUBLE_EQ(ta->metrics->objectives.robustness, 0.91);
  EXPECT_EQ(tb->state, TrialState::Fail);
  EXPECT_EQ(tb->error, "out of memory");

  // Given back (Ctrl-C): claimed again, by anyone.
  const auto c = q1->claim_next();
  ASSERT_TRUE(c);
  q1->give_back(*c);
  const auto again = q2->claim_next();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, c->id);
  EXPECT_EQ(again->attempt, 2);

  // A worker that is gone (its owner row removed with its store) loses its claim.
  const auto d = q1->claim_next();
  ASSERT_TRUE(d);
  w1.reset();
  auto w3 = open_pg_study(url);
  auto* q3 = w3->evaluation_queue();
  q3->become_worker("three");
  const auto taken = q3->claim_next();
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->id, d->id);
  EXPECT_TRUE(q3->complete(*taken, metrics(0.7)));
  EXPECT_FALSE(q3->claim_next());  // `again` is still two's
  EXPECT_TRUE(q2->complete(*again, metrics(0.8)));

  p = search->evaluation_queue()->progress(entries);
  EXPECT_EQ(p.done, 3);
  EXPECT_EQ(p.failed, 1);
  EXPECT_EQ(p.workers, 2);
  EXPECT_EQ(psql(base_,
                 "SELECT count(*) FROM hipp_metrics m JOIN hipp_trials t ON t.id = m.trial_id JOIN "
                 "hipp_studies s ON s.id = t.study_id WHERE s.name = '" +
                     parse_pg_study_url(url).study + "'"),
            "3");
}

TEST_F(Queue, AFrozenWorkersResultIsNotRecordedOnceAnotherTookItsPlan) {
  // A long lease: the heartbeat renews it rarely, so the test can age it.
  const auto url = test::postgres_study_url(base_, "&lease=3600");
  auto search = create_pg_study(url, test::sample_study());
  const auto entries = queue_trials(*search, 2);
  auto slow = open_pg_study(url);
  slow->evaluation_queue()->become_worker("slow");
  const auto e = slow->evaluation_queue()->claim_next();
  ASSERT_TRUE(e);
  auto fast = open_pg_study(url);
  fast->evaluation_queue()->become_worker("fast");
  const auto next = fast->evaluation_queue()->claim_next();
  ASSERT_TRUE(next);
  EXPECT_NE(next->id, e->id);  // the slow worker's claim is alive
  EXPECT_TRUE(fast->evaluation_queue()->complete(*next, metrics(0.8)));
  psql(base_, "UPDATE hipp_owners SET heartbeat = 0 WHERE worker = 'slow'");  // frozen past its lease
  auto progress = search->evaluation_queue()->progress(entries);
  EXPECT_EQ(progress.queued, 1);  // waits for a new claim
  EXPECT_EQ(progress.workers, 1);
  const auto taken = fast->evaluation_queue()->claim_next();
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->id, e->id);
  EXPECT_EQ(taken->attempt, 2);
  EXPECT_FALSE(slow->evaluation_queue()->complete(*e, metrics(0.1)));  // it wakes up: too late
  EXPECT_TRUE(fast->evaluation_queue()->complete(*taken, metrics(0.9)));
  EXPECT_DOUBLE_EQ(search->trial(e->trial_id)->metrics->objectives.robustness, 0.9);
}

TEST_F(Queue, WithdrawnAndAbandonedEntriesAreNotClaimed) {
  const auto url = test::postgres_study_url(base_);
  auto search = create_pg_study(url, test::sample_study());
  const auto entries = queue_trials(*search, 3);
  auto worker = open_pg_study(url);
  auto* q = worker->evaluation_queue();
  const auto first = q->claim_next();
  ASSERT_TRUE(first);
  search->evaluation_queue()->withdraw({entries[0], entries[1]});
  EXPECT_FALSE(q->complete(*first, metrics(0.9)));  // its search gave it up
  search->fail_trial(first->trial_id, "cancelled");
  // A trial that stopped running (its search died and was recovered) is not evaluated either.
  const auto trials = search->trials();
  search->fail_trial(trials[2].id, "interrupted");
  EXPECT_FALSE(q->claim_next());
  const auto p = search->evaluation_queue()->progress(entries);
  EXPECT_EQ(p.cancelled, 3);
  EXPECT_EQ(p.finished(), 3);
  // Only running trials of this study can be queued.
  EXPECT_THROW(search->evaluation_queue()->enqueue({trials[2].id}), Error);
  // A SQLite study has no queue.
  test::TempDir dir;
  auto file = create_sqlite_study(dir.file("s.sqlite"), test::sample_study());
  EXPECT_EQ(file->evaluation_queue(), nullptr);
  // Nor does a read-only store.
  EXPECT_EQ(open_pg_study(url, true)->evaluation_queue(), nullptr);
}

TEST_F(Queue, ConcurrentWorkersNeverClaimOneEntryTwice) {
  const auto url = test::postgres_study_url(base_);
  auto search = create_pg_study(url, test::sample_study());
  const int n = 60;
  const auto entries = queue_trials(*search, n);
  std::vector<std::vector<int64_t>> claimed(4);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < claimed.size(); ++k)
    threads.emplace_back([&, k] {
      auto store = open_pg_study(url);
      auto* q = store->evaluation_queue();
      q->become_worker("w" + std::to_string(k));
      while (auto e = q->claim_next()) {
        claimed[k].push_back(e->id);
        if (!q->complete(*e, metrics(0.5 + 0.001 * static_cast<double>(e->id % 100)))) claimed[k].push_back(-1);
      }
    });
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (const auto& c : claimed) {
    total += c.size();
    all.insert(c.begin(), c.end());
  }
  EXPECT_EQ(total, static_cast<size_t>(n));
  EXPECT_EQ(all, std::set<int64_t>(entries.begin(), entries.end()));
  EXPECT_EQ(search->evaluation_queue()->progress(entries).done, n);
}

// ---- searches with workers, on a micro model -------------------------------

class Workers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    write_random_model("micro", dir_->file("model"), 13);
    test::write_micro_benchmark(dir_->file("bench"), 3, 10, 8);
    StudySettings settings;
    settings.subset.pope_per_split = 6;
    settings.subset.sqa = 6;
    settings.calibration.samples = 6;
    create_study(dir_->file("study.sqlite"), dir_->file("model"), dir_->file("bench"), settings, {}, "");
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    std::string why;
    base_ = server(&why);
    if (base_.empty()) GTEST_SKIP() << "no PostgreSQL server for the tests: " << why;
  }
  // A fresh copy of the study: a file, or a PostgreSQL study when `url` is given.
  static std::string fresh(const std::string& url = "") {
    static int n = 0;
    const std::string to = url.empty() ? dir_->file("copy-" + std::to_string(++n) + ".sqlite") : url;
    copy_study(dir_->file("study.sqlite"), to);
    return to;
  }
  static test::TempDir* dir_;
  std::string base_;
};
test::TempDir* Workers::dir_ = nullptr;

// What hipp-prune worker does, in a thread, until `stop`.
class WorkerThread {
 public:
  explicit WorkerThread(const std::string& url) {
    thread_ = std::thread([this, url] {
      auto store = open_pg_study(url);
      StudySession session(*store, {}, "");
      PlanEvaluator evaluator(session);
      auto* queue = store->evaluation_queue();
      queue->become_worker("thread");
      ready_ = true;
      while (!stop_) {
        const auto entry = queue->claim_next();
        if (!entry) {
          std::this_thread::sleep_for(10ms);
          continue;
        }
        evaluator.evaluate_claimed(*queue, *entry);
        ++evaluated_;
      }
    });
    while (!ready_) std::this_thread::sleep_for(10ms);
  }
  ~WorkerThread() {
    stop_ = true;
    thread_.join();
  }
  int evaluated() const { return evaluated_; }

 private:
  std::thread thread_;
  std::atomic<bool> ready_{false}, stop_{false};
  std::atomic<int> evaluated_{0};
};

// Every trial as (origin, plan, state, objectives), in order.
std::vector<std::string> trial_summary(const StudyStore& store) {
  std::vector<std::string> out;
  for (const auto& t : store.trials()) {
    std::string line = t.origin + " " + t.plan_hash + " " + trial_state_name(t.state);
    if (t.metrics) {
      const auto& o = t.metrics->objectives;
      char numbers[100];
      std::snprintf(numbers, sizeof numbers, " %.17g %.17g %.17g", o.robustness, o.utility, o.compression);
      line += numbers;
    }
    out.push_back(line);
  }
  return out;
}

TEST_F(Workers, BaselinesAndTrainingGetWhatTheyWouldHaveComputedThemselves) {
  GrpoSettings grpo;
  grpo.iterations = 2;
  grpo.group = 3;
  grpo.prefs_per_iter = 2;
  grpo.hidden = 8;
  grpo.seed = 5;
  // Returns the trained policy's plans for a few preferences.
  auto search = [&](StudyStore& store, bool remote) {
    StudySession session(store, {}, "");
    PlanEvaluator evaluator(session);
    std::vector<QueueProgress> seen;
    if (remote) {
      RemoteEvaluation r;
      r.queue = store.evaluation_queue();
      r.progress = [&](const QueueProgress& p) { seen.push_back(p); };
      r.poll_seconds = 0.02;
      evaluator.remote = r;
    }
    for (const char* method : {"random", "nsga2"}) {
      BaselineOptions options;
      options.method = method;
      options.evaluations = 17;  // NSGA-II: a population of 8, one generation, one drawn at random
      options.seed = 3;
      int reported = 0;
      options.progress = [&](int done, int total, const EvalOutcome&) {
        EXPECT_EQ(done, ++reported);
        EXPECT_EQ(total, 17);
      };
      EXPECT_EQ(run_baseline(evaluator, options).size(), 17u);
      EXPECT_EQ(reported, 17);
    }
    HippTrainer trainer(evaluator, store, grpo);
    trainer.train();
    trainer.evaluate_query_grid(3);
    if (remote) {
      EXPECT_FALSE(seen.empty());
      EXPECT_GE(seen.back().workers, 1);
      EXPECT_EQ(seen.back().queued + seen.back().running, 0);
    }
    std::vector<std::string> plans;
    for (const Preference& w : {Preference{1, 0, 0}, Preference{0, 1, 0}, Preference{0.2, 0.3, 0.5}})
      plans.push_back(blueprint_hash(trainer.query(w)));
    return plans;
  };
  auto local = open_sqlite_study(fresh());
  const auto local_plans = search(*local, false);
  const auto url = fresh(test::postgres_study_url(base_));
  auto remote = open_pg_study(url);
  std::vector<std::string> remote_plans;
  {
    WorkerThread a(url), b(url);
    remote_plans = search(*remote, true);
    EXPECT_GT(a.evaluated() + b.evaluated(), 0);
  }
  EXPECT_EQ(trial_summary(*remote), trial_summary(*local));
  EXPECT_EQ(remote->trials().size(), 17u + 17u + 12u + remote->trials("query").size());
  EXPECT_EQ(remote_plans, local_plans);  // the same policy
}

// The command line: a baseline with --workers and two worker processes; one
// is frozen (SIGSTOP) holding a claim until its lease runs out, then killed;
// the other takes its plan over. Every planned evaluation completes exactly
// once, and the study holds what an in-process run on a file holds. Then a
// training run with --workers rides out a server restart.
TEST_F(Workers, CommandLineWorkersSurviveAKilledWorkerAndAServerRestart) {
  using test::cli;
  std::string out;
  const auto file = fresh();
  ASSERT_EQ(cli("--seed 4 baseline --study " + file + " --method random --evals 12 --cache-dir none", &out), 0) << out;
  const auto url = fresh(test::postgres_study_url(base_, "&lease=2"));
  const std::string name = parse_pg_study_url(url).study;
  ASSERT_EQ(cli("baseline --study " + dir_->file("study.sqlite") + " --workers --method random --evals 2", &out), 1)
      << out;
  EXPECT_NE(out.find("PostgreSQL"), std::string::npos) << out;
  EXPECT_EQ(cli("worker --study " + file + " --idle-exit 1", &out), 1) << out;

  // Started in the background; `exec` keeps the process id the program's.
  auto start = [&](const std::string& args, const std::string& log) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + std::string(HIPP_CLI_PATH) + " " + args + " > " + log + " 2>&1").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  };
  auto wait_exit = [](pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  const std::string quoted = "'" + url + "'";
  const pid_t search = start("--seed 4 baseline --study " + quoted +
                                 " --workers --method random --evals 12 "
                                 "--cache-dir none",
                             dir_->file("search.log"));
  const pid_t frozen = start("worker --study " + quoted + " --cache-dir none --threads 1", dir_->file("frozen.log"));
  // Freeze the first worker while it holds a claim (the heartbeat freezes with it).
  const std::string holds =
      "SELECT count(*) FROM hipp_queue q JOIN hipp_owners o ON o.token = q.claimed_by WHERE "
      "q.state = 'running' AND o.pid = " +
      std::to_string(frozen);
  bool stopped = false;
  for (int i = 0; i < 3000 && !stopped; ++i) {
    if (psql(base_, holds) == "1") {
      kill(frozen, SIGSTOP);
      if (psql(base_, holds) == "1") {
        stopped = true;
      } else {
        kill(frozen, SIGCONT);
      }
    }
    if (!stopped) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(stopped) << test::read_bytes(dir_->file("frozen.log"));
  const pid_t other = start("worker --study " + quoted + " --cache-dir none", dir_->file("other.log"));
  EXPECT_EQ(wait_exit(search), 0) << test::read_bytes(dir_->file("search.log"));
  kill(frozen, SIGKILL);
  EXPECT_EQ(wait_exit(frozen), 128 + SIGKILL);
  kill(other, SIGINT);  // Ctrl-C: a clean stop
  EXPECT_EQ(wait_exit(other), 130) << test::read_bytes(dir_->file("other.log"));
  const auto log = test::read_bytes(dir_->file("search.log"));
  EXPECT_NE(log.find("1 worker"), std::string::npos) << log;
  EXPECT_NE(test::read_bytes(dir_->file("other.log")).find("(attempt 2)"), std::string::npos);
  const std::string where = "FROM hipp_queue q JOIN hipp_studies s ON s.id = q.study_id WHERE s.name = '" + name + "'";
  EXPECT_EQ(psql(base_, "SELECT count(*) " + where + " AND q.state = 'done'"), "12");
  EXPECT_EQ(psql(base_, "SELECT max(q.attempts) " + where), "2");
  {
    auto pg = open_pg_study(url, true);
    auto sqlite = open_sqlite_study(file, true);
    EXPECT_EQ(trial_summary(*pg), trial_summary(*sqlite));
  }

  // Training with --workers while the server restarts under it.
  const pid_t worker = start("worker --study " + quoted + " --cache-dir none", dir_->file("w.log"));
  const pid_t train = start("--seed 6 train --study " + quoted +
                                " --workers --iterations 3 --query-grid 0 "
                                "--cache-dir none",
                            dir_->file("train.log"));
  for (int i = 0; i < 3000; ++i) {
    if (psql(base_, "SELECT count(*) " + where + " AND q.state = 'done'") != "12") break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(test::restart_postgres());
  EXPECT_EQ(wait_exit(train), 0) << test::read_bytes(dir_->file("train.log"));
  kill(worker, SIGINT);
  EXPECT_EQ(wait_exit(worker), 130) << test::read_bytes(dir_->file("w.log"));
  ASSERT_EQ(cli("--seed 6 train --study " + file + " --iterations 3 --query-grid 0 --cache-dir none", &out), 0) << out;
  // Nothing queued: a worker with --idle-exit stops by itself.
  ASSERT_EQ(cli("--json worker --study " + quoted + " --cache-dir none --idle-exit 0.5 --max-evals 3", &out), 0) << out;
  EXPECT_NE(out.find("\"evaluations\": 0"), std::string::npos) << out;
  auto pg = open_pg_study(url, true);
  auto sqlite = open_sqlite_study(file, true);
  EXPECT_EQ(trial_summary(*pg), trial_summary(*sqlite));
}

}  // namespace
}  // namespace hipp
