// The demo model and benchmark committed under data/demo: they load through
// the same code as any model folder and benchmark, and still clear the demo's
// quality bar on the full test sets (their checksums are the ctest
// demo_data_checksums).
#include <gtest/gtest.h>

#include <filesystem>

#include "demo/demo.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/model_folder.h"

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

}  // namespace
}  // namespace hipp
