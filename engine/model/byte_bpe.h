#pragma once
// Byte-level BPE as Hugging Face's tokenizer.json describes it for the Qwen2
// family (Qwen2.5-VL's tokenizer): added tokens split out first, the Qwen2
// pre-tokenizer pattern, GPT-2's byte-to-character map, merges applied by
// rank. Read and applied here without the tokenizers library. Torch-free.
//
// What is exact and what is not: the pre-tokenizer pattern is matched by hand
// (the pattern in the file must be Qwen2's, or the file is refused); its
// letter and number classes are exact for ASCII and Latin-1 and approximate
// beyond (other scripts count as letters, the general-punctuation blocks as
// punctuation). The NFC normaliser is not applied: text that is already in
// NFC (ASCII, precomposed accents) encodes as the tokenizers library does.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace hipp {

class ByteLevelBpe {
 public:
  // Parses a tokenizer.json; `name` labels errors. `config_text` is the
  // folder's tokenizer_config.json (empty when absent): its bos_token and
  // eos_token name the special tokens.
  static ByteLevelBpe parse(const std::string& json_text, const std::string& config_text, const std::string& name);

  std::vector<int64_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // Id of a token (its surface form in the vocabulary: bytes mapped to
  // characters, "Ġ" for a space), or -1.
  int64_t token_id(const std::string& token) const;
  std::string token(int64_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }

 private:
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;

  std::vector<std::string> tokens_;  // id -> surface ("" for gaps in the id range)
  std::vector<bool> added_;          // id is an added token (decoded as written)
  std::unordered_map<std::string, int64_t> ids_;
  std::unordered_map<std::string, int64_t> merge_ranks_;  // "left right" -> rank
  std::vector<std::string> added_longest_first_;
  bool added_first_byte_[256] = {};  // bytes an added token starts with: where to look for one
  int64_t bos_id_ = -1, eos_id_ = -1;
  bool ignore_merges_ = false;  // a word in the vocabulary is taken whole
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

// The Qwen2 pre-tokenizer: splits `text` as its pattern does (see above).
std::vector<std::string> qwen2_pretokenize(const std::string& text);

// GPT-2's byte-to-character map: byte b's character, UTF-8 encoded.
const std::string& byte_character(uint8_t b);

struct ByteBpeTraining {
  int64_t merges = 100;                     // new tokens beyond the 256 bytes
  std::vector<std::string> special_tokens;  // appended after the merges, in order
  std::vector<int64_t> special_ids;         // their ids instead (gaps allowed); empty = in order
  std::string bos_token;                    // "" = none
  std::string eos_token;
};

// Learns byte-level merges from `sentences` (most frequent pair first, ties
// to the pair that sorts first) until `merges` new tokens exist or no pair
// remains, and writes tokenizer.json and
// tokenizer_config.json into `dir`. Ids: 256 bytes, the merges, then the
// special tokens.
void train_byte_bpe(const std::vector<std::string>& sentences, const ByteBpeTraining& options, const std::string& dir);

}  // namespace hipp
