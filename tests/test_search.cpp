// The plan evaluator and the baselines on a micro model and a tiny benchmark,
// through the library and through the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/synthetic.h"
#include "model/presets.h"
#include "study/cloud.h"
#include "search/baselines.h"
#include "prune/budget.h"
#include "search/hipp_trainer.h"
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
    test::write_micro_benchmark(dir_->file("bench"), 3, 10, 8);
    settings_.subset.pope_per_split = 6;
    settings_.subset.sqa = 6;
    settings_.calibration.samples = 6;
    create_study(dir_->file("study.sqlite"), dir_->file("model"), dir_->file("bench"), settings_, {}, "");
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
  static StudySettings settings_;
};
test::TempDir* Search::dir_ = nullptr;
StudySettings Search::settings_;

// One small GRPO setting trained twice, each on a fresh study of the
// suite's model in `dir`, the second run ending with a polish of 5 steps of
// `target`: what a polish changes and what it keeps.
struct PolishPair {
  GrpoSettings settings, polished_settings;
  std::unique_ptr<StudyStore> plain_store, polished_store;
  std::unique_ptr<StudySession> plain_session, polished_session;
  std::unique_ptr<PlanEvaluator> plain_eval, polished_eval;
  std::unique_ptr<HippTrainer> plain, polished;
  std::vector<HippIterationReport> reports;  // the polished run's

  PolishPair(const test::TempDir& dir, const std::string& model, const std::string& bench, const StudySettings& study,
             PolishTarget target) {
    settings.iterations = 2;
    settings.group = 3;
    settings.prefs_per_iter = 2;
    settings.hidden = 8;
    settings.replay = 2;
    settings.lr = 3e-2;
    polished_settings = settings;
    polished_settings.budget_polish = 5;
    polished_settings.polish = target;
    auto fresh = [&](const std::string& name) {
      create_study(dir.file(name), model, bench, study, {}, "");
      return open_sqlite_study(dir.file(name));
    };
    plain_store = fresh("plain.sqlite");
    polished_store = fresh("polished.sqlite");
    plain_session = std::make_unique<StudySession>(*plain_store, LoadOptions{}, "");
    polished_session = std::make_unique<StudySession>(*polished_store, LoadOptions{}, "");
    plain_eval = std::make_unique<PlanEvaluator>(*plain_session);
    polished_eval = std::make_unique<PlanEvaluator>(*polished_session);
    plain = std::make_unique<HippTrainer>(*plain_eval, *plain_store, settings);
    polished = std::make_unique<HippTrainer>(*polished_eval, *polished_store, polished_settings);
    plain->train();
    polished->train([&](const HippIterationReport& r) { reports.push_back(r); });
  }
};

TEST_F(Search, EachBaselineSpendsExactlyItsBudgetAndCachesRepeats) {
  auto store = open_sqlite_study(dir_->file("study.sqlite"));
  EXPECT_TRUE(store->study().dense.contains("search"));
  StudySession session(*store, {}, "");
  PlanEvaluator evaluator(session);
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
      EXPECT_GT(t.metrics->raw.value("latency_ms", 0.0), 0.0);  // measured, with the dense model's beside it
      EXPECT_GT(t.metrics->raw.value("dense_latency_ms", 0.0), 0.0);
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
  StudySession session(*store, {}, "");
  PlanEvaluator evaluator(session);
  auto blueprint = session.plan(0.4, {}, "query");
  blueprint.model_fingerprint = "another-model";  // a plan for some other model
  const auto outcome = evaluator.evaluate(blueprint, "query");
  EXPECT_TRUE(outcome.failed);
  EXPECT_NE(outcome.error.find("made for model"), std::string::npos) << outcome.error;
  EXPECT_EQ(store->trial(outcome.trial_id)->state, TrialState::Fail);
  // Full-set scoring records the dense reference for that subset once.
  const auto full =
      evaluator.evaluate(session.plan(0.3, {}, "query"), "query", Preference{0.5, 0.3, 0.2}, Subset::Full);
  EXPECT_FALSE(full.failed) << full.error;
  EXPECT_TRUE(store->study().dense.contains("full"));
  EXPECT_EQ(store->trial(full.trial_id)->subset, Subset::Full);

  const auto states = session.layer_states();
  EXPECT_EQ(states.size(), session.layers());
  EXPECT_GT(states[0].vision_mass, 0.0);  // calibration had image problems
  // Stored: a second call reads the same numbers back.
  const auto again = session.layer_states();
  EXPECT_DOUBLE_EQ(again[1].synflow_share, states[1].synflow_share);
}

TEST_F(Search, AStudyRefusesAModelWhoseWeightsChanged) {
  test::TempDir other;
  fs::copy(dir_->file("model"), other.file("model"));
  create_study(other.file("s.sqlite"), other.file("model"), dir_->file("bench"), settings_, {}, "");
  EXPECT_THROW(create_study(other.file("s.sqlite"), other.file("model"), dir_->file("bench"), settings_, {}, ""),
               Error);  // never overwrites a study
  fs::remove_all(other.file("model"));
  write_random_model("micro", other.file("model"), 99);  // same place, other weights
  auto store = open_sqlite_study(other.file("s.sqlite"));
  try {
    StudySession session(*store, {}, "");
    FAIL() << "accepted changed weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
}

std::vector<std::string> grpo_plan_hashes(StudyStore& store) {
  std::vector<std::string> out;
  for (const auto& t : store.trials())
    if (t.origin.rfind("grpo:", 0) == 0) out.push_back(t.origin + " " + t.plan_hash);
  return out;
}

TEST_F(Search, HippTrainingResumesExactlyAndQueriesAGrid) {
  test::TempDir dir;
  GrpoSettings settings;
  settings.iterations = 2;
  settings.group = 3;
  settings.prefs_per_iter = 1;
  settings.hidden = 8;
  settings.seed = 5;
  settings.relabel = 2;  // train's defaults: relabelled and replayed groups, preference products
  settings.replay = 2;
  settings.preference_products = true;
  // Uninterrupted: two iterations.
  create_study(dir.file("a.sqlite"), dir_->file("model"), dir_->file("bench"), settings_, {}, "");
  auto a = open_sqlite_study(dir.file("a.sqlite"));
  StudySession session_a(*a, {}, "");
  PlanEvaluator eval_a(session_a);
  HippTrainer trainer_a(eval_a, *a, settings);
  std::vector<HippIterationReport> reports;
  trainer_a.train([&](const HippIterationReport& r) { reports.push_back(r); });
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].evaluations, 6);
  // Interrupted after one iteration, resumed by a new trainer (as a new process would).
  create_study(dir.file("b.sqlite"), dir_->file("model"), dir_->file("bench"), settings_, {}, "");
  {
    auto b = open_sqlite_study(dir.file("b.sqlite"));
    StudySession session_b(*b, {}, "");
    PlanEvaluator eval_b(session_b);
    auto first = settings;
    first.iterations = 1;
    HippTrainer trainer_b(eval_b, *b, first);
    trainer_b.train();
  }
  auto b = open_sqlite_study(dir.file("b.sqlite"));
  StudySession session_b(*b, {}, "");
  PlanEvaluator eval_b(session_b);
  HippTrainer resumed(eval_b, *b, settings);
  EXPECT_EQ(resumed.completed_iterations(), 1);
  resumed.train();
  EXPECT_EQ(resumed.completed_iterations(), 2);
  EXPECT_EQ(grpo_plan_hashes(*a), grpo_plan_hashes(*b));
  EXPECT_EQ(grpo_plan_hashes(*a).size(), 6u);
  for (const auto& t : a->trials()) {
    ASSERT_TRUE(t.preference);
    EXPECT_NEAR((*t.preference)[0] + (*t.preference)[1] + (*t.preference)[2], 1.0, 1e-9);
  }
  // Queries: deterministic, the same from the resumed policy, and a grid evaluated as "query" trials.
  const Preference w{0.7, 0.2, 0.1};
  EXPECT_EQ(blueprint_hash(trainer_a.query(w, 0.4)), blueprint_hash(resumed.query(w, 0.4)));
  EXPECT_EQ(blueprint_hash(trainer_a.query(w)), blueprint_hash(trainer_a.query(w)));
  EXPECT_NEAR(trainer_a.query(w, 0.4).sparsity, 0.4, 1e-12);
  const auto grid = trainer_a.evaluate_query_grid(3);
  EXPECT_GE(grid.size(), 3u);
  EXPECT_EQ(a->trials("query").size(), grid.size());
  EXPECT_TRUE(study_has_policy(*a));
  EXPECT_TRUE(a->blob("hipp/iteration-2"));
}

TEST_F(Search, TheStabilityTermCanJudgeTheAllocationAlone) {
  test::TempDir dir;
  create_study(dir.file("f.sqlite"), dir_->file("model"), dir_->file("bench"), settings_, {}, "");
  auto store = open_sqlite_study(dir.file("f.sqlite"));
  StudySession session(*store, {}, "");
  PlanEvaluator evaluator(session);
  GrpoSettings absolute;
  absolute.hidden = 8;
  auto relative = absolute;
  relative.stability_reference = StabilityReference::Uniform;
  HippTrainer own(evaluator, *store, absolute, "own");
  HippTrainer against_uniform(evaluator, *store, relative, "against-uniform");
  const size_t L = session.layers();
  ASSERT_GE(L, 2u);
  std::vector<double> front_heavy(L, 0.2 / static_cast<double>(L - 1));
  front_heavy[0] = 0.8;
  for (double s : {0.2, 0.5}) {
    const auto uniform = session.plan(s, uniform_allocation(L), "uniform");
    const auto skewed = session.plan(s, front_heavy, "skewed");
    // The plan's own share falls with the sparsity; the reference is the
    // uniform plan's at the same sparsity, so the uniform plan scores 1.
    const auto u_own = own.stability(uniform), u_rel = against_uniform.stability(uniform);
    EXPECT_LT(u_own.rho_geo, 1.0);
    EXPECT_DOUBLE_EQ(u_own.rho_uniform, 1.0);  // not computed for an absolute run
    EXPECT_DOUBLE_EQ(u_rel.rho_uniform, u_rel.rho_geo);
    EXPECT_DOUBLE_EQ(u_rel.rho_min, u_own.rho_min);  // the gate reads the plan's own flow either way
    const auto k_own = own.stability(skewed), k_rel = against_uniform.stability(skewed);
    EXPECT_DOUBLE_EQ(k_rel.rho_geo, k_own.rho_geo);
    EXPECT_DOUBLE_EQ(k_rel.rho_uniform, u_own.rho_geo);
    EXPECT_NE(k_rel.rho_geo, u_own.rho_geo);
  }
  EXPECT_LT(own.stability(session.plan(0.5, uniform_allocation(L), "uniform")).rho_geo,
            own.stability(session.plan(0.2, uniform_allocation(L), "uniform")).rho_geo);
}

TEST_F(Search, TheBudgetPolishMovesTheSparsityAndKeepsEveryFixedSparsityPlan) {
  test::TempDir dir;
  PolishPair pair(dir, dir_->file("model"), dir_->file("bench"), settings_, PolishTarget::Budget);
  auto &plain = *pair.plain, &polished = *pair.polished;
  auto &plain_store = pair.plain_store, &polished_store = pair.polished_store;
  const auto& polished_settings = pair.polished_settings;
  auto& polished_eval = *pair.polished_eval;
  EXPECT_EQ(plain.polished_after(), 0);
  EXPECT_EQ(polished.polished_after(), 2);
  // The same samples (the polish evaluates nothing) ...
  EXPECT_EQ(grpo_plan_hashes(*plain_store), grpo_plan_hashes(*polished_store));
  EXPECT_EQ(plain_store->trials().size(), polished_store->trials().size());
  for (const Preference& w : {Preference{0.8, 0.1, 0.1}, Preference{0.2, 0.2, 0.6}}) {
    // ... every plan at a fixed sparsity as trained, and the free sparsity moved.
    EXPECT_EQ(canonical_blueprint(plain.query(w, 0.4)), canonical_blueprint(polished.query(w, 0.4)));
    EXPECT_NE(plain.query(w).sparsity, polished.query(w).sparsity);
  }
  // The replayed plans carry what they scored and what their flow keeps.
  const auto pool = polished.replay_pool();
  ASSERT_EQ(pool.size(), grpo_plan_hashes(*polished_store).size());
  for (const auto& p : pool) {
    EXPECT_NEAR(p.score.objectives.compression, p.sparsity, 0.05);
    EXPECT_LT(p.score.rho_geo, 1.0);
    EXPECT_LT(p.score.rho_uniform, 1.0);
  }
  // Stored: a new trainer reads the polished policy and does not polish again.
  HippTrainer reopened(polished_eval, *polished_store, polished_settings);
  EXPECT_EQ(reopened.polished_after(), 2);
  EXPECT_EQ(reopened.query({0.2, 0.2, 0.6}).sparsity, polished.query({0.2, 0.2, 0.6}).sparsity);
  reopened.train();
  EXPECT_EQ(reopened.query({0.2, 0.2, 0.6}).sparsity, polished.query({0.2, 0.2, 0.6}).sparsity);
  // The snapshot of the last iteration is the policy before the polish.
  EXPECT_NE(polished_store->blob("hipp/iteration-2"), polished_store->blob("hipp/checkpoint"));
}

TEST_F(Search, ThePlanPolishMovesThePlansOffTheEdgeAndKeepsEveryPlanOnIt) {
  test::TempDir dir;
  PolishPair pair(dir, dir_->file("model"), dir_->file("bench"), settings_, PolishTarget::Plan);
  auto &plain = *pair.plain, &polished = *pair.polished;
  const auto& polished_settings = pair.polished_settings;
  auto& polished_eval = *pair.polished_eval;
  const auto& reports = pair.reports;
  EXPECT_EQ(polished.polished_after(), 2);
  // Two iterations, then the polish announced with its steps.
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[1].polish_steps, 0);
  EXPECT_EQ(reports[2].polish_steps, 5);
  EXPECT_EQ(reports[2].iteration, 2);
  // GRPO never touched the compression head: the same samples ...
  EXPECT_EQ(grpo_plan_hashes(*pair.plain_store), grpo_plan_hashes(*pair.polished_store));
  // ... every plan on the robustness-utility edge at a fixed sparsity as trained ...
  for (double x : {0.0, 0.3, 1.0})
    for (double s : {0.2, 0.5})
      EXPECT_EQ(canonical_blueprint(plain.query({x, 1 - x, 0}, s)),
                canonical_blueprint(polished.query({x, 1 - x, 0}, s)));
  // ... and a compression-weighted plan moved, its allocation as well as its sparsity.
  for (const Preference& w : {Preference{0.3, 0.3, 0.4}, Preference{0.1, 0.2, 0.7}}) {
    EXPECT_NE(plain.query(w).sparsity, polished.query(w).sparsity);
    EXPECT_NE(plain.query(w, 0.4).allocation, polished.query(w, 0.4).allocation);
  }
  // Stored with the head: a new trainer answers alike and does not polish again.
  HippTrainer reopened(polished_eval, *pair.polished_store, polished_settings);
  EXPECT_EQ(canonical_blueprint(reopened.query({0.3, 0.3, 0.4}, 0.4)),
            canonical_blueprint(polished.query({0.3, 0.3, 0.4}, 0.4)));
  reopened.train();
  EXPECT_EQ(canonical_blueprint(reopened.query({0.3, 0.3, 0.4})), canonical_blueprint(polished.query({0.3, 0.3, 0.4})));
  // The plan polish ranks by w . o alone: no uniform plan's flow is measured for it.
  EXPECT_FALSE(reads_uniform_flow(polished.settings()));
  auto budget_only = polished_settings;
  budget_only.polish = PolishTarget::Budget;
  EXPECT_TRUE(reads_uniform_flow(budget_only));
}

TEST_F(Search, QueriesAnswerFromTheStudyAloneAsTheLoadedModelWould) {
  test::TempDir dir;
  fs::copy(dir_->file("model"), dir.file("model"));
  create_study(dir.file("q.sqlite"), dir.file("model"), dir_->file("bench"), settings_, {}, "");
  auto store = open_sqlite_study(dir.file("q.sqlite"));
  GrpoSettings settings;
  settings.iterations = 1;
  settings.group = 2;
  settings.prefs_per_iter = 1;
  settings.hidden = 8;
  EXPECT_EQ(StoredPlanContext::open(*store), nullptr) << "no layer states stored yet";
  StudySession session(*store, {}, "");
  PlanEvaluator evaluator(session);
  HippTrainer loaded(evaluator, *store, settings);
  loaded.train();
  // A new process: only the study file.
  auto reopened = open_sqlite_study(dir.file("q.sqlite"));
  auto context = StoredPlanContext::open(*reopened);
  ASSERT_NE(context, nullptr);
  EXPECT_EQ(context->layer_states().size(), session.layers());
  HippTrainer query_only(*context, *reopened, settings);
  for (const Preference& w : {Preference{0.8, 0.1, 0.1}, Preference{0.1, 0.8, 0.1}, Preference{0.2, 0.2, 0.6}}) {
    EXPECT_EQ(canonical_blueprint(query_only.query(w)), canonical_blueprint(loaded.query(w)));
    EXPECT_EQ(canonical_blueprint(query_only.query(w, 0.5)), canonical_blueprint(loaded.query(w, 0.5)));
  }
  EXPECT_EQ(canonical_blueprint(context->plan(0.3, {0.5, 0.25, 0.25}, "file")),
            canonical_blueprint(session.plan(0.3, {0.5, 0.25, 0.25}, "file")));
  EXPECT_NE(test::error_of([&] { query_only.evaluate_query_grid(3); }).find("queries only"), std::string::npos);
  // The command line answers without loading the model: it works with the
  // model folder gone.
  fs::remove_all(dir.file("model"));
  std::string out;
  ASSERT_EQ(test::cli("query --study " + dir.file("q.sqlite") + " --pref 0.8,0.1,0.1", &out), 0) << out;
  EXPECT_EQ(out.find("loading"), std::string::npos) << out;
  EXPECT_NE(out.find("policy call"), std::string::npos) << out;
}

using test::cli;

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
  // Re-scoring adds full-set trials; the (search-subset) front is unchanged,
  // and the full-set one is there to ask for.
  ASSERT_EQ(cli("--json front --study " + study, &out), 0) << out;
  const auto front_after = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(front_after["front"], front["front"]);
  EXPECT_EQ(front_after["hypervolume"], front["hypervolume"]);
  ASSERT_EQ(cli("--json front --study " + study + " --subset full", &out), 0) << out;
  const auto full_front = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(full_front["trials"].get<size_t>(), front["front"].size());
  ASSERT_EQ(cli("--json study show " + study, &out), 0) << out;
  const auto shown = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_TRUE(shown["dense"].contains("full"));  // the full-set reference, computed once
  EXPECT_EQ(cli("rescore --study " + study + " --trial 999 --cache-dir none", &out), 1) << out;
  // The defaults' lr (small groups, a larger step), with an explicit --group/--prefs-per-iter on top; the grid
  // at one fixed sparsity.
  ASSERT_EQ(cli("--json train --study " + study +
                    " --iterations 1 --group 2 --prefs-per-iter 1 --query-grid 3 --query-sparsities 0.3"
                    " --cache-dir none",
                &out),
            0)
      << out;
  EXPECT_NE(out.find("iteration 1/1"), std::string::npos) << out;
  const auto trained = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(trained["settings"]["group"], 2);
  EXPECT_EQ(trained["settings"]["prefs_per_iter"], 1);
  EXPECT_DOUBLE_EQ(trained["settings"]["lr"].get<double>(), small_budget_grpo_settings().lr);
  EXPECT_GE(trained["queried"].get<int>(), 3);
  // --origin grpo: every GRPO iteration's plans.
  ASSERT_EQ(cli("--json front --study " + study + " --origin grpo", &out), 0) << out;
  EXPECT_GE(nlohmann::json::parse(out.substr(out.find('{')))["trials"].get<int>(), 2);
  ASSERT_EQ(cli("query --study " + study + " --pref 1,0,0 --sparsity 0.4 --evaluate --cache-dir none", &out), 0) << out;
  EXPECT_NE(out.find("sparsity 0.400"), std::string::npos) << out;
  EXPECT_EQ(cli("query --study " + study + " --pref 0,0,0 --cache-dir none", &out), 1) << out;
  EXPECT_EQ(cli("query --study " + study + " --pref 1,0,0 --run nothing --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("no trained policy"), std::string::npos) << out;
  // The robustness-utility curve: three plans at s = 0.4 from (1,0,0) to
  // (0,1,0), scored on the search subset and stored as curve 1's points.
  ASSERT_EQ(cli("--json curve --study " + study + " --sparsity 0.4 --points 3 --subset search --cache-dir none", &out),
            0)
      << out;
  const auto curve = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(curve["curve"], 1);
  ASSERT_EQ(curve["points"].size(), 3u);
  EXPECT_DOUBLE_EQ(curve["points"][0]["preference"][0].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(curve["points"][2]["preference"][1].get<double>(), 1.0);
  for (const auto& p : curve["points"]) {
    EXPECT_NEAR(p["sparsity"].get<double>(), 0.4, 0.02);
    EXPECT_EQ(p["layer_ratios"].size(), 3u);  // the micro model's decoder layers
    EXPECT_GE(p["pope_mean_f1"].get<double>(), 0.0);
  }
  {
    auto store = open_sqlite_study(study);
    int points = 0;
    for (const auto& t : store->trials())
      if (const auto c = curve_origin(t.origin)) points += c->first == 1;
    EXPECT_EQ(points, 3);
  }
  ASSERT_EQ(cli("curve --study " + study + " --sparsity 0.4 --points 2 --subset search --cache-dir none", &out), 0)
      << out;
  EXPECT_NE(out.find("curve 2 (search, s = 0.40)"), std::string::npos) << out;
  EXPECT_EQ(cli("curve --study " + study + " --from 0,0,0 --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("--from entries"), std::string::npos) << out;
  EXPECT_EQ(cli("curve --study " + study + " --points 1 --cache-dir none", &out), 2) << out;
  ASSERT_EQ(cli("study list " + dir_->path(), &out), 0) << out;
  EXPECT_NE(out.find("cli.sqlite"), std::string::npos) << out;
  // Mistakes: one line, non-zero, nothing overwritten.
  EXPECT_EQ(cli("baseline --study " + study + " --method annealing --evals 3", &out), 2) << out;
  EXPECT_EQ(cli("front --study " + dir_->file("none.sqlite"), &out), 1) << out;
  EXPECT_EQ(
      cli("study create --model " + dir_->file("model") + " --bench " + dir_->file("bench") + " --out " + study, &out),
      1)
      << out;
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
  // A resumed run keeps its settings: a different explicit --group is refused.
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --small-budget --group 3 --cache-dir none", &out), 1)
      << out;
  EXPECT_NE(out.find("was started with --group 2"), std::string::npos) << out;
  // --large-groups: METHOD.md's G, B and lr for a new run; beside --small-budget it is a usage error.
  ASSERT_EQ(cli("--json train --study " + study +
                    " --run large --large-groups --iterations 1 --query-grid 0 "
                    "--cache-dir none",
                &out),
            0)
      << out;
  const auto large = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(large["settings"]["group"], GrpoSettings{}.group);
  EXPECT_EQ(large["settings"]["prefs_per_iter"], GrpoSettings{}.prefs_per_iter);
  EXPECT_DOUBLE_EQ(large["settings"]["lr"].get<double>(), GrpoSettings{}.lr);
  EXPECT_EQ(large["settings"]["relabel"], 0);
  EXPECT_EQ(large["settings"]["replay"], 0);
  EXPECT_EQ(large["settings"]["preference_products"], false);
  EXPECT_EQ(cli("train --study " + study + " --run other --large-groups --small-budget --cache-dir none", &out), 2)
      << out;
  // ... and so is another weighing of the objectives (the run weighs them as METHOD.md does).
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --objective-scale spread --cache-dir none", &out), 1)
      << out;
  EXPECT_NE(out.find("was started with --objective-scale dense"), std::string::npos) << out;
  EXPECT_EQ(cli("train --study " + study + " --objective-scale range --cache-dir none", &out), 2) << out;
  // ... and so are other relabelling, replay or policy inputs than the run's (train's defaults: 4, 8, products).
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --relabel 1 --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("was started with --relabel 4"), std::string::npos) << out;
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --policy-inputs plain --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("was started with --policy-inputs products"), std::string::npos) << out;
  EXPECT_EQ(cli("train --study " + study + " --relabel 65 --cache-dir none", &out), 2) << out;
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --replay 3 --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("was started with --replay 8"), std::string::npos) << out;
  EXPECT_EQ(cli("train --study " + study + " --replay -1 --cache-dir none", &out), 2) << out;
  EXPECT_EQ(cli("train --study " + study + " --iterations 2 --lambda-stab 0.02 --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("was started with --lambda-stab 0.1"), std::string::npos) << out;
  EXPECT_EQ(cli("train --study " + study + " --lambda-stab -1 --cache-dir none", &out), 2) << out;
  // export --blueprint never replaces a file.
  const std::string blueprint = dir_->file("kept.json");
  test::write_bytes(blueprint, "keep me");
  EXPECT_EQ(cli("export --study " + study + " --trial 1 --blueprint " + blueprint, &out), 1) << out;
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
  std::ifstream kept(blueprint);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "keep me");
  ASSERT_EQ(cli("export --study " + study + " --trial 1 --blueprint " + dir_->file("new.json"), &out), 0) << out;
  EXPECT_TRUE(fs::exists(dir_->file("new.json")));
  // Reading commands never change the study (nor a file that is not one).
  const std::string empty = dir_->file("empty.sqlite");
  test::write_bytes(empty, "");
  EXPECT_EQ(cli("study show " + empty, &out), 1) << out;
  EXPECT_EQ(cli("front --study " + empty, &out), 1) << out;
  EXPECT_EQ(fs::file_size(empty), 0u);
  ASSERT_EQ(cli("study list " + dir_->path(), &out), 0) << out;
  EXPECT_EQ(fs::file_size(empty), 0u);
  EXPECT_NE(out.find("not a hipp-prune study"), std::string::npos) << out;
}

}  // namespace
}  // namespace hipp
