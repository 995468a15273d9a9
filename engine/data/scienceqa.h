#pragma once
// ScienceQA in its release layout: problems.json (pid -> problem),
// pid_splits.json (split -> pids), images/<split>/<pid>/image.png. Torch-free.
#include <map>
#include <string>
#include <vector>

namespace hipp {

struct SqaProblem {
  std::string pid;
  std::string question;
  std::vector<std::string> choices;
  int answer = 0;     // index into choices
  std::string hint;   // the context, may be empty
  std::string image;  // "image.png" or empty for text-only problems
  std::string split;  // train / val / test ...
  std::string subject, category, skill;
  std::string grade;  // "grade1" ... "grade12"

  bool has_image() const { return !image.empty(); }
};

struct SqaDataset {
  std::string dir;
  std::map<std::string, SqaProblem> problems;
  std::map<std::string, std::vector<std::string>> splits;  // split -> pids

  // Problems of one split, in pid_splits order; errors for unknown splits.
  std::vector<SqaProblem> split(const std::string& name) const;
  std::string image_path(const SqaProblem& problem) const;
};

// Reads and validates the dataset: every pid of pid_splits exists, answer
// indices are in range. Image files are checked when an evaluation opens them.
SqaDataset read_scienceqa(const std::string& dir);
void write_scienceqa(const SqaDataset& dataset, const std::string& dir);

// The instruction LLaVA's --single-pred-prompt appends.
inline constexpr const char* kSqaInstruction = "Answer with the option's letter from the given choices directly.";
// The question as LLaVA's question file (llava_test_CQM-A.json) holds it:
// "Context: {hint}\n" when there is one, "{question}", "\nA. {choice}" ...
std::string sqa_question_text(const SqaProblem& problem);
// The prompt LLaVA evaluates: the question text, "\n", the instruction (the
// caller adds "<image>\n" for images).
std::string sqa_prompt_text(const SqaProblem& problem);
char option_letter(size_t index);

}  // namespace hipp
