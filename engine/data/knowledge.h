#pragma once
// The demo's body of text-only knowledge: invented things with two-word names
// ("bal wix") and two facts each, a kind and a place where it is found,
// assigned at random (from a fixed seed, the same in every build). A fact
// belongs to the whole name: neither word alone tells it, so a model must
// bring the two words together before it can recall anything, and with 576
// things (24 x 24 names) it must store 1152 facts. That is what the language
// model's MLPs hold in a real VLM (knowledge in the middle and late layers),
// and what pruning them costs on ScienceQA. Torch-free.
#include <string>
#include <vector>

namespace hipp {

struct KnownThing {
  std::string name;  // two invented words
  int kind = 0;      // index into knowledge_kinds()
  int place = 0;     // index into knowledge_places()
};

const std::vector<KnownThing>& known_things();
const std::vector<std::string>& knowledge_kinds();   // "tool", "plant", ...
const std::vector<std::string>& knowledge_places();  // "desert", "forest", ...

// The questions a fact answers, as asked in training with a one-word answer
// and in ScienceQA problems with lettered options.
std::string kind_question(const KnownThing& thing);   // "What kind of thing is a bal wix?"
std::string place_question(const KnownThing& thing);  // "Where is a bal wix found?"

}  // namespace hipp
