#include "eval/metrics.h"

#include <cstdio>
#include <regex>
#include <sstream>

namespace hipp {

void PopeCounts::add(bool predicted_yes, bool label_yes) {
  if (predicted_yes && label_yes) ++tp;
  if (predicted_yes && !label_yes) ++fp;
  if (!predicted_yes && !label_yes) ++tn;
  if (!predicted_yes && label_yes) ++fn;
}

namespace {
double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }
}  // namespace

PopeMetrics pope_metrics(const PopeCounts& c) {
  PopeMetrics m;
  m.questions = c.total();
  m.accuracy = ratio(c.tp + c.tn, c.total());
  m.precision = ratio(c.tp, c.tp + c.fp);
  m.recall = ratio(c.tp, c.tp + c.fn);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  m.yes_ratio = ratio(c.tp + c.fp, c.total());
  return m;
}

void SqaCounts::add(bool correct_answer, bool has_image) {
  ++total;
  correct += correct_answer;
  if (has_image) {
    ++image_total;
    image_correct += correct_answer;
  } else {
    ++text_total;
    text_correct += correct_answer;
  }
}

SqaMetrics sqa_metrics(const SqaCounts& c) {
  return {c.total, ratio(c.correct, c.total), ratio(c.image_correct, c.image_total),
          ratio(c.text_correct, c.text_total)};
}

nlohmann::json result_to_json(const BenchmarkResult& r) {
  nlohmann::json pope = nlohmann::json::object();
  for (const auto& [split, m] : r.pope)
    pope[split] = {{"questions", m.questions}, {"accuracy", m.accuracy},
                   {"precision", m.precision}, {"recall", m.recall},
                   {"f1", m.f1},               {"yes_ratio", m.yes_ratio}};
  return {{"pope", pope},
          {"pope_mean_f1", r.pope_mean_f1},
          {"scienceqa",
           {{"questions", r.sqa.questions},
            {"accuracy", r.sqa.accuracy},
            {"image_accuracy", r.sqa.image_accuracy},
            {"text_accuracy", r.sqa.text_accuracy}}},
          {"seconds", r.seconds}};
}

BenchmarkResult result_from_json(const nlohmann::json& j) {
  BenchmarkResult r;
  for (const auto& [split, m] : j.at("pope").items())
    r.pope[split] = {m.at("questions").get<int>(), m.at("accuracy").get<double>(),
                     m.at("precision").get<double>(), m.at("recall").get<double>(),
                     m.at("f1").get<double>(), m.at("yes_ratio").get<double>()};
  r.pope_mean_f1 = j.at("pope_mean_f1").get<double>();
  const auto& s = j.at("scienceqa");
  r.sqa = {s.at("questions").get<int>(), s.at("accuracy").get<double>(),
           s.at("image_accuracy").get<double>(), s.at("text_accuracy").get<double>()};
  r.seconds = j.value("seconds", 0.0);
  return r;
}

std::string result_to_text(const BenchmarkResult& r) {
  std::ostringstream out;
  char line[160];
  out << "POPE         questions  accuracy  precision  recall     F1  yes-ratio\n";
  for (const auto& [split, m] : r.pope) {
    std::snprintf(line, sizeof line, "%-12s %9d  %8.3f  %9.3f  %6.3f  %5.3f  %9.3f\n",
                  split.c_str(), m.questions, m.accuracy, m.precision, m.recall, m.f1, m.yes_ratio);
    out << line;
  }
  std::snprintf(line, sizeof line, "mean F1 %.3f\n\n", r.pope_mean_f1);
  out << line;
  std::snprintf(line, sizeof line,
                "ScienceQA    %d questions  accuracy %.3f  image (IMG) %.3f  text-only %.3f\n",
                r.sqa.questions, r.sqa.accuracy, r.sqa.image_accuracy, r.sqa.text_accuracy);
  out << line;
  std::snprintf(line, sizeof line, "time         %.1f s\n", r.seconds);
  out << line;
  return out.str();
}

bool pope_text_says_yes(const std::string& answer) {
  std::string text = answer.substr(0, answer.find('.'));
  std::string cleaned;
  for (char c : text)
    if (c != ',') cleaned += c;
  std::istringstream words(cleaned);
  for (std::string word; std::getline(words, word, ' ');)
    if (word == "No" || word == "no" || word == "not") return false;
  return true;
}

int sqa_text_choice(const std::string& answer, size_t options) {
  auto index_of = [&](char letter) -> int {
    const int i = letter - 'A';
    return i >= 0 && i < static_cast<int>(options) ? i : -1;
  };
  static const std::regex pattern("The answer is ([A-Z]).");
  auto begin = std::sregex_iterator(answer.begin(), answer.end(), pattern);
  const auto matches = std::distance(begin, std::sregex_iterator());
  if (matches == 1) return index_of((*begin)[1].str()[0]);
  if (answer.size() == 1) return index_of(answer[0]);
  if (answer.size() >= 3 && answer.compare(1, 2, ". ") == 0) return index_of(answer[0]);
  return -1;
}

}  // namespace hipp
