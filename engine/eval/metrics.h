#pragma once
// POPE and ScienceQA metrics, and the official rules that read generated
// answer text. Torch-free.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/scienceqa.h"

namespace hipp {

struct PopeCounts {
  int tp = 0, fp = 0, tn = 0, fn = 0;
  void add(bool predicted_yes, bool label_yes);
  int total() const { return tp + fp + tn + fn; }
};

struct PopeMetrics {
  int questions = 0;
  double accuracy = 0, precision = 0, recall = 0, f1 = 0, yes_ratio = 0;
};

// Empty denominators give 0 (no positive predictions: precision 0, F1 0).
PopeMetrics pope_metrics(const PopeCounts& counts);

// ScienceQA's own question categories, by their official names: NAT, SOC,
// LAN (the subject), TXT (has a context), IMG (has an image), NO (neither),
// G1-6 and G7-12 (the grade). A problem is in one subject, one grade band
// and any of TXT / IMG / NO.
std::vector<std::string> sqa_official_categories(const SqaProblem& problem);
// Their order in reports.
const std::vector<std::string>& sqa_category_names();

struct SqaCategoryCount {
  int correct = 0, total = 0;
};

struct SqaCounts {
  int correct = 0, total = 0;
  int image_correct = 0, image_total = 0;
  int no_image_correct = 0, no_image_total = 0;
  std::map<std::string, SqaCategoryCount> categories;
  void add(bool correct_answer, bool has_image);
  // Also counts the problem's official categories.
  void add(bool correct_answer, const SqaProblem& problem);
};

struct SqaCategoryMetrics {
  int questions = 0;
  double accuracy = 0;
};

struct SqaMetrics {
  int questions = 0;
  // no_image_accuracy: the problems without an image (ScienceQA's TXT means
  // "has a context", a different set).
  double accuracy = 0, image_accuracy = 0, no_image_accuracy = 0;
  std::map<std::string, SqaCategoryMetrics> categories;  // official names, non-empty ones
};
SqaMetrics sqa_metrics(const SqaCounts& counts);

// What one evaluation said on each question, in the benchmark's question
// order, one character per question (kept so that scores can be
// bootstrapped over questions). POPE, per split: 'Y' said yes, label yes
// (true positive); 'y' said yes, label no; 'N' said no, label no; 'n' said
// no, label yes. ScienceQA: 'I' / 'i' an image problem answered right /
// wrong, 'T' / 't' a problem without an image.
struct QuestionOutcomes {
  std::map<std::string, std::string> pope;  // per split
  std::string sqa;
  bool empty() const { return pope.empty() && sqa.empty(); }
};
char pope_outcome(bool predicted_yes, bool label_yes);
char sqa_outcome(bool correct, bool has_image);
// The counts the outcomes add up to; an unknown character is an Error.
PopeCounts pope_counts_of(const std::string& outcomes);
SqaCounts sqa_counts_of(const std::string& outcomes);

// Everything one evaluation measures.
struct BenchmarkResult {
  std::map<std::string, PopeMetrics> pope;  // per split
  double pope_mean_f1 = 0;                  // mean over the splits present
  SqaMetrics sqa;
  double seconds = 0;
  QuestionOutcomes outcomes;  // empty in results stored before it was kept
};
nlohmann::json result_to_json(const BenchmarkResult& result);
BenchmarkResult result_from_json(const nlohmann::json& json);
// Brings a stored result_to_json object up to date in place: results stored
// before the no-image share had its name call it scienceqa.text_accuracy.
void upgrade_result_json(nlohmann::json& raw);
// The per-split POPE table and the ScienceQA line.
std::string result_to_text(const BenchmarkResult& result);

// POPE's official reading of a generated answer: the first sentence, commas
// dropped; "No", "no" or "not" as a word means no, anything else yes.
bool pope_text_says_yes(const std::string& answer);
// ScienceQA's official reading (LLaVA's eval_science_qa.py): newlines read
// as ". "; the bare letter (spaces trimmed), else "X. " at the very start,
// else the first "The answer is X." or, failing that, "The answer is X";
// letters A-E only. Returns the option index or -1 (FAILED).
int sqa_text_choice(const std::string& answer, size_t options);

}  // namespace hipp
