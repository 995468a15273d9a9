#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

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
  b.pope = {q("1", true, "random"),  q("2", false, "random"),     q("3", true, "random"),
            q("4", false, "random"), q("1", true, "adversarial"), q("2", false, "adversarial")};
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
  test::write_bytes(dir.file("scienceqa.jsonl"),  // the older file name is still read
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
  EXPECT_DOUBLE_EQ(r.sqa.no_image_accuracy, 1.0);
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

std::vector<nlohmann::json> json_lines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<nlohmann::json> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// A benchmark whose POPE questions come in a shuffled order (as the search
// subset gives them), with distinct images so each question can be told apart.
Benchmark shuffled_benchmark() {
  Benchmark b = small_benchmark();
  for (size_t i = 0; i < b.pope.size(); ++i) {
    b.pope[i].image = "img" + std::to_string(i % 4) + ".png";
    b.pope[i].index = static_cast<int>(i % 4);
  }
  std::swap(b.pope[0], b.pope[3]);
  std::swap(b.pope[1], b.pope[5]);
  b.sqa_eval[0].hint = "A hint.";
  b.sqa_eval[0].question = "Which one?";
  return b;
}

// What LLaVA's scorers do with the files, re-done here from their documented
// behaviour: eval_pope.py keeps the answers of one category in file order and
// pairs them by position with that category's label file; eval_science_qa.py
// joins on question_id and counts a problem as IMG when its prompt has
// "<image>".
TEST(AnswerFiles, WrittenInTheLayoutLlavasScriptsRead) {
  test::TempDir dir;
  const auto b = shuffled_benchmark();
  const std::vector<bool> yes = {true, false, false, true, true, true};
  write_answer_files(b, yes, {1, 0, 2}, "demo", dir.path());

  const auto questions = json_lines(dir.file("llava_pope_test.jsonl"));
  const auto answers = json_lines(dir.file("pope_answers.jsonl"));
  ASSERT_EQ(questions.size(), b.pope.size());
  ASSERT_EQ(answers.size(), b.pope.size());
  std::map<int64_t, nlohmann::json> by_id;
  for (const auto& q : questions) {
    EXPECT_TRUE(by_id.emplace(q["question_id"].get<int64_t>(), q).second) << "ids unique over the file";
    EXPECT_NE(q["text"].get<std::string>().find("\nAnswer the question using a single word or phrase."),
              std::string::npos);
  }
  for (const std::string split : {"random", "adversarial"}) {
    const auto labels = json_lines(dir.file("coco/coco_pope_" + split + ".json"));
    std::vector<nlohmann::json> of_split;
    for (const auto& a : answers)
      if (by_id.at(a["question_id"].get<int64_t>())["category"] == split) of_split.push_back(a);
    ASSERT_EQ(of_split.size(), labels.size()) << split;
    for (size_t k = 0; k < labels.size(); ++k) {
      const auto& q = by_id.at(of_split[k]["question_id"].get<int64_t>());
      EXPECT_EQ(q["image"], labels[k]["image"]) << split << " " << k;
      // The answer given to that very question.
      for (size_t i = 0; i < b.pope.size(); ++i) {
        if (b.pope[i].split == split && b.pope[i].image == labels[k]["image"]) {
          EXPECT_EQ(of_split[k]["text"], yes[i] ? "Yes" : "No");
        }
      }
      if (k > 0) {
        EXPECT_LT(labels[k - 1]["image"].get<std::string>(), labels[k]["image"].get<std::string>());
      }
    }
  }
  // ScienceQA: the question file and the answers' prompts.
  std::ifstream in(dir.file("llava_test_CQM-A.json"));
  const auto sqa_questions = nlohmann::json::parse(in);
  ASSERT_EQ(sqa_questions.size(), 3u);
  EXPECT_EQ(sqa_questions[0]["id"], "10");
  EXPECT_EQ(sqa_questions[0]["image"], "10/image.png");
  EXPECT_EQ(sqa_questions[0]["conversations"][0]["value"],
            "<image>\nContext: A hint.\nWhich one?\nA. cat\nB. dog\nC. bus");
  EXPECT_EQ(sqa_questions[0]["conversations"][1]["value"], "The answer is B.");
  EXPECT_FALSE(sqa_questions[1].contains("image"));
  const auto sqa_answers = json_lines(dir.file("scienceqa_answers.jsonl"));
  ASSERT_EQ(sqa_answers.size(), 3u);
  int image_prompts = 0;
  for (const auto& a : sqa_answers)
    image_prompts += a["prompt"].get<std::string>().find("<image>") != std::string::npos;
  EXPECT_EQ(image_prompts, 2);
  EXPECT_EQ(sqa_answers[0]["text"], "B");
  EXPECT_NE(sqa_answers[0]["prompt"].get<std::string>().find(
                "\nAnswer with the option's letter from the given choices directly."),
            std::string::npos);

  // Scoring the written files gives what the predictions give.
  const auto r = score_answer_files(b, dir.path());
  PopeCounts random, adversarial;
  for (size_t i = 0; i < b.pope.size(); ++i)
    (b.pope[i].split == "random" ? random : adversarial).add(yes[i], b.pope[i].label);
  EXPECT_DOUBLE_EQ(r.pope.at("random").f1, pope_metrics(random).f1);
  EXPECT_DOUBLE_EQ(r.pope.at("adversarial").accuracy, pope_metrics(adversarial).accuracy);
  EXPECT_NEAR(r.sqa.accuracy, 1.0 / 3, 1e-12);  // 10 right (B), 11 wrong (A for C), 12 wrong (C for A)
}

// Answers generated from LLaVA's own question file (its ids, its order) join
// through that file's category, image and question text.
TEST(AnswerFiles, AnswersToLlavasOwnQuestionFile) {
  test::TempDir dir;
  const auto b = shuffled_benchmark();
  std::string questions, answers;
  int64_t id = 5000;
  for (auto it = b.pope.rbegin(); it != b.pope.rend(); ++it, ++id) {
    questions += nlohmann::json({{"question_id", id},
                                 {"image", it->image},
                                 {"text", it->text + "\nAnswer the question using a single word or phrase."},
                                 {"category", it->split}})
                     .dump() +
                 "\n";
    answers += nlohmann::json({{"question_id", id}, {"text", it->label ? "Yes." : "No."}}).dump() + "\n";
  }
  test::write_bytes(dir.file("questions.jsonl"), questions);
  test::write_bytes(dir.file("pope_answers.jsonl"), answers);
  test::write_bytes(dir.file("scienceqa_answers.jsonl"),
                    "{\"question_id\": \"10\", \"text\": \"B\"}\n{\"question_id\": \"11\", \"text\": \"C\"}\n"
                    "{\"question_id\": \"12\", \"text\": \"A\"}\n");
  // Without the question file the ids mean nothing: a clear error.
  try {
    score_answer_files(b, dir.path());
    ADD_FAILURE() << "scored pope_answers.jsonl without its question file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llava_pope_test.jsonl"), std::string::npos) << e.what();
  }
  const auto r = score_answer_files(b, ScoreSources{dir.path(), dir.file("questions.jsonl")});
  EXPECT_DOUBLE_EQ(r.pope_mean_f1, 1.0);
  EXPECT_DOUBLE_EQ(r.sqa.accuracy, 1.0);
  // An answer to a question the file does not have is named.
  test::write_bytes(dir.file("pope_answers.jsonl"), answers + "{\"question_id\": 99, \"text\": \"Yes\"}\n");
  EXPECT_THROW(score_answer_files(b, ScoreSources{dir.path(), dir.file("questions.jsonl")}), Error);
}

}  // namespace
}  // namespace hipp
