// POPE and ScienceQA readers and writers on small files the tests write.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "data/pope.h"
#include "data/scienceqa.h"
#include "support.h"

namespace hipp {
namespace {

void expect_error(const std::function<void()>& action, const std::string& needle) {
  try {
    action();
    FAIL() << "no error; expected: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Pope, ReadsOfficialLinesAndRoundTrips) {
  test::TempDir dir;
  test::write_bytes(dir.file("coco_pope_random.json"),
                    "{\"question_id\": 1, \"image\": \"COCO_val2014_000000310196.jpg\", "
                    "\"text\": \"Is there a snowboard in the image?\", \"label\": \"yes\"}\n"
                    "\n"
                    "{\"question_id\": 2, \"image\": \"COCO_val2014_000000310196.jpg\", "
                    "\"text\": \"Is there a dog in the image?\", \"label\": \"no\"}\n");
  const auto path = find_pope_file(dir.path(), "random");
  auto questions = read_pope_file(path, "random");
  ASSERT_EQ(questions.size(), 2u);
  EXPECT_EQ(questions[0].question_id, "1");
  EXPECT_TRUE(questions[0].label);
  EXPECT_FALSE(questions[1].label);
  write_pope_file(dir.file("copy.json"), questions);
  auto again = read_pope_file(dir.file("copy.json"), "random");
  EXPECT_EQ(again[1].text, "Is there a dog in the image?");
  EXPECT_THROW(find_pope_file(dir.path(), "adversarial"), Error);
}

TEST(Pope, BadLinesNameFileAndLine) {
  test::TempDir dir;
  const auto path = dir.file("x_pope_random.json");
  test::write_bytes(path, "{\"question_id\": 1, \"image\": \"a.png\", \"text\": \"q\", \"label\": \"yes\"}\n{oops\n");
  expect_error([&] { read_pope_file(path, "random"); }, "x_pope_random.json:2: invalid JSON");
  test::write_bytes(path, "{\"question_id\": 1, \"text\": \"q\", \"label\": \"yes\"}\n");
  expect_error([&] { read_pope_file(path, "random"); }, ":1: missing field 'image'");
  test::write_bytes(path, "{\"question_id\": 1, \"image\": \"a\", \"text\": \"q\", \"label\": \"maybe\"}\n");
  expect_error([&] { read_pope_file(path, "random"); }, "label must be");
  test::write_bytes(path,
                    "{\"question_id\": 1, \"image\": \"a\", \"text\": \"q\", \"label\": \"no\"}\n"
                    "{\"question_id\": 1, \"image\": \"a\", \"text\": \"q\", \"label\": \"no\"}\n");
  expect_error([&] { read_pope_file(path, "random"); }, "duplicate question_id");
  expect_error([&] { read_pope_file(dir.file("absent.json"), "random"); }, "cannot open");
  // Images are read from inside the benchmark folder only.
  for (const char* image : {"../secret.png", "/etc/passwd", "sub/../../x.png"}) {
    test::write_bytes(
        path, "{\"question_id\": 1, \"image\": \"" + std::string(image) + "\", \"text\": \"q\", \"label\": \"no\"}\n");
    expect_error([&] { read_pope_file(path, "random"); }, "must stay inside the benchmark folder");
  }
  // An empty split is an error, not a split left out of the mean.
  test::write_bytes(path, "\n");
  expect_error([&] { read_pope_file(path, "random"); }, "no questions");
}

SqaDataset small_dataset(const std::string& dir) {
  SqaDataset d;
  d.dir = dir;
  SqaProblem a;
  a.pid = "7";
  a.question = "Which of these is an animal?";
  a.choices = {"cup", "dog"};
  a.answer = 1;
  a.hint = "Each answer names a thing.";
  a.split = "test";
  SqaProblem b = a;
  b.pid = "8";
  b.image = "image.png";
  b.hint.clear();
  d.problems = {{"7", a}, {"8", b}};
  d.splits = {{"test", {"7", "8"}}};
  return d;
}

TEST(ScienceQa, RoundTripAndPrompt) {
  test::TempDir dir;
  write_scienceqa(small_dataset(dir.path()), dir.path());
  const auto data = read_scienceqa(dir.path());
  const auto test = data.split("test");
  ASSERT_EQ(test.size(), 2u);
  EXPECT_EQ(test[0].choices[1], "dog");
  EXPECT_FALSE(test[0].has_image());
  EXPECT_TRUE(test[1].has_image());
  EXPECT_EQ(data.image_path(test[1]), (std::filesystem::path(dir.path()) / "images/test/8/image.png").string());
  EXPECT_EQ(sqa_prompt_text(test[0]),
            "Context: Each answer names a thing.\nWhich of these is an animal?\nA. cup\nB. dog\n"
            "Answer with the option's letter from the given choices directly.");
  EXPECT_EQ(sqa_prompt_text(test[1]).rfind("Which of these", 0), 0u);
  EXPECT_THROW(data.split("train"), Error);
}

TEST(ScienceQa, BadFilesAreClearErrors) {
  test::TempDir dir;
  write_scienceqa(small_dataset(dir.path()), dir.path());
  auto problems = read_json_file(dir.file("problems.json"));
  problems["7"]["answer"] = 5;
  write_json_file(dir.file("problems.json"), problems);
  expect_error([&] { read_scienceqa(dir.path()); }, "problem 7: answer index 5 is out of range");
  problems["7"]["answer"] = 0;
  problems["7"].erase("choices");
  write_json_file(dir.file("problems.json"), problems);
  expect_error([&] { read_scienceqa(dir.path()); }, "problem 7: missing field 'choices'");
  write_scienceqa(small_dataset(dir.path()), dir.path());
  write_json_file(dir.file("pid_splits.json"), {{"test", {"7", "99"}}});
  expect_error([&] { read_scienceqa(dir.path()); }, "unknown problem 99");
  write_json_file(dir.file("pid_splits.json"), {{"test", {"7", "8"}}});
  problems = read_json_file(dir.file("problems.json"));
  problems["8"]["image"] = "../../../outside.png";
  write_json_file(dir.file("problems.json"), problems);
  expect_error([&] { read_scienceqa(dir.path()); }, "problem 8: path 'test/8/../../../outside.png' must stay inside");
  std::filesystem::remove(dir.file("problems.json"));
  expect_error([&] { read_scienceqa(dir.path()); }, "problems.json: cannot open");
}

}  // namespace
}  // namespace hipp
