// The plan evaluator and the baselines on a micro model and a tiny benchmark,
// through the library and through the command line.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/synthetic.h"
#include "model/presets.h"
#include "search/baselines.h"
#include "search/plan_evaluator.h"
#include "study/pareto.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

class Search : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    write_random_model("micro", dir_->file("model"), 13);
    SyntheticBenchmarkOptions options;
    options.pope_images = 3;
    options.sqa_train = 10;
    options.sqa_val = 2;
    options.sqa_test = 8;
    options.instruction_conversations = 2;
    options.scene.image_size = 32;
    write_synthetic_benchmark(dir_->file("bench"), options);
    settings_.subset.pope_per_split = 6;
    settings_.subset.sqa = 6;
    settings_.calibration.samples = 6;
    PlanEvaluator::create_study(dir_->file("study.sqlite"), dir_->file("model"), dir_->file("bench"), settings_, {}, "");
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
  static StudySettings settings_;
};
test::TempDir* Search::dir_ = nullptr;
StudySettings Search::settings_;

TEST_F(Search, EachBaselineSpendsExactlyItsBudgetAndCachesRepeats) {
  auto store = open_sqlite_study(dir_->file("study.sqlite"));
  EXPECT_TRUE(store->study().dense.contains("search"));
  PlanEvaluator evaluator(*store, {}, "");
  for (const std::string method : {"uniform", "owl", "random", "nsga2"}) {
    SCOPED_TRACE(method);
    BaselineOptions options;
    options.method = method;
    options.evaluations = method == "nsga2" ? 18 : 4;  // nsga2: population 8, 1 generation, 2 drawn at random
    int progress_calls = 0;
    options.progress = [&](int, int total, const EvalOutcome&) {
      ++progress_calls;
      EXPECT_EQ(total, options.evaluations);
    };
    const auto outcomes = run_baseline(evaluator, options);
    EXPECT_EQ(static_cast<int>(outcomes.size()), options.evaluations);
    EXPECT_EQ(progress_calls, options.evaluations);
    const auto trials = store->trials(method);
    EXPECT_EQ(static_cast<int>(trials.size()), options.evaluations);
    for (const auto& t : trials) {
      EXPECT_EQ(t.state, TrialState::Complete) << t.error;
      ASSERT_TRUE(t.metrics);
      EXPECT_GE(t.metrics->objectives.compression, settings_.s_min - 0.02);
      EXPECT_LE(t.metrics->objectives.compression, settings_.s_max + 0.02);
      EXPECT_TRUE(t.metrics->raw.contains("pope"));
    }
  }
  // The uniform grid again: every plan is a cache hit, and still a trial.
  BaselineOptions again;
  again.method = "uniform";
  again.evaluations = 4;
  const auto outcomes = run_baseline(evaluator, again);
  for (const auto& o : outcomes) EXPECT_TRUE(o.cached);
  EXPECT_EQ(store->trials("uniform").size(), 8u);
  // The front over everything, and its hypervolume.
  std::vector<Objectives> points;
  for (const auto& t : store->trials())
    if (t.metrics) points.push_back(t.metrics->objectives);
  const auto front = non_dominated(points);
  EXPECT_FALSE(front.empty());
  // The dominated plans add nothing to the hypervolume. (A random micro model
  // may answer "No" to every POPE question, so the volume itself can be 0.)
  std::vector<Objectives> front_points;
  for (size_t i : front) front_points.push_back(points[i]);
  EXPECT_DOUBLE_EQ(hypervolume(points), hypervolume(front_points));
  EXPECT_THROW(run_baseline(evaluator, {"annealing", 3, 1, {}}), Error);
}

TEST_F(Search, FailuresBecomeFailTrialsAndLayerStatesAreStored) {
  auto store = open_sqlite_study(dir_->file("study.sqlite"));
  PlanEvaluator evaluator(*store, {}, "");
  auto blueprint = evaluator.plan(0.4, {}, "query");
  blueprint.model_fingerprint = "another-model";  // a plan for some other model
  const auto outcome = evaluator.evaluate(blueprint, "query");
  EXPECT_TRUE(outcome.failed);
  EXPECT_NE(outcome.error.find("made for model"), std::string::npos) << outcome.error;
  EXPECT_EQ(store->trial(outcome.trial_id)->state, TrialState::Fail);
  // Full-set scoring records the dense reference for that subset once.
  const auto full = evaluator.evaluate(evaluator.plan(0.3, {}, "query"), "query", Preference{0.5, 0.3, 0.2}, "full");
  EXPECT_FALSE(full.failed) << full.error;
  EXPECT_TRUE(store->study().dense.contains("full"));
  EXPECT_EQ(store->trial(full.trial_id)->subset, "full");

  const auto states = evaluator.layer_states();
  EXPECT_EQ(states.size(), evaluator.layers());
  EXPECT_GT(states[0].vision_mass, 0.0);  // calibration had image problems
  // Stored: a second call reads the same numbers back.
  const auto again = evaluator.layer_states();
  EXPECT_DOUBLE_EQ(again[1].synflow_share, states[1].synflow_share);
}

TEST_F(Search, AStudyRefusesAModelWhoseWeightsChanged) {
  test::TempDir other;
  fs::copy(dir_->file("model"), other.file("model"));
  PlanEvaluator::create_study(other.file("s.sqlite"), other.file("model"), dir_->file("bench"), settings_, {}, "");
  EXPECT_THROW(PlanEvaluator::create_study(other.file("s.sqlite"), other.file("model"), dir_->file("bench"), settings_,
                                           {}, ""),
               Error);  // never overwrites a study
  fs::remove_all(other.file("model"));
  write_random_model("micro", other.file("model"), 99);  // same place, other weights
  auto store = open_sqlite_study(other.file("s.sqlite"));
  try {
    PlanEvaluator evaluator(*store, {}, "");
    FAIL() << "accepted changed weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
}

int cli(const std::string& args, std::string* output) {
  return test::run_command(std::string(HIPP_CLI_PATH) + " " + args, output);
}

TEST_F(Search, CommandLine) {
  const std::string study = dir_->file("cli.sqlite");
  std::string out;
  ASSERT_EQ(cli("study create --model " + dir_->file("model") + " --bench " + dir_->file("bench") + " --out " + study +
                    " --pope-per-split 6 --sqa 6 --calibration-samples 6",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("dense model"), std::string::npos) << out;
  ASSERT_EQ(cli("baseline --study " + study + " --method random --evals 3 --cache-dir none --seed 4", &out), 0) << out;
  EXPECT_NE(out.find("3 evaluations"), std::string::npos) << out;
  ASSERT_EQ(cli("study show " + study, &out), 0) << out;
  EXPECT_NE(out.find("random"), std::string::npos) << out;
  ASSERT_EQ(cli("--json front --study " + study, &out), 0) << out;
  const auto front = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(front["trials"], 3);
  EXPECT_GE(front["front"].size(), 1u);
  ASSERT_EQ(cli("front --study " + study + " --format csv", &out), 0) << out;
  EXPECT_NE(out.find("trial,origin"), std::string::npos) << out;
  ASSERT_EQ(cli("states --study " + study + " --cache-dir none", &out), 0) << out;
  EXPECT_NE(out.find("vis mass"), std::string::npos) << out;
  ASSERT_EQ(cli("rescore --study " + study + " --front --cache-dir none", &out), 0) << out;
  EXPECT_NE(out.find("POPE F1"), std::string::npos) << out;
  ASSERT_EQ(cli("--json study show " + study, &out), 0) << out;
  const auto shown = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_TRUE(shown["dense"].contains("full"));  // the full-set reference, computed once
  EXPECT_EQ(cli("rescore --study " + study + " --trial 999 --cache-dir none", &out), 1) << out;
  ASSERT_EQ(cli("study list " + dir_->path(), &out), 0) << out;
  EXPECT_NE(out.find("cli.sqlite"), std::string::npos) << out;
  // Mistakes: one line, non-zero, nothing overwritten.
  EXPECT_EQ(cli("baseline --study " + study + " --method annealing --evals 3", &out), 2) << out;
  EXPECT_EQ(cli("front --study " + dir_->file("none.sqlite"), &out), 1) << out;
  EXPECT_EQ(cli("study create --model " + dir_->file("model") + " --bench " + dir_->file("bench") + " --out " + study,
                &out),
            1)
      << out;
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
}

}  // namespace
}  // namespace hipp
