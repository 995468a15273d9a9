#include "data/pope.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {
namespace fs = std::filesystem;

std::vector<PopeQuestion> read_pope_file(const std::string& path, const std::string& split) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open POPE file");
  std::vector<PopeQuestion> questions;
  std::set<std::string> ids;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
      throw Error(where + ": invalid JSON (" + e.what() + ")");
    }
    PopeQuestion q;
    if (!j.is_object() || !j.contains("question_id")) throw Error(where + ": missing field 'question_id'");
    const auto& id = j["question_id"];
    if (id.is_number_integer()) {
      q.question_id = std::to_string(id.get<int64_t>());
    } else if (id.is_string()) {
      q.question_id = id.get<std::string>();
    } else {
      throw Error(where + ": field 'question_id' must be an integer or a string");
    }
    q.image = required_field<std::string>(j, "image", where);
    require_path_inside(q.image, where + " field 'image'");
    q.text = required_field<std::string>(j, "text", where);
    const auto label = required_field<std::string>(j, "label", where);
    if (label != "yes" && label != "no") throw Error(where + ": label must be \"yes\" or \"no\"");
    q.label = label == "yes";
    q.split = split;
    q.index = static_cast<int>(questions.size());
    if (!ids.insert(q.question_id).second) throw Error(where + ": duplicate question_id " + q.question_id);
    questions.push_back(std::move(q));
  }
  if (questions.empty()) throw Error(path + ": no questions (an empty POPE file)");
  return questions;
}

void write_pope_file(const std::string& path, const std::vector<PopeQuestion>& questions) {
  std::string text;
  for (const auto& q : questions) {
    nlohmann::json j = {{"question_id", pope_id_json(q.question_id)},
                        {"image", q.image},
                        {"text", q.text},
                        {"label", q.label ? "yes" : "no"}};
    text += j.dump() + "\n";
  }
  write_file_atomically(path, text);
}

nlohmann::json pope_id_json(const std::string& question_id) {
  const bool integer = !question_id.empty() && question_id.size() < 19 &&
                       question_id.find_first_not_of("0123456789") == std::string::npos;
  return integer ? nlohmann::json(std::stoll(question_id)) : nlohmann::json(question_id);
}

std::string find_pope_file(const std::string& dir, const std::string& split) {
  const std::string suffix = "_pope_" + split + ".json";
  if (!fs::is_directory(dir)) throw Error(dir + ": POPE folder not found");
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return entry.path().string();
  }
  throw Error(dir + ": no *" + suffix + " file");
}

}  // namespace hipp
