#include "eval/answers.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

std::string id_text(const nlohmann::json& id, const std::string& where) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer()) return std::to_string(id.get<int64_t>());
  throw Error(where + ": 'question_id' must be a string or an integer");
}

// Each non-blank line of a JSON Lines file, parsed, with "file:line" for errors.
template <typename F>
void for_each_json_line(const std::string& path, const char* what, F&& visit) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw Error(path + ": " + what + " not found");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {  // parse_error, or out_of_range for a number too large
      throw Error(where + ": not a JSON object");
    }
    if (!j.is_object()) throw Error(where + ": not a JSON object");
    visit(j, where);
  }
}

// question_id -> answer text, from a JSON Lines answer file.
std::map<std::string, std::string> read_answers(const std::string& path) {
  std::map<std::string, std::string> answers;
  for_each_json_line(path, "answer file", [&](const nlohmann::json& j, const std::string& where) {
    if (!j.contains("question_id") || !j.contains("text") || !j["text"].is_string())
      throw Error(where + ": needs 'question_id' and a string 'text'");
    answers[id_text(j["question_id"], where)] = j["text"].get<std::string>();
  });
  return answers;
}

// The question itself: the first line of a POPE text (LLaVA's question file
// appends its instruction after a newline).
std::string pope_question_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string answer_id(const std::string& model_id, const std::string& what) { return hash_hex(model_id + what); }

nlohmann::json answer_line(const nlohmann::json& question_id, const std::string& prompt, const std::string& text,
                           const std::string& model_id, const std::string& what) {
  return {{"question_id", question_id},
          {"prompt", prompt},
          {"text", text},
          {"answer_id", answer_id(model_id, what)},
          {"model_id", model_id},
          {"metadata", nlohmann::json::object()}};
}

// POPE answers per split, in benchmark order, from the combined file.
std::map<std::string, std::vector<std::string>> combined_pope_answers(const Benchmark& benchmark,
                                                                      const std::string& answers_path,
                                                                      const std::string& questions_path) {
  // question_id -> (category, image, question)
  std::map<std::string, std::tuple<std::string, std::string, std::string>> questions;
  for_each_json_line(
      questions_path, "POPE question file (needed to read pope_answers.jsonl)",
      [&](const nlohmann::json& j, const std::string& where) {
        for (const char* key : {"question_id", "image", "text", "category"})
          if (!j.contains(key)) throw Error(where + ": missing field '" + std::string(key) + "'");
        if (!j["image"].is_string() || !j["text"].is_string() || !j["category"].is_string())
          throw Error(where + ": 'image', 'text' and 'category' must be strings");
        const auto id = id_text(j["question_id"], where);
        if (!questions
                 .emplace(id, std::make_tuple(j["category"].get<std::string>(), j["image"].get<std::string>(),
                                              pope_question_line(j["text"].get<std::string>())))
                 .second)
          throw Error(where + ": duplicate question_id " + id);
      });
  std::map<std::tuple<std::string, std::string, std::string>, std::string> by_question;
  for (const auto& [id, text] : read_answers(answers_path)) {
    auto it = questions.find(id);
    if (it == questions.end()) throw Error(answers_path + ": question_id " + id + " is not in " + questions_path);
    by_question[it->second] = text;
  }
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& q : benchmark.pope) {
    auto it = by_question.find({q.split, q.image, pope_question_line(q.text)});
    if (it == by_question.end())
      throw Error(answers_path + ": no answer for the " + q.split + " question " + q.question_id + " (" + q.image +
                  ", \"" + q.text + "\")");
    out[q.split].push_back(it->second);
  }
  return out;
}

// POPE answers per split, in benchmark order, from per-split files.
std::map<std::string, std::vector<std::string>> split_pope_answers(const Benchmark& benchmark, const std::string& dir) {
  std::map<std::string, std::map<std::string, std::string>> files;
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& q : benchmark.pope) {
    const std::string path = (fs::path(dir) / ("pope_" + q.split + ".jsonl")).string();
    auto file = files.find(q.split);
    if (file == files.end()) file = files.emplace(q.split, read_answers(path)).first;
    auto it = file->second.find(q.question_id);
    if (it == file->second.end()) throw Error(path + ": no answer for question_id " + q.question_id);
    out[q.split].push_back(it->second);
  }
  return out;
}

}  // namespace

void write_answer_files(const Benchmark& benchmark, const std::vector<bool>& pope_yes,
                        const std::vector<int>& sqa_choice, const std::string& model_id, const std::string& dir) {
  if (pope_yes.size() != benchmark.pope.size() || sqa_choice.size() != benchmark.sqa_eval.size())
    throw Error("answer files: the answers do not match the benchmark's questions");
  fs::create_directories(dir);
  const fs::path root(dir);

  if (!benchmark.pope.empty()) {
    // Splits in LLaVA's order, each in its annotation file's order: the
    // official scorer pairs the answers of a category with the label file's
    // lines by position.
    std::vector<size_t> order(benchmark.pope.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto split_rank = [](const std::string& split) {
      const auto& names = pope_splits();
      return std::find(names.begin(), names.end(), split) - names.begin();
    };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto& qa = benchmark.pope[a];
      const auto& qb = benchmark.pope[b];
      return std::make_tuple(split_rank(qa.split), qa.split, qa.index) <
             std::make_tuple(split_rank(qb.split), qb.split, qb.index);
    });
    std::string questions, answers;
    std::map<std::string, std::string> labels;
    int64_t id = 0;
    for (size_t i : order) {
      const auto& q = benchmark.pope[i];
      ++id;
      const std::string text = q.text + kPopeInstruction;
      questions +=
          nlohmann::json({{"question_id", id}, {"image", q.image}, {"text", text}, {"category", q.split}}).dump() +
          "\n";
      answers +=
          answer_line(id, text, pope_yes[i] ? "Yes" : "No", model_id, "pope" + q.split + q.question_id).dump() + "\n";
      labels[q.split] += nlohmann::json({{"question_id", pope_id_json(q.question_id)},
                                         {"image", q.image},
                                         {"text", q.text},
                                         {"label", q.label ? "yes" : "no"}})
                             .dump() +
                         "\n";
    }
    write_file_atomically((root / AnswerFileNames::kPopeQuestions).string(), questions);
    write_file_atomically((root / AnswerFileNames::kPopeAnswers).string(), answers);
    fs::create_directories(root / AnswerFileNames::kPopeLabels);
    for (const auto& [split, text] : labels)
      write_file_atomically((root / AnswerFileNames::kPopeLabels / ("coco_pope_" + split + ".json")).string(), text);
  }

  if (!benchmark.sqa_eval.empty()) {
    nlohmann::json questions = nlohmann::json::array();
    std::string answers;
    for (size_t i = 0; i < benchmark.sqa_eval.size(); ++i) {
      const auto& p = benchmark.sqa_eval[i];
      const std::string image_prefix = p.has_image() ? "<image>\n" : "";
      nlohmann::json question = {
          {"id", p.pid},
          {"conversations",
           {{{"from", "human"}, {"value", image_prefix + sqa_question_text(p)}},
            {{"from", "gpt"},
             {"value", std::string("The answer is ") + option_letter(static_cast<size_t>(p.answer)) + "."}}}}};
      if (p.has_image()) question["image"] = p.pid + "/" + p.image;
      questions.push_back(std::move(question));
      const int choice = sqa_choice[i];
      const std::string text = choice >= 0 && choice < static_cast<int>(p.choices.size())
                                   ? std::string(1, option_letter(static_cast<size_t>(choice)))
                                   : "";
      answers += answer_line(p.pid, image_prefix + sqa_prompt_text(p), text, model_id, "sqa" + p.pid).dump() + "\n";
    }
    write_file_atomically((root / AnswerFileNames::kSqaQuestions).string(), questions.dump(1) + "\n");
    write_file_atomically((root / AnswerFileNames::kSqaAnswers).string(), answers);
  }
}

BenchmarkResult score_answer_files(const Benchmark& benchmark, const std::string& answers_dir) {
  return score_answer_files(benchmark, ScoreSources{answers_dir, ""});
}

BenchmarkResult score_answer_files(const Benchmark& benchmark, const ScoreSources& sources) {
  const std::string& dir = sources.answers_dir;
  if (!fs::is_directory(dir)) throw Error(dir + ": answers folder not found");
  BenchmarkResult result;
  if (!benchmark.pope.empty()) {
    const std::string combined = (fs::path(dir) / AnswerFileNames::kPopeAnswers).string();
    const std::string questions = sources.pope_questions.empty()
                                      ? (fs::path(dir) / AnswerFileNames::kPopeQuestions).string()
                                      : sources.pope_questions;
    const auto answers = fs::exists(combined) ? combined_pope_answers(benchmark, combined, questions)
                                              : split_pope_answers(benchmark, dir);
    std::map<std::string, PopeCounts> counts;
    std::map<std::string, size_t> next;
    for (const auto& q : benchmark.pope)
      counts[q.split].add(pope_text_says_yes(answers.at(q.split)[next[q.split]++]), q.label);
    double f1_sum = 0;
    for (const auto& [split, c] : counts) {
      result.pope[split] = pope_metrics(c);
      f1_sum += result.pope[split].f1;
    }
    result.pope_mean_f1 = f1_sum / static_cast<double>(counts.size());
  }
  if (!benchmark.sqa_eval.empty()) {
    std::string path = (fs::path(dir) / AnswerFileNames::kSqaAnswers).string();
    if (!fs::exists(path) && fs::exists(fs::path(dir) / "scienceqa.jsonl"))
      path = (fs::path(dir) / "scienceqa.jsonl").string();
    const auto answers = read_answers(path);
    SqaCounts sqa;
    for (const auto& p : benchmark.sqa_eval) {
      auto it = answers.find(p.pid);
      if (it == answers.end()) throw Error(path + ": no answer for question_id " + p.pid);
      sqa.add(sqa_text_choice(it->second, p.choices.size()) == p.answer, p);
    }
    result.sqa = sqa_metrics(sqa);
  }
  return result;
}

}  // namespace hipp
