#pragma once
// LLaVA instruction data (the format of LLaVA's training files):
//   [{"id": "...", "image": "file.png" (optional),
//     "conversations": [{"from": "human", "value": "<image>\nQuestion"},
//                       {"from": "gpt", "value": "Answer"}, ...]}]
// read with errors that name the file and the entry, and turned into token
// sequences whose labels cover the assistant's tokens only. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "model/prompt.h"
#include "model/tokenizer.h"

namespace hipp {

struct InstructTurn {
  std::string human, gpt;
};

struct InstructExample {
  std::string id;
  std::string image;  // resolved path; "" for a text-only conversation
  std::vector<InstructTurn> turns;
};

// Reads `path`. Images are looked up in `image_folder`; when it is empty, in
// "<file's folder>/images" and then in the file's folder. A syntax error, a
// missing field, turns that do not alternate human/gpt, an "<image>" marker
// in a conversation without an image, or a missing image file is an
// hipp::Error naming the file and the entry.
std::vector<InstructExample> read_instruct_file(const std::string& path, const std::string& image_folder = "");

// Token ids and next-token labels (kIgnoreLabel = no loss) of one conversation in
// the model's layout (prompt_format): LLaVA's vicuna_v1, BOS "USER: <image>\n{q1}
// ASSISTANT:" "{a1}" EOS "USER: {q2} ASSISTANT:" "{a2}" EOS ..., or Qwen's chat
// template, each answer followed by "<|im_end|>\n"; the image marker expanded
// to `image_features` image tokens; labels on the answers and what ends them. Turns that do not fit in `max_length`
// tokens are dropped; the result has no turn (empty ids) when not even the first one fits.
struct TokenizedConversation {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
  std::string image;
};
TokenizedConversation tokenize_conversation(const InstructExample& example, const Tokenizer& tokenizer,
                                            const PromptFormat& format, int64_t image_features, int64_t max_length);

}  // namespace hipp
