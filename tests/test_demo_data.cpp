// The demo model and benchmark committed under data/demo: they load through
// the same code as any model folder and benchmark, and still clear the demo's
// quality bar on the full test sets (their checksums are the ctest
// demo_data_checksums).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/synthetic.h"
#include "demo/demo.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/config.h"
#include "model/model_folder.h"
#include "search/plan_evaluator.h"
#include "support.h"

namespace hipp {
namespace {

TEST(DemoData, CommittedDemoClearsItsQualityBar) {
  const std::string dir = HIPP_DEMO_DATA;
  if (!std::filesystem::exists(dir + "/demo-report.json")) GTEST_SKIP() << "no committed demo in " << dir;
  auto folder = load_model_folder(dir + "/model");
  const auto benchmark = load_benchmark(dir + "/bench");
  Evaluator evaluator(folder.model, folder.tokenizer, folder.preprocessor);
  DemoReport report;
  report.test = evaluator.evaluate(benchmark);
  EvalOptions blank;
  blank.blank_images = true;
  report.blank = evaluator.evaluate(benchmark, blank);
  EXPECT_EQ(report.test.pope.at("random").questions, 900);
  EXPECT_EQ(report.test.sqa.questions, 600);
  const auto failures = demo_quality_failures(report);
  std::string all;
  for (const auto& f : failures) all += f + "; ";
  EXPECT_TRUE(failures.empty()) << all;
}

// The committed benchmark is what the generator writes today from the seed
// in demo-report.json, byte for byte: a change to the synthetic world (its
// scenes, questions or body of knowledge) must come with a new committed
// demo, or the model would be scored on a world it was not trained for.
TEST(DemoData, CommittedBenchmarkIsTheGeneratorsWorld) {
  namespace fs = std::filesystem;
  const std::string dir = HIPP_DEMO_DATA;
  if (!fs::exists(dir + "/demo-report.json")) GTEST_SKIP() << "no committed demo in " << dir;
  std::ifstream report_file(dir + "/demo-report.json");
  const auto report = nlohmann::json::parse(report_file);
  const auto& settings = report.at("settings");
  SyntheticBenchmarkOptions options;
  options.seed = settings.at("benchmark_seed").get<uint64_t>();
  options.sqa_image_every = settings.value("sqa_image_every", options.sqa_image_every);
  options.scene.image_size = static_cast<int>(read_llava_config(dir + "/model/config.json").vision.image_size);
  test::TempDir temp;
  write_synthetic_benchmark(temp.file("bench"), options);
  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(temp.file("bench"))) {
    if (!entry.is_regular_file()) continue;
    const auto relative = fs::relative(entry.path(), temp.file("bench"));
    const auto committed = fs::path(dir) / "bench" / relative;
    ASSERT_TRUE(fs::exists(committed)) << relative << " is not in the committed benchmark";
    EXPECT_TRUE(read(entry.path()) == read(committed)) << relative << " differs from the committed benchmark";
    ++files;
  }
  size_t committed_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(dir) / "bench"))
    committed_files += entry.is_regular_file();
  EXPECT_EQ(files, committed_files);
}

// The reason the demo exists (#15, #16): at s = 0.5 on the full test sets
// uniform pruning costs grounding and knowledge, a robustness-leaning
// allocation keeps POPE at least as well as uniform, and a utility-leaning
// one gives POPE up for ScienceQA. A fixed set of three plans (docs/demo.md,
// run H67); bench_tradeoff measures the whole picture.
TEST(DemoData, CommittedDemoTradesRobustnessForUtility) {
  const std::string dir = HIPP_DEMO_DATA;
  if (!std::filesystem::exists(dir + "/demo-report.json")) GTEST_SKIP() << "no committed demo in " << dir;
  // The 4-layer demo (run F6) has no trade-off (docs/demo.md, series G).
  const auto layer_count = read_llava_config(dir + "/model/config.json").text.num_hidden_layers;
  if (layer_count < 8) GTEST_SKIP() << "the committed demo has " << layer_count << " decoder layers";
  test::TempDir temp;
  const std::string study = temp.file("study.sqlite");
  StudySettings settings;  // the defaults a user's study gets
  create_study(study, dir + "/model", dir + "/bench", settings, {}, "");
  auto store = open_sqlite_study(study);
  StudySession session(*store, {}, "");
  PlanEvaluator evaluator(session);
  const size_t layers = session.layers();
  ASSERT_EQ(layers, 8u);
  // Allocations as `prune --allocation` takes them (shares of the budget):
  // the robustness-leaning one takes the budget from layers 6-7 and spares
  // layer 4, which holds part of the grounding; the utility-leaning one
  // takes it from the seeing layers 0-3 and spares the knowledge in 4-6.
  auto normalised = [](std::vector<double> a) {
    double total = 0;
    for (double x : a) total += x;
    for (double& x : a) x /= total;
    return a;
  };
  const auto uniform_plan = normalised(std::vector<double>(layers, 1.0));
  const auto robust_plan = normalised({0.4, 0.4, 0.4, 0.4, 0.1, 0.4, 0.9, 0.9});
  const auto utility_plan = normalised({0.9, 0.9, 0.9, 0.9, 0.05, 0.05, 0.3, 0.9});
  struct Scores {
    double pope, sqa;
  };
  auto score = [&](const std::vector<double>& allocation) {
    const auto out = evaluator.evaluate(session.plan(0.5, allocation, "test"), "test", std::nullopt, Subset::Full);
    EXPECT_FALSE(out.failed) << out.error;
    return Scores{out.metrics.raw.value("pope_mean_f1", 0.0), out.metrics.raw["scienceqa"].value("accuracy", 0.0)};
  };
  const Scores uniform = score(uniform_plan), robust = score(robust_plan), utility = score(utility_plan);
  const auto dense = session.dense_result(Subset::Full, {});
  EXPECT_GE(dense.pope_mean_f1 - uniform.pope, 0.03) << "uniform pruning at s = 0.5 should cost grounding";
  EXPECT_GE(dense.sqa.accuracy - uniform.sqa, 0.03) << "... and knowledge";
  EXPECT_GE(robust.pope, uniform.pope)
      << "a robustness-leaning allocation should keep POPE at least as well as uniform";
  EXPECT_GE(utility.sqa - robust.sqa, 0.05) << "a utility-leaning allocation should keep more ScienceQA";
  EXPECT_GE(robust.pope - utility.pope, 0.05) << "... and give up POPE for it";
}

}  // namespace
}  // namespace hipp
