#pragma once
// POPE and ScienceQA metrics, and the official rules that read generated
// answer text. Torch-free.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

struct SqaCounts {
  int correct = 0, total = 0;
  int image_correct = 0, image_total = 0;
  int text_correct = 0, text_total = 0;
  void add(bool correct_answer, bool has_image);
};

struct SqaMetrics {
  int questions = 0;
  double accuracy = 0, image_accuracy = 0, text_accuracy = 0;
};
SqaMetrics sqa_metrics(const SqaCounts& counts);

// Everything one evaluation measures.
struct BenchmarkResult {
  std::map<std::string, PopeMetrics> pope;  // per split
  double pope_mean_f1 = 0;                  // mean over the splits present
  SqaMetrics sqa;
  double seconds = 0;
};
nlohmann::json result_to_json(const BenchmarkResult& result);
BenchmarkResult result_from_json(const nlohmann::json& json);
// The per-split POPE table and the ScienceQA line.
std::string result_to_text(const BenchmarkResult& result);

// POPE's official reading of a generated answer: the first sentence, commas
// dropped; "No", "no" or "not" as a word means no, anything else yes.
bool pope_text_says_yes(const std::string& answer);
// ScienceQA's official reading: "The answer is X." anywhere, else the bare
// letter, else "X. ..."; returns the option index or -1 (FAILED).
int sqa_text_choice(const std::string& answer, size_t options);

}  // namespace hipp
