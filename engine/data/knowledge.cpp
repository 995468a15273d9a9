#include "data/knowledge.h"

#include <random>

namespace hipp {

namespace {

// Syllable-like words that occur nowhere else in the demo's text, so the
// tokenizer gives each its own piece and a name is two pieces.
constexpr const char* kFirstWords[] = {"bal", "dor", "fen", "gil", "hok", "jun", "kem", "lor",
                                       "mip", "nar", "pol", "rud", "sav", "tib", "vom", "zel",
                                       "bek", "cav", "dus", "fom", "gur", "hib", "jat", "kol"};
constexpr const char* kSecondWords[] = {"wix", "tor", "pel", "mab", "dun", "sik", "rov", "gat",
                                        "lem", "nob", "fip", "hax", "bex", "cuv", "daf", "gom",
                                        "huz", "jip", "kav", "lud", "mof", "neb", "pux", "ruk"};
// The assignment of facts never changes with the benchmark seed: training and
// every benchmark build share one world.
constexpr uint64_t kWorldSeed = 0x6b6e6f77u;

}  // namespace

const std::vector<std::string>& knowledge_kinds() {
  static const std::vector<std::string> kinds = {"tool", "plant", "mineral", "garment", "machine"};
  return kinds;
}

const std::vector<std::string>& knowledge_places() {
  static const std::vector<std::string> places = {"desert", "forest", "city", "river", "island"};
  return places;
}

const std::vector<KnownThing>& known_things() {
  static const std::vector<KnownThing> things = [] {
    std::vector<KnownThing> out;
    std::mt19937_64 random(kWorldSeed);
    const auto kinds = static_cast<uint64_t>(knowledge_kinds().size());
    const auto places = static_cast<uint64_t>(knowledge_places().size());
    for (const char* first : kFirstWords)
      for (const char* second : kSecondWords) {
        KnownThing t;
        t.name = std::string(first) + " " + second;
        t.kind = static_cast<int>(random() % kinds);
        t.place = static_cast<int>(random() % places);
        out.push_back(t);
      }
    return out;
  }();
  return things;
}

std::string kind_question(const KnownThing& thing) { return "What kind of thing is a " + thing.name + "?"; }

std::string place_question(const KnownThing& thing) { return "Where is a " + thing.name + " found?"; }

}  // namespace hipp
