#include "model/byte_bpe.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

namespace {

// The Qwen2 pre-tokenizer pattern as tokenizer.json spells it.
const char* const kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Code points of `text` with the byte offset where each starts; a malformed
// byte stands for itself (U+FFFD's place), so every byte is covered once.
struct CodePoints {
  std::vector<uint32_t> cp;
  std::vector<size_t> at;  // cp.size() + 1 offsets
};

CodePoints decode_utf8(const std::string& s) {
  CodePoints out;
  size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    uint32_t cp = lead;
    if (n == 0 || i + n > s.size()) {
      n = 1;
      cp = 0xFFFD;
    } else if (n > 1) {
      cp = lead & (0x7F >> n);
      for (size_t k = 1; k < n; ++k) {
        const auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xC0) != 0x80) {
          n = 1;
          cp = 0xFFFD;
          break;
        }
        cp = (cp << 6) | (c & 0x3F);
      }
    }
    out.cp.push_back(cp);
    out.at.push_back(i);
    i += n;
  }
  out.at.push_back(s.size());
  return out;
}

bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool is_number(uint32_t c) {
  return (c >= '0' && c <= '9') || c == 0xB2 || c == 0xB3 || c == 0xB9 || (c >= 0xBC && c <= 0xBE) ||
         (c >= 0x2070 && c <= 0x2079) || (c >= 0x2080 && c <= 0x2089) || (c >= 0x2150 && c <= 0x2189) ||
         (c >= 0x2460 && c <= 0x249B) || (c >= 0xFF10 && c <= 0xFF19) || (c >= 0x0660 && c <= 0x0669) ||
         (c >= 0x0966 && c <= 0x096F);
}

bool is_letter(uint32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  if (c < 0x100) return c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
  if (is_space(c) || is_number(c)) return false;
  // Punctuation and symbol blocks: general punctuation to miscellaneous
  // symbols, CJK punctuation, fullwidth ASCII punctuation, specials.
  if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF00 && c <= 0xFF20) ||
      (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) || (c >= 0xFFF0 && c <= 0xFFFF) ||
      (c >= 0x0300 && c <= 0x036F) || (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0xE000 && c <= 0xF8FF))
    return false;
  return true;
}

bool is_newline(uint32_t c) { return c == '\r' || c == '\n'; }

uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length in code points of the pattern's match at `i` (always >= 1).
size_t match_at(const std::vector<uint32_t>& cp, size_t i) {
  const size_t n = cp.size();
  auto at = [&](size_t k) { return k < n ? cp[k] : 0xFFFFFFFFu; };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (cp[i] == '\'' && i + 1 < n) {
    const uint32_t a = lower_ascii(at(i + 1)), b = lower_ascii(at(i + 2));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+
  {
    size_t k = i;
    if (!is_letter(cp[k]) && !is_newline(cp[k]) && !is_number(cp[k]) && k + 1 < n && is_letter(cp[k + 1])) ++k;
    if (is_letter(at(k))) {
      while (k < n && is_letter(cp[k])) ++k;
      return k - i;
    }
  }
  // \p{N}
  if (is_number(cp[i])) return 1;
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  {
    auto other = [&](size_t k) { return k < n && !is_space(cp[k]) && !is_letter(cp[k]) && !is_number(cp[k]); };
    size_t k = i;
    if (cp[k] == ' ' && other(k + 1)) ++k;
    if (other(k)) {
      while (other(k)) ++k;
      while (k < n && is_newline(cp[k])) ++k;
      return k - i;
    }
  }
  // The remaining alternatives start with whitespace.
  size_t end = i;
  while (end < n && is_space(cp[end])) ++end;
  if (end == i) return 1;  // unreachable: every code point falls in a class above
  // \s*[\r\n]+ : up to the last line break of the run.
  for (size_t k = end; k > i; --k)
    if (is_newline(cp[k - 1])) return k - i;
  // \s+(?!\S) : the run, less its last space when text follows.
  if (end == n) return end - i;
  if (end - i >= 2) return end - 1 - i;
  // \s+
  return end - i;
}

struct ByteMap {
  std::string to_char[256];
  std::map<std::string, uint8_t> to_byte;
  ByteMap() {
    // Printable bytes map to themselves; the others to 256 + k in order.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      to_char[b] = utf8(cp);
      to_byte[to_char[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

// The characters (each a UTF-8 string) of a mapped word.
std::vector<std::string> characters(const std::string& mapped) {
  std::vector<std::string> out;
  const auto cps = decode_utf8(mapped);
  for (size_t k = 0; k < cps.cp.size(); ++k) out.push_back(mapped.substr(cps.at[k], cps.at[k + 1] - cps.at[k]));
  return out;
}

std::string map_bytes(const std::string& word) {
  std::string mapped;
  for (unsigned char b : word) mapped += byte_map().to_char[b];
  return mapped;
}

// Joins every non-overlapping occurrence of (left, right), left to right.
void merge_pair(std::vector<std::string>& symbols, const std::string& left, const std::string& right) {
  std::vector<std::string> merged;
  for (size_t k = 0; k < symbols.size();) {
    if (k + 1 < symbols.size() && symbols[k] == left && symbols[k + 1] == right) {
      merged.push_back(left + right);
      k += 2;
    } else {
      merged.push_back(symbols[k++]);
    }
  }
  symbols = std::move(merged);
}

// A field of a JSON object, `fallback` when absent or null; a field of
// another type is a hipp::Error naming `where` (never a JSON exception).
std::string text_of(const nlohmann::json& object, const char* key, const std::string& fallback,
                    const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return fallback;
  if (!object[key].is_string()) throw Error(where + ": field " + key + " must be a string");
  return object[key].get<std::string>();
}
bool flag_of(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key) || object[key].is_null()) return false;
  if (!object[key].is_boolean()) throw Error(where + ": field " + key + " must be true or false");
  return object[key].get<bool>();
}

std::string token_name(const nlohmann::json& value, const std::string& where) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw Error(where + " must be a string or an object with \"content\"");
}

}  // namespace

const std::string& byte_character(uint8_t b) { return byte_map().to_char[b]; }

std::vector<std::string> qwen2_pretokenize(const std::string& text) {
  std::vector<std::string> pieces;
  const auto cps = decode_utf8(text);
  for (size_t i = 0; i < cps.cp.size();) {
    const size_t length = match_at(cps.cp, i);
    pieces.push_back(text.substr(cps.at[i], cps.at[i + length] - cps.at[i]));
    i += length;
  }
  return pieces;
}

ByteLevelBpe ByteLevelBpe::parse(const std::string& json_text, const std::string& config_text,
                                 const std::string& name) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const std::exception& e) {
    throw Error(name + ": not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    throw Error(name + ": not a tokenizer.json (no \"model\" object)");
  const auto& model = j["model"];
  const std::string type = text_of(model, "type", "", name);
  if (type != "BPE") throw Error(name + ": model type '" + type + "' is not supported (byte-level BPE only)");
  if (flag_of(model, "byte_fallback", name))
    throw Error(name + ": BPE with byte_fallback is not byte-level BPE (a sentencepiece-style tokenizer.json)");
  // Model options that change the pieces and that this reader does not apply.
  for (const char* flag : {"fuse_unk"})
    if (flag_of(model, flag, name)) throw Error(name + ": BPE option " + flag + " is not supported");
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    throw Error(name + ": BPE dropout is not supported (encoding would not be deterministic)");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(affix) && model[affix].is_string() && !model[affix].get<std::string>().empty())
      throw Error(name + ": BPE " + affix + " is not supported");

  // Pre-tokenizer: Qwen2's split pattern, then byte-level (no prefix space).
  bool byte_level = false;
  std::string pattern;
  std::vector<nlohmann::json> steps;
  if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
    const auto& pre = j["pre_tokenizer"];
    if (text_of(pre, "type", "", name) == "Sequence" && pre.contains("pretokenizers") &&
        pre["pretokenizers"].is_array()) {
      for (const auto& step : pre["pretokenizers"]) steps.push_back(step);
    } else {
      steps.push_back(pre);
    }
  }
  for (const auto& step : steps) {
    if (!step.is_object()) throw Error(name + ": a pre_tokenizer step is not an object");
    const std::string kind = text_of(step, "type", "", name);
    if (kind == "Split") {
      if (step.contains("pattern") && step["pattern"].is_object() && step["pattern"].contains("Regex") &&
          step["pattern"]["Regex"].is_string())
        pattern = step["pattern"]["Regex"].get<std::string>();
      if (text_of(step, "behavior", "Isolated", name) != "Isolated" || flag_of(step, "invert", name))
        throw Error(name + ": only an isolating Split pre-tokenizer is supported");
    } else if (kind == "ByteLevel") {
      byte_level = true;
      if (flag_of(step, "add_prefix_space", name))
        throw Error(name + ": ByteLevel with add_prefix_space is not supported");
      if (flag_of(step, "use_regex", name) && pattern.empty()) pattern = "gpt2";
    } else {
      throw Error(name + ": pre-tokenizer '" + kind + "' is not supported (Qwen2's Split + ByteLevel only)");
    }
  }
  if (!byte_level) throw Error(name + ": not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer)");
  if (pattern != kQwen2Pattern)
    throw Error(name + ": pre-tokenizer pattern is not Qwen2's; only the Qwen2 family's tokenizer is supported");
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const std::string kind = text_of(j["normalizer"], "type", "", name);
    if (kind != "NFC") throw Error(name + ": normalizer '" + kind + "' is not supported (NFC or none)");
  }

  ByteLevelBpe t;
  t.ignore_merges_ = flag_of(model, "ignore_merges", name);
  auto place = [&](int64_t id, const std::string& token, bool added) {
    if (id < 0 || id > 10'000'000) throw Error(name + ": token id " + std::to_string(id) + " out of range");
    const auto i = static_cast<size_t>(id);
    if (t.tokens_.size() <= i) {
      t.tokens_.resize(i + 1);
      t.added_.resize(i + 1, false);
    }
    t.tokens_[i] = token;
    t.added_[i] = t.added_[i] || added;
    t.ids_[token] = id;
  };
  if (!model.contains("vocab") || !model["vocab"].is_object())
    throw Error(name + ": model.vocab must be an object of token -> id");
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer()) throw Error(name + ": vocab entry '" + token + "' has no integer id");
    place(id.get<int64_t>(), token, false);
  }
  if (!model.contains("merges") || !model["merges"].is_array()) throw Error(name + ": model.merges must be a list");
  int64_t rank = 0;
  for (const auto& m : model["merges"]) {
    std::string key;
    if (m.is_string()) {
      key = m.get<std::string>();
      if (key.find(' ') == std::string::npos) throw Error(name + ": merge '" + key + "' is not \"left right\"");
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      key = m[0].get<std::string>() + " " + m[1].get<std::string>();
    } else {
      throw Error(name + ": merge " + std::to_string(rank) + " is neither \"left right\" nor [left, right]");
    }
    t.merge_ranks_.emplace(key, rank++);
  }
  if (j.contains("added_tokens")) {
    if (!j["added_tokens"].is_array()) throw Error(name + ": added_tokens must be a list");
    for (const auto& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string() || a["content"].get<std::string>().empty())
        throw Error(name + ": an added token lacks an integer id or a non-empty content");
      for (const char* flag : {"lstrip", "rstrip", "single_word"})
        if (flag_of(a, flag, name))
          throw Error(name + ": added token '" + a["content"].get<std::string>() + "' sets " + flag +
                      ", which this reader does not apply");
      place(a["id"].get<int64_t>(), a["content"].get<std::string>(), true);
      t.added_longest_first_.push_back(a["content"].get<std::string>());
      t.added_first_byte_[static_cast<unsigned char>(t.added_longest_first_.back()[0])] = true;
    }
  }
  std::sort(t.added_longest_first_.begin(), t.added_longest_first_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (int b = 0; b < 256; ++b)
    if (!t.ids_.count(byte_character(static_cast<uint8_t>(b))))
      throw Error(name + ": the vocabulary lacks the byte-level token of byte " + std::to_string(b));

  if (!config_text.empty()) {
    nlohmann::json c;
    try {
      c = nlohmann::json::parse(config_text);
    } catch (const std::exception& e) {
      throw Error(name + ": tokenizer_config.json is not valid JSON (" + e.what() + ")");
    }
    for (const auto& [key, slot] :
         {std::pair<const char*, int64_t*>{"bos_token", &t.bos_id_}, {"eos_token", &t.eos_id_}}) {
      if (!c.contains(key)) continue;
      const std::string token = token_name(c[key], "tokenizer_config.json: " + std::string(key));
      if (token.empty()) continue;
      const auto id = t.token_id(token);
      if (id < 0) throw Error(name + ": tokenizer_config.json's " + key + " '" + token + "' is not a token");
      *slot = id;
    }
  } else {
    t.eos_id_ = t.token_id("<|im_end|>") >= 0 ? t.token_id("<|im_end|>") : t.token_id("<|endoftext|>");
  }
  return t;
}

void ByteLevelBpe::encode_word(const std::string& word, std::vector<int64_t>& out) const {
  if (auto it = cache_.find(word); it != cache_.end()) {
    out.insert(out.end(), it->second.begin(), it->second.end());
    return;
  }
  // ignore_merges: a word the vocabulary holds whole is that one token.
  if (ignore_merges_) {
    if (const auto whole = token_id(map_bytes(word)); whole >= 0) {
      out.push_back(whole);
      return;
    }
  }
  auto symbols = characters(map_bytes(word));
  // Merge the adjacent pair of lowest rank until none is a merge.
  while (symbols.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto it = merge_ranks_.find(symbols[k] + " " + symbols[k + 1]);
      if (it != merge_ranks_.end() && it->second < best) {
        best = it->second;
        at = k;
      }
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    // Every occurrence of the pair, left to right, as the tokenizers library does.
    const std::string left = symbols[at], right = symbols[at + 1];
    merge_pair(symbols, left, right);
  }
  std::vector<int64_t> ids;
  for (const auto& s : symbols) {
    const auto id = token_id(s);
    if (id >= 0) {
      ids.push_back(id);
    } else {
      // A merge result missing from the vocabulary: its characters one by one.
      for (const auto& ch : characters(s)) ids.push_back(token_id(ch));
    }
  }
  if (cache_.size() < 100000) cache_.emplace(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<int64_t> ByteLevelBpe::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  size_t start = 0;
  auto plain = [&](size_t end) {
    if (end > start)
      for (const auto& word : qwen2_pretokenize(text.substr(start, end - start))) encode_word(word, ids);
  };
  for (size_t i = 0; i < text.size();) {
    const std::string* hit = nullptr;
    if (added_first_byte_[static_cast<unsigned char>(text[i])])
      for (const auto& a : added_longest_first_)
        if (text.compare(i, a.size(), a) == 0) {
          hit = &a;
          break;
        }
    if (!hit) {
      ++i;
      continue;
    }
    plain(i);
    ids.push_back(token_id(*hit));
    i += hit->size();
    start = i;
  }
  plain(text.size());
  return ids;
}

std::string ByteLevelBpe::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  const auto& map = byte_map().to_byte;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const auto& t = tokens_[static_cast<size_t>(id)];
    if (added_[static_cast<size_t>(id)]) {
      text += t;
      continue;
    }
    for (const auto& ch : characters(t)) {
      auto it = map.find(ch);
      text += it != map.end() ? std::string(1, static_cast<char>(it->second)) : ch;
    }
  }
  return text;
}

int64_t ByteLevelBpe::token_id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::string ByteLevelBpe::token(int64_t id) const {
  return id < 0 || id >= vocab_size() ? "" : tokens_[static_cast<size_t>(id)];
}

void train_byte_bpe(const std::vector<std::string>& sentences, const ByteBpeTraining& options, const std::string& dir) {
  // Words (pre-tokenized pieces) with their counts, as symbol sequences.
  std::map<std::string, int64_t> word_counts;
  for (const auto& s : sentences)
    for (const auto& w : qwen2_pretokenize(s)) ++word_counts[w];
  std::vector<std::pair<std::vector<std::string>, int64_t>> words;
  for (const auto& [w, n] : word_counts) words.emplace_back(characters(map_bytes(w)), n);

  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_character(static_cast<uint8_t>(b))] = b;
  int64_t next_id = 256;
  nlohmann::json merges = nlohmann::json::array();
  // Until `merges` new tokens exist (a merge may rebuild a token that another
  // pair already made; it counts once).
  for (int64_t m = 0; next_id < 256 + options.merges && m < 4 * options.merges; ++m) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [symbols, n] : words)
      for (size_t k = 0; k + 1 < symbols.size(); ++k) pairs[{symbols[k], symbols[k + 1]}] += n;
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (it->second > best->second) best = it;
    const auto [left, right] = best->first;
    merges.push_back({left, right});
    if (!vocab.contains(left + right)) vocab[left + right] = next_id++;
    for (auto& word : words) merge_pair(word.first, left, right);
  }
  nlohmann::json added = nlohmann::json::array();
  if (!options.special_ids.empty() && options.special_ids.size() != options.special_tokens.size())
    throw Error("byte-level BPE training: one id per special token");
  for (size_t k = 0; k < options.special_tokens.size(); ++k) {
    const auto& s = options.special_tokens[k];
    const int64_t id = options.special_ids.empty() ? next_id++ : options.special_ids[k];
    if (id < next_id && !options.special_ids.empty())
      throw Error("byte-level BPE training: special token id " + std::to_string(id) + " collides with the merges");
    added.push_back({{"id", id},
                     {"content", s},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  const nlohmann::json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "NFC"}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kQwen2Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", ""},
        {"end_of_word_suffix", ""},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}}};
  const std::filesystem::path root(dir);
  write_json_file((root / "tokenizer.json").string(), tokenizer);
  nlohmann::json config = {
      {"tokenizer_class", "Qwen2Tokenizer"},
      {"model_max_length", 32768},
      {"add_bos_token", false},
      {"errors", "replace"},
      {"bos_token", options.bos_token.empty() ? nlohmann::json() : nlohmann::json(options.bos_token)},
      {"eos_token", options.eos_token.empty() ? nlohmann::json() : nlohmann::json(options.eos_token)},
      {"pad_token", "<|endoftext|>"}};
  write_json_file((root / "tokenizer_config.json").string(), config);
}

}  // namespace hipp
