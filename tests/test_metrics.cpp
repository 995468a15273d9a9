#include <cmath>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rank_correlation.h"
#include "eval/metrics.h"

namespace hipp {
namespace {

PopeCounts counts(int tp, int fp, int tn, int fn) {
  PopeCounts c;
  c.tp = tp, c.fp = fp, c.tn = tn, c.fn = fn;
  return c;
}

TEST(PopeMetrics, HandComputedConfusionMatrix) {
  // 40 yes-labels (30 found), 60 no-labels (10 wrongly called yes).
  const auto m = pope_metrics(counts(30, 10, 50, 10));
  EXPECT_EQ(m.questions, 100);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.8);
  EXPECT_DOUBLE_EQ(m.precision, 0.75);
  EXPECT_DOUBLE_EQ(m.recall, 0.75);
  EXPECT_DOUBLE_EQ(m.f1, 0.75);
  EXPECT_DOUBLE_EQ(m.yes_ratio, 0.4);
}

TEST(PopeMetrics, AllYesAndAllNo) {
  const auto all_yes = pope_metrics(counts(50, 50, 0, 0));
  EXPECT_DOUBLE_EQ(all_yes.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(all_yes.precision, 0.5);
  EXPECT_DOUBLE_EQ(all_yes.recall, 1.0);
  EXPECT_NEAR(all_yes.f1, 2.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(all_yes.yes_ratio, 1.0);
  const auto all_no = pope_metrics(counts(0, 0, 50, 50));
  EXPECT_DOUBLE_EQ(all_no.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(all_no.precision, 0.0);  // empty denominator
  EXPECT_DOUBLE_EQ(all_no.recall, 0.0);
  EXPECT_DOUBLE_EQ(all_no.f1, 0.0);
  EXPECT_DOUBLE_EQ(all_no.yes_ratio, 0.0);
  const auto empty = pope_metrics(PopeCounts{});
  EXPECT_EQ(empty.questions, 0);
  EXPECT_DOUBLE_EQ(empty.accuracy, 0.0);
}

TEST(PopeMetrics, CountsAddUp) {
  PopeCounts c;
  c.add(true, true);
  c.add(true, false);
  c.add(false, false);
  c.add(false, true);
  c.add(false, true);
  EXPECT_EQ(c.tp, 1);
  EXPECT_EQ(c.fp, 1);
  EXPECT_EQ(c.tn, 1);
  EXPECT_EQ(c.fn, 2);
}

TEST(SqaMetrics, OverallImageAndText) {
  SqaCounts c;
  c.add(true, true);
  c.add(false, true);
  c.add(true, false);
  c.add(true, false);
  const auto m = sqa_metrics(c);
  EXPECT_EQ(m.questions, 4);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(m.image_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.no_image_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(sqa_metrics(SqaCounts{}).accuracy, 0.0);
}

TEST(AnswerText, PopeOfficialRule) {
  EXPECT_TRUE(pope_text_says_yes("Yes, there is a dog in the image."));
  EXPECT_FALSE(pope_text_says_yes("No, there is no dog."));
  EXPECT_FALSE(pope_text_says_yes("There is not a dog"));
  EXPECT_FALSE(pope_text_says_yes("no"));
  // Only the first sentence counts.
  EXPECT_TRUE(pope_text_says_yes("There is a dog. No cat though."));
  // Commas are dropped before splitting into words.
  EXPECT_FALSE(pope_text_says_yes("No,"));
  // "Nothing" is not the word "no".
  EXPECT_TRUE(pope_text_says_yes("Nothing else"));
}

TEST(AnswerText, ScienceQaOfficialRule) {
  EXPECT_EQ(sqa_text_choice("B", 3), 1);
  EXPECT_EQ(sqa_text_choice("C. a dog", 3), 2);
  EXPECT_EQ(sqa_text_choice("I think so. The answer is A.", 3), 0);
  EXPECT_EQ(sqa_text_choice("D", 3), -1);  // not an option
  EXPECT_EQ(sqa_text_choice("maybe", 3), -1);
  // As LLaVA's eval_science_qa.py reads them: a leading "X. " wins over a
  // later "The answer is", the first "The answer is X." counts, a newline
  // reads as ". ", and the period after the letter is optional.
  EXPECT_EQ(sqa_text_choice("The answer is A. The answer is B.", 3), 0);
  EXPECT_EQ(sqa_text_choice("B. The answer is A.", 3), 1);
  EXPECT_EQ(sqa_text_choice("A. The answer is B.", 3), 0);
  EXPECT_EQ(sqa_text_choice("The answer is A\r", 3), 0);
  EXPECT_EQ(sqa_text_choice("The answer is B", 3), 1);
  EXPECT_EQ(sqa_text_choice("  C  ", 3), 2);
  EXPECT_EQ(sqa_text_choice("  C \n", 3), -1);  // "C ." after the newline
  EXPECT_EQ(sqa_text_choice("B\n", 3), 1);
  EXPECT_EQ(sqa_text_choice(" B. dog", 3), -1);  // "X. " only at the very start
  EXPECT_EQ(sqa_text_choice("F", 6), -1);        // letters A-E only
  EXPECT_EQ(sqa_text_choice("the answer is B.", 3), -1);
}

TEST(ScienceQaCategories, OfficialNames) {
  SqaProblem p;
  p.subject = "natural science";
  p.grade = "grade3";
  EXPECT_EQ(sqa_official_categories(p), (std::vector<std::string>{"NAT", "NO", "G1-6"}));
  p.subject = "language science";
  p.hint = "A context.";
  p.image = "image.png";
  p.grade = "grade11";
  EXPECT_EQ(sqa_official_categories(p), (std::vector<std::string>{"LAN", "TXT", "IMG", "G7-12"}));
  p.subject = "social science";
  p.hint = "";
  p.grade = "grade";
  EXPECT_EQ(sqa_official_categories(p), (std::vector<std::string>{"SOC", "IMG"}));

  SqaCounts counts;
  SqaProblem q;
  q.subject = "natural science";
  q.grade = "grade2";
  counts.add(true, q);
  q.image = "image.png";
  counts.add(false, q);
  const auto m = sqa_metrics(counts);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.no_image_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(m.image_accuracy, 0.0);
  EXPECT_EQ(m.categories.at("NAT").questions, 2);
  EXPECT_DOUBLE_EQ(m.categories.at("NAT").accuracy, 0.5);
  EXPECT_EQ(m.categories.at("NO").questions, 1);
  EXPECT_DOUBLE_EQ(m.categories.at("IMG").accuracy, 0.0);
  EXPECT_EQ(m.categories.count("SOC"), 0u);
  BenchmarkResult r;
  r.sqa = m;
  const auto back = result_from_json(result_to_json(r));
  EXPECT_EQ(back.sqa.categories.at("G1-6").questions, 2);
  const auto text = result_to_text(r);
  EXPECT_NE(text.find("no image 1.000"), std::string::npos) << text;
  EXPECT_NE(text.find("NAT 0.500 (2)"), std::string::npos) << text;
}

TEST(BenchmarkResult, JsonRoundTrip) {
  BenchmarkResult r;
  r.pope["random"] = pope_metrics(counts(30, 10, 50, 10));
  r.pope_mean_f1 = 0.75;
  r.sqa = {10, 0.7, 0.6, 0.8, {}};
  r.seconds = 1.5;
  const auto back = result_from_json(result_to_json(r));
  EXPECT_DOUBLE_EQ(back.pope.at("random").precision, 0.75);
  EXPECT_DOUBLE_EQ(back.sqa.no_image_accuracy, 0.8);
  // Results stored before the rename name the no-image share text_accuracy.
  auto old = result_to_json(r);
  old["scienceqa"].erase("no_image_accuracy");
  old["scienceqa"]["text_accuracy"] = 0.25;
  EXPECT_DOUBLE_EQ(result_from_json(old).sqa.no_image_accuracy, 0.25);
  upgrade_result_json(old);  // as the study store does on reading
  EXPECT_DOUBLE_EQ(old["scienceqa"]["no_image_accuracy"].get<double>(), 0.25);
  EXPECT_FALSE(old["scienceqa"].contains("text_accuracy"));
  EXPECT_NE(result_to_text(r).find("mean F1 0.750"), std::string::npos);
}

}  // namespace
}  // namespace hipp

TEST(RankCorrelation, TiesShareTheirMeanRank) {
  EXPECT_EQ(hipp::average_ranks({0.3, 0.1, 0.3, 0.2}), (std::vector<double>{2.5, 0.0, 2.5, 1.0}));
}

TEST(RankCorrelation, MonotoneOppositeTiedAndConstant) {
  const std::vector<double> x{0.0, 0.1, 0.2, 0.3, 0.4};
  EXPECT_NEAR(hipp::spearman(x, {0.5, 0.6, 0.9, 0.91, 2.0}), 1.0, 1e-12);  // any increasing map
  EXPECT_NEAR(hipp::spearman(x, {5.0, 4.0, 3.0, 1.0, 0.0}), -1.0, 1e-12);  // decreasing
  // Hand-computed with ties: ranks of y are 0.5, 0.5, 2, 3.5, 3.5;
  // sxy = 9, sxx = 10, syy = 9.
  EXPECT_NEAR(hipp::spearman(x, {1.0, 1.0, 2.0, 3.0, 3.0}), 9.0 / std::sqrt(90.0), 1e-12);
  EXPECT_EQ(hipp::spearman(x, {0.98, 0.98, 0.98, 0.98, 0.98}),
            0.0);  // all tied: no ranking to follow
  EXPECT_THROW(hipp::spearman(x, {1.0}), hipp::Error);
}
