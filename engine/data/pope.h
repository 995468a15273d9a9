#pragma once
// POPE question files: JSON Lines {"question_id", "image", "text", "label"},
// one file per split (random, popular, adversarial), named
// `*_pope_{split}.json` although they are JSON Lines. Torch-free.
#include <string>
#include <vector>

namespace hipp {

inline const std::vector<std::string>& pope_splits() {
  static const std::vector<std::string> splits = {"random", "popular", "adversarial"};
  return splits;
}

struct PopeQuestion {
  std::string question_id;  // kept as text: the official files use integers
  std::string image;        // file name inside the image folder
  std::string text;         // "Is there a dog in the image?"
  bool label = false;       // true = "yes"
  std::string split;
};

// Reads one split file; a bad line or missing field names the file and line.
std::vector<PopeQuestion> read_pope_file(const std::string& path, const std::string& split);
void write_pope_file(const std::string& path, const std::vector<PopeQuestion>& questions);

// Finds the split files in `dir` (`*_pope_random.json` and so on).
std::string find_pope_file(const std::string& dir, const std::string& split);

}  // namespace hipp
