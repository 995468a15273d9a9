#include "eval/answers.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/error.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

// question_id -> answer text, from a JSON Lines answer file.
std::map<std::string, std::string> read_answers(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": answer file not found");
  std::map<std::string, std::string> answers;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
      throw Error(path + ":" + std::to_string(number) + ": not a JSON object");
    }
    if (!j.is_object() || !j.contains("question_id") || !j.contains("text") || !j["text"].is_string())
      throw Error(path + ":" + std::to_string(number) + ": needs 'question_id' and a string 'text'");
    const auto& id = j["question_id"];
    std::string key;
    if (id.is_string()) {
      key = id.get<std::string>();
    } else if (id.is_number_integer()) {
      key = std::to_string(id.get<int64_t>());
    } else {
      throw Error(path + ":" + std::to_string(number) + ": 'question_id' must be a string or an integer");
    }
    answers[key] = j["text"].get<std::string>();
  }
  return answers;
}

}  // namespace

BenchmarkResult score_answer_files(const Benchmark& benchmark, const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(dir + ": answers folder not found");
  BenchmarkResult result;
  std::set<std::string> splits;
  for (const auto& q : benchmark.pope) splits.insert(q.split);
  std::map<std::string, PopeCounts> counts;
  for (const auto& split : splits) {
    const std::string path = (fs::path(dir) / ("pope_" + split + ".jsonl")).string();
    const auto answers = read_answers(path);
    for (const auto& q : benchmark.pope) {
      if (q.split != split) continue;
      auto it = answers.find(q.question_id);
      if (it == answers.end()) throw Error(path + ": no answer for question_id " + q.question_id);
      counts[split].add(pope_text_says_yes(it->second), q.label);
    }
  }
  double f1_sum = 0;
  for (const auto& [split, c] : counts) {
    result.pope[split] = pope_metrics(c);
    f1_sum += result.pope[split].f1;
  }
  result.pope_mean_f1 = counts.empty() ? 0.0 : f1_sum / static_cast<double>(counts.size());
  if (!benchmark.sqa_eval.empty()) {
    const std::string path = (fs::path(dir) / "scienceqa.jsonl").string();
    const auto answers = read_answers(path);
    SqaCounts sqa;
    for (const auto& p : benchmark.sqa_eval) {
      auto it = answers.find(p.pid);
      if (it == answers.end()) throw Error(path + ": no answer for question_id " + p.pid);
      sqa.add(sqa_text_choice(it->second, p.choices.size()) == p.answer, p.has_image());
    }
    result.sqa = sqa_metrics(sqa);
  }
  return result;
}

}  // namespace hipp
