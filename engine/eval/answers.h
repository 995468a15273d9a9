#pragma once
// Answer files in the layout LLaVA's evaluation scripts read, written by
// `eval --answers-dir` and scored by `score`. Torch-free.
//
// Written (file names as LLaVA's scripts call them):
//   llava_pope_test.jsonl      POPE questions of every evaluated split, one
//                              JSON object a line: question_id (unique over
//                              the file), image, text (with LLaVA's
//                              instruction), category (the split)
//   pope_answers.jsonl         the answers, in the question file's order
//   coco/coco_pope_<split>.json the labels of the evaluated questions, in the
//                              same order (what eval_pope.py zips answers with)
//   llava_test_CQM-A.json      ScienceQA questions as LLaVA's question file
//   scienceqa_answers.jsonl    the ScienceQA answers, question_id = pid, the
//                              prompt with "<image>\n" for image problems
//
// Scoring follows the official text rules: POPE reads the first sentence ("no"
// or "not" means no), ScienceQA the option letter as eval_science_qa.py does.
// Answers join the questions on question_id (POPE through the question file's
// category, image and text), never on file order.
#include <string>
#include <vector>

#include "eval/benchmark.h"
#include "eval/metrics.h"

namespace hipp {

struct AnswerFileNames {
  static constexpr const char* kPopeQuestions = "llava_pope_test.jsonl";
  static constexpr const char* kPopeAnswers = "pope_answers.jsonl";
  static constexpr const char* kPopeLabels = "coco";
  static constexpr const char* kSqaQuestions = "llava_test_CQM-A.json";
  static constexpr const char* kSqaAnswers = "scienceqa_answers.jsonl";
};

// pope_yes[i] answers benchmark.pope[i]; sqa_choice[i] (an option index)
// answers benchmark.sqa_eval[i]. Files are replaced atomically.
void write_answer_files(const Benchmark& benchmark, const std::vector<bool>& pope_yes,
                        const std::vector<int>& sqa_choice, const std::string& model_id, const std::string& dir);

struct ScoreSources {
  std::string answers_dir;
  // The POPE question file the answers were generated from; empty:
  // answers_dir/llava_pope_test.jsonl. Needed for pope_answers.jsonl (its
  // ids), not for per-split answer files.
  std::string pope_questions;
};

// Reads answers_dir/pope_answers.jsonl with its question file (or, from older
// versions of this program, pope_{random,popular,adversarial}.jsonl) and
// answers_dir/scienceqa_answers.jsonl (or scienceqa.jsonl). A malformed line
// names its file and line; a question without an answer is an error naming it.
BenchmarkResult score_answer_files(const Benchmark& benchmark, const ScoreSources& sources);
BenchmarkResult score_answer_files(const Benchmark& benchmark, const std::string& answers_dir);

}  // namespace hipp
