#include "eval/metrics.h"

#include <cstdio>
#include <regex>
#include <sstream>

#include "core/error.h"

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

const std::vector<std::string>& sqa_category_names() {
  static const std::vector<std::string> names = {"NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12"};
  return names;
}

std::vector<std::string> sqa_official_categories(const SqaProblem& p) {
  std::vector<std::string> out;
  if (p.subject == "natural science") out.push_back("NAT");
  if (p.subject == "social science") out.push_back("SOC");
  if (p.subject == "language science") out.push_back("LAN");
  if (!p.hint.empty()) out.push_back("TXT");
  if (p.has_image()) out.push_back("IMG");
  if (p.hint.empty() && !p.has_image()) out.push_back("NO");
  // "grade1" ... "grade12"
  if (p.grade.rfind("grade", 0) == 0 && p.grade.size() > 5 &&
      p.grade.find_first_not_of("0123456789", 5) == std::string::npos && p.grade.size() <= 7) {
    const int grade = std::stoi(p.grade.substr(5));
    if (grade >= 1 && grade <= 6) out.push_back("G1-6");
    if (grade >= 7 && grade <= 12) out.push_back("G7-12");
  }
  return out;
}

void SqaCounts::add(bool correct_answer, bool has_image) {
  ++total;
  correct += correct_answer;
  if (has_image) {
    ++image_total;
    image_correct += correct_answer;
  } else {
    ++no_image_total;
    no_image_correct += correct_answer;
  }
}

void SqaCounts::add(bool correct_answer, const SqaProblem& problem) {
  add(correct_answer, problem.has_image());
  for (const auto& name : sqa_official_categories(problem)) {
    auto& c = categories[name];
    ++c.total;
    c.correct += correct_answer;
  }
}

SqaMetrics sqa_metrics(const SqaCounts& c) {
  SqaMetrics m{c.total,
               ratio(c.correct, c.total),
               ratio(c.image_correct, c.image_total),
               ratio(c.no_image_correct, c.no_image_total),
               {}};
  for (const auto& [name, n] : c.categories)
    if (n.total > 0) m.categories[name] = {n.total, ratio(n.correct, n.total)};
  return m;
}

char pope_outcome(bool predicted_yes, bool label_yes) {
  return predicted_yes ? (label_yes ? 'Y' : 'y') : (label_yes ? 'n' : 'N');
}

char sqa_outcome(bool correct, bool has_image) { return has_image ? (correct ? 'I' : 'i') : (correct ? 'T' : 't'); }

PopeCounts pope_counts_of(const std::string& outcomes) {
  PopeCounts c;
  for (char o : outcomes) {
    if (o != 'Y' && o != 'y' && o != 'N' && o != 'n')
      throw Error(std::string("POPE outcome '") + o + "' is not one of Y, y, N, n");
    c.add(o == 'Y' || o == 'y', o == 'Y' || o == 'n');
  }
  return c;
}

SqaCounts sqa_counts_of(const std::string& outcomes) {
  SqaCounts c;
  for (char o : outcomes) {
    if (o != 'I' && o != 'i' && o != 'T' && o != 't')
      throw Error(std::string("ScienceQA outcome '") + o + "' is not one of I, i, T, t");
    c.add(o == 'I' || o == 'T', o == 'I' || o == 'i');
  }
  return c;
}

nlohmann::json result_to_json(const BenchmarkResult& r) {
  nlohmann::json pope = nlohmann::json::object();
  for (const auto& [split, m] : r.pope)
    pope[split] = {{"questions", m.questions},
                   {"accuracy", m.accuracy},
                   {"precision", m.precision},
                   {"recall", m.recall},
                   {"f1", m.f1},
                   {"yes_ratio", m.yes_ratio}};
  nlohmann::json sqa = {{"questions", r.sqa.questions},
                        {"accuracy", r.sqa.accuracy},
                        {"image_accuracy", r.sqa.image_accuracy},
                        {"no_image_accuracy", r.sqa.no_image_accuracy}};
  if (!r.sqa.categories.empty()) {
    nlohmann::json categories = nlohmann::json::object();
    for (const auto& [name, m] : r.sqa.categories)
      categories[name] = {{"questions", m.questions}, {"accuracy", m.accuracy}};
    sqa["categories"] = categories;
  }
  nlohmann::json j = {{"pope", pope}, {"pope_mean_f1", r.pope_mean_f1}, {"scienceqa", sqa}, {"seconds", r.seconds}};
  if (!r.outcomes.empty()) j["outcomes"] = {{"pope", r.outcomes.pope}, {"scienceqa", r.outcomes.sqa}};
  return j;
}

void upgrade_result_json(nlohmann::json& raw) {
  if (!raw.is_object() || !raw.contains("scienceqa") || !raw["scienceqa"].is_object()) return;
  auto& sqa = raw["scienceqa"];
  if (sqa.contains("text_accuracy") && !sqa.contains("no_image_accuracy")) {
    sqa["no_image_accuracy"] = sqa["text_accuracy"];
    sqa.erase("text_accuracy");
  }
}

BenchmarkResult result_from_json(const nlohmann::json& j) {
  BenchmarkResult r;
  for (const auto& [split, m] : j.at("pope").items())
    r.pope[split] = {m.at("questions").get<int>(), m.at("accuracy").get<double>(), m.at("precision").get<double>(),
                     m.at("recall").get<double>(), m.at("f1").get<double>(),       m.at("yes_ratio").get<double>()};
  r.pope_mean_f1 = j.at("pope_mean_f1").get<double>();
  nlohmann::json current = {{"scienceqa", j.at("scienceqa")}};
  upgrade_result_json(current);  // older results name the no-image share text_accuracy
  const auto& s = current.at("scienceqa");
  r.sqa = {s.at("questions").get<int>(),
           s.at("accuracy").get<double>(),
           s.at("image_accuracy").get<double>(),
           s.at("no_image_accuracy").get<double>(),
           {}};
  if (s.contains("categories") && s["categories"].is_object())
    for (const auto& [name, m] : s["categories"].items())
      r.sqa.categories[name] = {m.at("questions").get<int>(), m.at("accuracy").get<double>()};
  r.seconds = j.value("seconds", 0.0);
  if (j.contains("outcomes") && j["outcomes"].is_object()) {
    const auto& o = j["outcomes"];
    if (o.contains("pope"))
      for (const auto& [split, text] : o.at("pope").items()) r.outcomes.pope[split] = text.get<std::string>();
    r.outcomes.sqa = o.value("scienceqa", std::string());
  }
  return r;
}

std::string result_to_text(const BenchmarkResult& r) {
  std::ostringstream out;
  char line[160];
  out << "POPE         questions  accuracy  precision  recall     F1  yes-ratio\n";
  for (const auto& [split, m] : r.pope) {
    std::snprintf(line, sizeof line, "%-12s %9d  %8.3f  %9.3f  %6.3f  %5.3f  %9.3f\n", split.c_str(), m.questions,
                  m.accuracy, m.precision, m.recall, m.f1, m.yes_ratio);
    out << line;
  }
  std::snprintf(line, sizeof line, "mean F1 %.3f\n\n", r.pope_mean_f1);
  out << line;
  std::snprintf(line, sizeof line, "ScienceQA    %d questions  accuracy %.3f  image (IMG) %.3f  no image %.3f\n",
                r.sqa.questions, r.sqa.accuracy, r.sqa.image_accuracy, r.sqa.no_image_accuracy);
  out << line;
  if (!r.sqa.categories.empty()) {
    out << "categories  ";
    for (const auto& name : sqa_category_names()) {
      auto it = r.sqa.categories.find(name);
      if (it == r.sqa.categories.end()) continue;
      std::snprintf(line, sizeof line, " %s %.3f (%d)", name.c_str(), it->second.accuracy, it->second.questions);
      out << line;
    }
    out << "\n";
  }
  if (r.seconds > 0) {  // scored answer files took no model time
    std::snprintf(line, sizeof line, "time         %.1f s\n", r.seconds);
    out << line;
  }
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
  std::string text;
  for (char c : answer) text += c == '\n' ? std::string(". ") : std::string(1, c);
  auto is_letter = [](char c) { return c >= 'A' && c <= 'E'; };
  const auto first = text.find_first_not_of(" \t\r\n\v\f");
  const auto last = text.find_last_not_of(" \t\r\n\v\f");
  const std::string trimmed = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  char letter = 0;
  if (trimmed.size() == 1 && is_letter(trimmed[0])) {
    letter = trimmed[0];
  } else if (text.size() >= 3 && is_letter(text[0]) && text.compare(1, 2, ". ") == 0) {
    letter = text[0];
  } else if (text.find("The answer is ") != std::string::npos) {
    static const std::regex with_period("The answer is ([A-E])\\.");
    static const std::regex bare("The answer is ([A-E])");
    std::smatch match;
    if (std::regex_search(text, match, with_period) || std::regex_search(text, match, bare)) letter = match[1].str()[0];
  }
  if (letter == 0) return -1;
  const int index = letter - 'A';
  return index < static_cast<int>(options) ? index : -1;
}

}  // namespace hipp
