#include "data/scienceqa.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {
namespace fs = std::filesystem;

char option_letter(size_t index) { return static_cast<char>('A' + index); }

std::vector<SqaProblem> SqaDataset::split(const std::string& name) const {
  auto it = splits.find(name);
  if (it == splits.end()) throw Error(dir + ": pid_splits.json has no split '" + name + "'");
  std::vector<SqaProblem> result;
  for (const auto& pid : it->second) result.push_back(problems.at(pid));
  return result;
}

std::string SqaDataset::image_path(const SqaProblem& p) const {
  return (fs::path(dir) / "images" / p.split / p.pid / p.image).string();
}

SqaDataset read_scienceqa(const std::string& dir) {
  SqaDataset data;
  data.dir = dir;
  const std::string problems_path = (fs::path(dir) / "problems.json").string();
  const std::string splits_path = (fs::path(dir) / "pid_splits.json").string();
  const auto problems = read_json_file(problems_path);
  if (!problems.is_object()) throw Error(problems_path + ": expected an object of problems");
  for (const auto& [pid, j] : problems.items()) {
    const std::string where = problems_path + " problem " + pid;
    SqaProblem p;
    p.pid = pid;
    p.question = required_field<std::string>(j, "question", where);
    if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty())
      throw Error(where + ": missing field 'choices'");
    for (const auto& c : j["choices"]) {
      if (!c.is_string()) throw Error(where + ": choices must be strings");
      p.choices.push_back(c.get<std::string>());
    }
    if (p.choices.size() > 26) throw Error(where + ": too many choices");
    p.answer = static_cast<int>(required_field<int64_t>(j, "answer", where));
    if (p.answer < 0 || p.answer >= static_cast<int>(p.choices.size()))
      throw Error(where + ": answer index " + std::to_string(p.answer) + " is out of range");
    p.hint = optional_field<std::string>(j, "hint", "", where);
    p.image = optional_field<std::string>(j, "image", "", where);
    p.split = optional_field<std::string>(j, "split", "", where);
    p.subject = optional_field<std::string>(j, "subject", "", where);
    p.category = optional_field<std::string>(j, "category", "", where);
    p.skill = optional_field<std::string>(j, "skill", "", where);
    p.grade = optional_field<std::string>(j, "grade", "", where);
    data.problems.emplace(pid, std::move(p));
  }
  const auto splits = read_json_file(splits_path);
  if (!splits.is_object()) throw Error(splits_path + ": expected an object of splits");
  for (const auto& [name, pids] : splits.items()) {
    if (!pids.is_array()) throw Error(splits_path + ": split '" + name + "' is not a list");
    auto& list = data.splits[name];
    for (const auto& pid : pids) {
      const std::string id = pid.is_string() ? pid.get<std::string>() : pid.dump();
      auto it = data.problems.find(id);
      if (it == data.problems.end()) throw Error(splits_path + ": split '" + name + "' lists unknown problem " + id);
      if (it->second.split.empty()) it->second.split = name;
      list.push_back(id);
    }
  }
  // Images are read from images/<split>/<pid>/<image> under the folder.
  for (const auto& [pid, p] : data.problems)
    if (p.has_image())
      require_path_inside((fs::path(p.split) / p.pid / p.image).string(), problems_path + " problem " + pid);
  return data;
}

void write_scienceqa(const SqaDataset& data, const std::string& dir) {
  nlohmann::json problems = nlohmann::json::object();
  for (const auto& [pid, p] : data.problems) {
    problems[pid] = {{"question", p.question},
                     {"choices", p.choices},
                     {"answer", p.answer},
                     {"hint", p.hint},
                     {"image", p.has_image() ? nlohmann::json(p.image) : nlohmann::json(nullptr)},
                     {"task", "closed choice"},
                     {"grade", p.grade.empty() ? std::string("grade1") : p.grade},
                     {"subject", p.subject},
                     {"topic", p.category},
                     {"category", p.category},
                     {"skill", p.skill},
                     {"lecture", ""},
                     {"solution", ""},
                     {"split", p.split}};
  }
  fs::create_directories(dir);
  write_json_file((fs::path(dir) / "problems.json").string(), problems);
  write_json_file((fs::path(dir) / "pid_splits.json").string(), data.splits);
}

std::string sqa_question_text(const SqaProblem& p) {
  std::string text;
  if (!p.hint.empty()) text += "Context: " + p.hint + "\n";
  text += p.question;
  for (size_t i = 0; i < p.choices.size(); ++i) text += "\n" + std::string(1, option_letter(i)) + ". " + p.choices[i];
  return text;
}

std::string sqa_prompt_text(const SqaProblem& p) { return sqa_question_text(p) + "\n" + kSqaInstruction; }

}  // namespace hipp
