#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/answers.h"
#include "support.h"

namespace hipp {
namespace {

Benchmark small_benchmark() {
  Benchmark b;
  auto q = [](const std::string& id, bool label, const std::string& split) {
    PopeQuestion p;
    p.question_id = id;
    p.image = "x.png";
    p.text = "Is there a dog in the image?";
    p.label = label;
    p.split = split;
    return p;
  };
  b.pope = {q("1", true, "random"), q("2", false, "random"), q("3", true, "random"), q("4", false, "random"),
            q("1", true, "adversarial"), q("2", false, "adversarial")};
  SqaProblem p1;
  p1.pid = "10";
  p1.choices = {"cat", "dog", "bus"};
  p1.answer = 1;
  p1.image = "image.png";
  SqaProblem p2 = p1;
  p2.pid = "11";
  p2.answer = 2;
  p2.image = "";
  SqaProblem p3 = p1;
  p3.pid = "12";
  p3.answer = 0;
  b.sqa_eval = {p1, p2, p3};
  return b;
}

TEST(AnswerFiles, OfficialTextRulesJoinedOnQuestionId) {
  test::TempDir dir;
  // Out of order on purpose; answers are joined on question_id.
  test::write_bytes(dir.file("pope_random.jsonl"),
                    "{\"question_id\": 3, \"text\": \"Yes, there is a dog.\"}\n"
                    "{\"question_id\": 1, \"text\": \"There is not a dog in the image.\"}\n"
                    "\n"
                    "{\"question_id\": 4, \"text\": \"No\"}\n"
                    "{\"question_id\": 2, \"text\": \"yes\"}\n");
  test::write_bytes(dir.file("pope_adversarial.jsonl"),
                    "{\"question_id\": \"2\", \"text\": \"no, there isn't.\"}\n"
                    "{\"question_id\": \"1\", \"text\": \"Yes\"}\n");
  test::write_bytes(dir.file("scienceqa.jsonl"),
                    "{\"question_id\": \"11\", \"text\": \"The answer is C.\"}\n"
                    "{\"question_id\": \"10\", \"text\": \"B. dog\"}\n"
                    "{\"question_id\": \"12\", \"text\": \"I am not sure.\"}\n");
  const auto r = score_answer_files(small_benchmark(), dir.path());
  // random: predictions yes(3) no(1) no(4) yes(2) against labels yes yes no no.
  EXPECT_EQ(r.pope.at("random").questions, 4);
  EXPECT_DOUBLE_EQ(r.pope.at("random").accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.pope.at("random").precision, 0.5);
  EXPECT_DOUBLE_EQ(r.pope.at("random").recall, 0.5);
  EXPECT_DOUBLE_EQ(r.pope.at("adversarial").accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.pope_mean_f1, (0.5 + 1.0) / 2);
  // ScienceQA: C right, B right, a failed reading counts as wrong.
  EXPECT_NEAR(r.sqa.accuracy, 2.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(r.sqa.text_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(r.sqa.image_accuracy, 0.5);
}

TEST(AnswerFiles, MissingAnswersAndBadLinesNameTheFile) {
  test::TempDir dir;
  test::write_bytes(dir.file("pope_adversarial.jsonl"),
                    "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 2, \"text\": \"No\"}\n");
  test::write_bytes(dir.file("pope_random.jsonl"), "{\"question_id\": 1, \"text\": \"Yes\"}\n");
  auto expect_error = [&](const std::string& fragment) {
    try {
      score_answer_files(small_benchmark(), dir.path());
      ADD_FAILURE() << "scored incomplete answers";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("no answer for question_id 2");
  test::write_bytes(dir.file("pope_random.jsonl"), "{\"question_id\": 1, \"text\": \"Yes\"}\n{oops\n");
  expect_error("pope_random.jsonl:2");
  test::write_bytes(dir.file("pope_random.jsonl"), "{\"question_id\": 1}\n");
  expect_error("pope_random.jsonl:1");
  EXPECT_THROW(score_answer_files(small_benchmark(), dir.file("nowhere")), Error);
}

}  // namespace
}  // namespace hipp
