#pragma once
// A sentencepiece tokenizer (LLaMA's tokenizer.model). Torch-free.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hipp {

class Tokenizer {
 public:
  // Loads `path`; throws hipp::Error with the path when it is not a valid model.
  static Tokenizer load(const std::string& path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Pieces of `text` without BOS/EOS (sentencepiece adds its leading "▁").
  std::vector<int64_t> encode(const std::string& text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // Id of a piece, or -1 when the vocabulary lacks it.
  int64_t piece_id(const std::string& piece) const;
  std::string piece(int64_t id) const;
  int64_t vocab_size() const;
  int64_t bos_id() const;
  int64_t eos_id() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TokenizerTraining {
  int64_t vocab_size = 512;
  std::vector<std::string> user_symbols;  // pieces kept whole, e.g. "<image>"
  bool byte_fallback = true;              // any text encodes, as in LLaMA
};

// Trains a BPE tokenizer with LLaMA's special ids (unk 0, bos 1, eos 2) on
// `sentences` and writes the model file to `out_path`.
void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTraining& options,
                     const std::string& out_path);

}  // namespace hipp
