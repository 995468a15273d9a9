#include "finetune/instruct.h"

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/prompt.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

// The first human turn with its "<image>" marker moved to the front, as
// LLaVA's preprocessing does; throws when the marker does not belong.
std::string first_question(std::string value, bool has_image, const std::string& where) {
  const std::string marker = kImagePlaceholder;
  const size_t at = value.find(marker);
  if (!has_image) {
    if (at != std::string::npos) throw Error(where + ": \"<image>\" in a conversation without an \"image\"");
    return value;
  }
  if (at != std::string::npos) {
    size_t end = at + marker.size();
    if (end < value.size() && value[end] == '\n') ++end;
    value.erase(at, end - at);
    if (value.find(marker) != std::string::npos) throw Error(where + ": more than one \"<image>\" marker");
  }
  return marker + "\n" + value;
}

}  // namespace

std::vector<InstructExample> read_instruct_file(const std::string& path, const std::string& image_folder) {
  const auto json = read_json_file(path);
  if (!json.is_array()) throw Error(path + ": expected a JSON list of conversations");
  std::vector<fs::path> folders;
  if (!image_folder.empty()) {
    folders.push_back(image_folder);
  } else {
    const auto dir = fs::path(path).parent_path();
    folders.push_back(dir / "images");
    folders.push_back(dir);
  }
  std::vector<InstructExample> out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    const auto& entry = json[i];
    std::string where = path + ": entry " + std::to_string(i);
    if (!entry.is_object()) throw Error(where + ": expected an object");
    InstructExample e;
    if (entry.contains("id")) {
      e.id = entry["id"].is_string() ? entry["id"].get<std::string>() : entry["id"].dump();
      where += " (id " + e.id + ")";
    }
    const auto image = optional_field<std::string>(entry, "image", "", where);
    if (!image.empty()) {
      for (const auto& folder : folders)
        if (fs::is_regular_file(folder / image)) {
          e.image = (folder / image).string();
          break;
        }
      if (e.image.empty()) throw Error(where + ": image " + image + " not found in " + folders.front().string());
    }
    if (!entry.contains("conversations") || !entry["conversations"].is_array())
      throw Error(where + ": field conversations must be a list");
    const auto& turns = entry["conversations"];
    if (turns.empty() || turns.size() % 2 != 0)
      throw Error(where + ": conversations must hold human/gpt pairs (found " + std::to_string(turns.size()) +
                  " messages)");
    for (size_t t = 0; t < turns.size(); t += 2) {
      const auto message = where + ": message " + std::to_string(t);
      const auto from_h = required_field<std::string>(turns[t], "from", message);
      const auto from_g =
          required_field<std::string>(turns[t + 1], "from", where + ": message " + std::to_string(t + 1));
      if (from_h != "human" || from_g != "gpt")
        throw Error(message + ": messages must alternate \"human\" and \"gpt\" (found \"" + from_h + "\", \"" + from_g +
                    "\")");
      InstructTurn turn;
      turn.human = required_field<std::string>(turns[t], "value", message);
      turn.gpt = required_field<std::string>(turns[t + 1], "value", where + ": message " + std::to_string(t + 1));
      if (t == 0) {
        turn.human = first_question(turn.human, !e.image.empty(), where);
      } else if (turn.human.find(kImagePlaceholder) != std::string::npos) {
        throw Error(message + ": \"<image>\" is only allowed in the first question");
      }
      e.turns.push_back(std::move(turn));
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) throw Error(path + ": no conversations");
  return out;
}

TokenizedConversation tokenize_conversation(const InstructExample& example, const Tokenizer& tokenizer,
                                            const PromptFormat& format, int64_t image_features, int64_t max_length) {
  TokenizedConversation out;
  out.image = example.image;
  const std::string marker = std::string(kImagePlaceholder) + "\n";
  const std::string suffix = answer_suffix(format);
  for (size_t t = 0; t < example.turns.size(); ++t) {
    const auto& turn = example.turns[t];
    std::vector<int64_t> question;
    if (t == 0) {
      // read_instruct_file put the image marker (if any) at the front.
      const bool with_image = turn.human.rfind(marker, 0) == 0;
      const std::string text = with_image ? turn.human.substr(marker.size()) : turn.human;
      question = tokenize_prompt(tokenizer, chat_prompt(format, text, with_image), format, image_features);
    } else {
      question = tokenizer.encode(followup_prompt(format, turn.human));
    }
    auto answer = tokenizer.encode(turn.gpt);
    if (suffix.empty()) {
      answer.push_back(tokenizer.eos_id());
    } else {
      const auto end = tokenizer.encode(suffix);
      answer.insert(answer.end(), end.begin(), end.end());
    }
    if (static_cast<int64_t>(out.ids.size() + question.size() + answer.size()) > max_length) break;
    out.ids.insert(out.ids.end(), question.begin(), question.end());
    out.labels.insert(out.labels.end(), question.size(), kIgnoreLabel);
    out.ids.insert(out.ids.end(), answer.begin(), answer.end());
    out.labels.insert(out.labels.end(), answer.begin(), answer.end());
  }
  if (out.ids.empty()) out.labels.clear();
  return out;
}

}  // namespace hipp
