#include <cmath>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rank_correlation.h"
#include "eval/metrics.h"
#include "study/bootstrap.h"
#include "study/pareto.h"

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

// Per-question outcomes add up to the counts they came from and survive the
// JSON a study stores; results stored without them read back empty.
TEST(BenchmarkResult, OutcomesAddUpAndRoundTrip) {
  std::string pope;
  PopeCounts direct;
  for (int q = 0; q < 12; ++q) {
    const bool yes = q % 3 != 0, label = q % 2 == 0;
    direct.add(yes, label);
    pope += pope_outcome(yes, label);
  }
  const auto c = pope_counts_of(pope);
  EXPECT_EQ(c.tp, direct.tp);
  EXPECT_EQ(c.fp, direct.fp);
  EXPECT_EQ(c.tn, direct.tn);
  EXPECT_EQ(c.fn, direct.fn);
  const std::string sqa{sqa_outcome(true, true), sqa_outcome(false, true), sqa_outcome(true, false)};
  const auto s = sqa_metrics(sqa_counts_of(sqa));
  EXPECT_DOUBLE_EQ(s.image_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(s.no_image_accuracy, 1.0);
  EXPECT_THROW(pope_counts_of("YyX"), Error);
  EXPECT_THROW(sqa_counts_of("Y"), Error);

  BenchmarkResult r;
  r.pope["random"] = pope_metrics(c);
  r.outcomes.pope["random"] = pope;
  r.outcomes.sqa = sqa;
  const auto back = result_from_json(result_to_json(r));
  EXPECT_EQ(back.outcomes.pope.at("random"), pope);
  EXPECT_EQ(back.outcomes.sqa, sqa);
  auto old = result_to_json(r);
  old.erase("outcomes");
  EXPECT_TRUE(result_from_json(old).outcomes.empty());
}

QuestionOutcomes outcomes_of(const std::string& pope, const std::string& sqa) {
  QuestionOutcomes o;
  o.pope["random"] = pope;
  o.sqa = sqa;
  return o;
}

// Unit weights give the objectives the study computes: POPE F1 and
// ScienceQA accuracy over the dense model's.
TEST(Bootstrap, UnitWeightsGiveTheStudysObjectives) {
  const auto dense = outcomes_of("YYNN", "ITTT");            // F1 1, accuracy 1
  const OutcomePlan plan{outcomes_of("YnNy", "iTtT"), 0.4};  // F1 0.5, accuracy 0.5
  const auto o = weighted_objectives(plan, dense, {{1, 1, 1, 1}, {1, 1, 1, 1}});
  EXPECT_DOUBLE_EQ(o.robustness, 0.5);
  EXPECT_DOUBLE_EQ(o.utility, 0.5);
  EXPECT_DOUBLE_EQ(o.compression, 0.4);
  // Weights count questions: drawing the first POPE question twice and the
  // false positive never gives precision 1, recall 2/3.
  const auto w = weighted_objectives(plan, dense, {{2, 1, 1, 0}, {0, 2, 0, 2}});
  EXPECT_NEAR(w.robustness, 0.8, 1e-12);
  EXPECT_DOUBLE_EQ(w.utility, 1.0);
}

// A method no worse than another on every question is never behind it on
// any draw; two methods with the same plans differ by exactly nothing; the
// estimate is the hypervolume on the questions as drawn.
TEST(Bootstrap, PairedIntervalsOrderMethodsThatDifferOnEveryDraw) {
  std::string dense_pope, good_pope, poor_pope, dense_sqa, good_sqa, poor_sqa;
  for (int q = 0; q < 40; ++q) {
    const bool label = q % 2 == 0;
    dense_pope += pope_outcome(label, label);
    good_pope += pope_outcome(q % 10 == 1 ? !label : label, label);
    poor_pope += pope_outcome(q % 10 == 1 || q % 4 == 1 ? !label : label, label);
    dense_sqa += sqa_outcome(true, q % 3 == 0);
    good_sqa += sqa_outcome(q % 5 != 0, q % 3 == 0);
    poor_sqa += sqa_outcome(q % 5 != 0 && q % 7 != 0, q % 3 == 0);
  }
  const auto dense = outcomes_of(dense_pope, dense_sqa);
  const MethodOutcomes good{"good", {{outcomes_of(good_pope, good_sqa), 0.5}}};
  const MethodOutcomes poor{"poor", {{outcomes_of(poor_pope, poor_sqa), 0.5}}};
  const MethodOutcomes twin{"twin", good.plans};
  BootstrapOptions options;
  options.resamples = 200;
  const auto report = bootstrap_hypervolumes(dense, {good, poor, twin}, options);
  ASSERT_EQ(report.hypervolume.size(), 3u);
  ASSERT_EQ(report.versus_first.size(), 2u);
  const auto exact = weighted_objectives(good.plans[0], dense, {std::vector<int>(40, 1), std::vector<int>(40, 1)});
  EXPECT_DOUBLE_EQ(report.hypervolume[0].estimate, hypervolume({exact}));
  EXPECT_LE(report.hypervolume[0].low, report.hypervolume[0].estimate);
  EXPECT_GE(report.hypervolume[0].high, report.hypervolume[0].estimate);
  EXPECT_LT(report.hypervolume[0].low, report.hypervolume[0].high);  // the draw matters
  const auto& vs_poor = report.versus_first[0];
  EXPECT_EQ(vs_poor.other, "poor");
  EXPECT_GT(vs_poor.difference.estimate, 0);
  EXPECT_GE(vs_poor.difference.low, 0);
  EXPECT_DOUBLE_EQ(vs_poor.share_ahead, 1.0);
  const auto& vs_twin = report.versus_first[1];
  EXPECT_DOUBLE_EQ(vs_twin.difference.low, 0);
  EXPECT_DOUBLE_EQ(vs_twin.difference.high, 0);
  EXPECT_DOUBLE_EQ(vs_twin.share_ahead, 0);
}

TEST(Bootstrap, RefusesPlansScoredOnOtherQuestions) {
  const auto dense = outcomes_of("YYNN", "ITTT");
  const MethodOutcomes short_plan{"random", {{outcomes_of("YYN", "ITTT"), 0.3}}};
  try {
    bootstrap_hypervolumes(dense, {short_plan});
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("random"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bootstrap_hypervolumes(QuestionOutcomes{}, {}), Error);
  const MethodOutcomes damaged{"random", {{outcomes_of("YYNX", "ITTT"), 0.3}}};
  EXPECT_THROW(bootstrap_hypervolumes(dense, {damaged}), Error);
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
