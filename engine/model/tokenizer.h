#pragma once
// LLaMA's tokenizer: a sentencepiece BPE model file (tokenizer.model), read
// and applied here without the sentencepiece library (whose bundled protobuf
// cannot share a process with LibTorch's). Supports what LLaMA-family
// tokenizers use: BPE, byte fallback, user-defined symbols, the identity
// normaliser with dummy prefix and whitespace escaping. Or a byte-level BPE
// tokenizer.json of the Qwen2 family (model/byte_bpe.h). Torch-free.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace hipp {

class ByteLevelBpe;

class Tokenizer {
 public:
  enum class PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

  // Loads `path` (a sentencepiece model, or a tokenizer.json with the
  // tokenizer_config.json beside it when there is one); throws hipp::Error
  // naming the path when it is not a model this reader supports.
  static Tokenizer load(const std::string& path);
  // A model folder's tokenizer: tokenizer.model, else tokenizer.json.
  static Tokenizer load_folder(const std::string& dir);
  // Parses a serialized model; `name` labels errors.
  static Tokenizer parse(const std::string& bytes, const std::string& name);

  // Pieces of `text` without BOS/EOS (a leading "▁" is added, as sentencepiece does).
  std::vector<int64_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // Id of a piece, or -1 when the vocabulary lacks it.
  int64_t piece_id(const std::string& piece) const;
  std::string piece(int64_t id) const;
  int64_t vocab_size() const;
  // -1 when the tokenizer has none (byte-level BPE: no BOS, no unknown piece).
  int64_t bos_id() const;
  int64_t eos_id() const;
  int64_t unk_id() const { return bpe_ ? -1 : unk_id_; }
  // The file's kind: "sentencepiece" or "byte-level BPE".
  std::string kind() const { return bpe_ ? "byte-level BPE" : "sentencepiece"; }

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
  std::shared_ptr<const ByteLevelBpe> bpe_;  // set for a tokenizer.json
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
