#pragma once
// LLaMA's tokenizer: a sentencepiece BPE model file (tokenizer.model), read
// and applied here without the sentencepiece library (whose bundled protobuf
// cannot share a process with LibTorch's). Supports what LLaMA-family
// tokenizers use: BPE, byte fallback, user-defined symbols, the identity
// normaliser with dummy prefix and whitespace escaping. Torch-free.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace hipp {

class Tokenizer {
 public:
  enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

  // Loads `path`; throws hipp::Error naming the path when it is not a model
  // this reader supports.
  static Tokenizer load(const std::string& path);
  // Parses a serialized model; `name` labels errors.
  static Tokenizer parse(const std::string& bytes, const std::string& name);

  // Pieces of `text` without BOS/EOS (a leading "▁" is added, as sentencepiece does).
  std::vector<int64_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // Id of a piece, or -1 when the vocabulary lacks it.
  int64_t piece_id(const std::string& piece) const;
  std::string piece(int64_t id) const;
  int64_t vocab_size() const { return static_cast<int64_t>(pieces_.size()); }
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }

 private:
  struct Piece {
    std::string text;
    float score = 0;
    PieceType type = PieceType::Normal;
  };
  std::string normalize(const std::string& text) const;
  std::vector<std::string> initial_symbols(const std::string& normalized) const;

  std::vector<Piece> pieces_;
  std::unordered_map<std::string, int64_t> normal_ids_;  // merge targets
  std::unordered_map<std::string, int64_t> all_ids_;
  std::vector<std::string> user_symbols_;  // longest first
  int64_t byte_ids_[256];
  bool byte_fallback_ = false;
  bool add_dummy_prefix_ = true;
  bool remove_extra_whitespaces_ = true;
  bool escape_whitespaces_ = true;
  int64_t unk_id_ = 0, bos_id_ = 1, eos_id_ = 2;
  std::string unk_surface_ = " \xE2\x81\x87 ";
};

struct TokenizerTraining {
  int64_t vocab_size = 512;
  std::vector<std::string> user_symbols;  // pieces kept whole, e.g. "<image>"
  bool byte_fallback = true;              // any text encodes, as in LLaMA
};

// Trains a BPE tokenizer with LLaMA's settings (unk 0, bos 1, eos 2, identity
// normaliser, byte fallback) on `sentences` by running sentencepiece's
// spm_train, and writes the model file to `out_path`.
void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTraining& options,
                     const std::string& out_path);

}  // namespace hipp
