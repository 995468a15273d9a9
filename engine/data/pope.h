#pragma once
// POPE question files: JSON Lines {"question_id", "image", "text", "label"},
// one file per split (random, popular, adversarial), named
// `*_pope_{split}.json` although they are JSON Lines. Torch-free.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hipp {

inline const std::vector<std::string>& pope_splits() {
  static const std::vector<std::string> splits = {"random", "popular", "adversarial"};
  return splits;
}

// What LLaVA's POPE question file appends to each question (and the prompt
// this program evaluates).
inline constexpr const char* kPopeInstruction = "\nAnswer the question using a single word or phrase.";

struct PopeQuestion {
  std::string question_id;  // kept as text: the official files use integers
  std::string image;        // file name inside the image folder
  std::string text;         // "Is there a dog in the image?"
  bool label = false;       // true = "yes"
  std::string split;
  int index = 0;  // line position among its split file's questions
};

// Reads one split file; a bad line or missing field names the file and line.
std::vector<PopeQuestion> read_pope_file(const std::string& path, const std::string& split);
void write_pope_file(const std::string& path, const std::vector<PopeQuestion>& questions);

// A question_id as the files write it: an integer when it is one, else text.
nlohmann::json pope_id_json(const std::string& question_id);

// Finds the split files in `dir` (`*_pope_random.json` and so on).
std::string find_pope_file(const std::string& dir, const std::string& split);

}  // namespace hipp
