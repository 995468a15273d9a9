#include "model/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  const auto status = impl->processor.Load(path);
  if (!status.ok()) throw Error(path + ": not a sentencepiece tokenizer (" + status.ToString() + ")");
  return Tokenizer(std::move(impl));
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  const auto status = impl_->processor.Encode(text, &ids);
  if (!status.ok()) throw Error("tokenizer: " + status.ToString());
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow;
  for (int64_t id : ids)
    if (id >= 0 && id < vocab_size()) narrow.push_back(static_cast<int>(id));
  std::string text;
  const auto status = impl_->processor.Decode(narrow, &text);
  if (!status.ok()) throw Error("tokenizer: " + status.ToString());
  return text;
}

int64_t Tokenizer::piece_id(const std::string& piece) const {
  const int id = impl_->processor.PieceToId(piece);
  // sentencepiece answers unknown pieces with the unk id.
  if (id == impl_->processor.unk_id() && piece != impl_->processor.IdToPiece(id)) return -1;
  return id;
}

std::string Tokenizer::piece(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return "";
  return impl_->processor.IdToPiece(static_cast<int>(id));
}

int64_t Tokenizer::vocab_size() const { return impl_->processor.GetPieceSize(); }
int64_t Tokenizer::bos_id() const { return impl_->processor.bos_id(); }
int64_t Tokenizer::eos_id() const { return impl_->processor.eos_id(); }

namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace

void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTraining& options,
                     const std::string& out_path) {
  if (sentences.empty()) throw Error("tokenizer training needs at least one sentence");
  std::string symbols;
  for (const auto& s : options.user_symbols) symbols += (symbols.empty() ? "" : ",") + s;
  std::string args = "--model_type=bpe --vocab_size=" + std::to_string(options.vocab_size) +
                     " --character_coverage=1.0 --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1"
                     " --hard_vocab_limit=false --split_digits=true --num_threads=1"
                     " --minloglevel=2 --add_dummy_prefix=true --remove_extra_whitespaces=false"
                     " --normalization_rule_name=identity";
  if (options.byte_fallback) args += " --byte_fallback=true";
  if (!symbols.empty()) args += " --user_defined_symbols=" + symbols;
  VectorIterator iterator(sentences);
  std::string serialized;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &serialized);
  if (!status.ok()) throw Error("tokenizer training failed: " + status.ToString());
  write_file_atomically(out_path, serialized);
}

}  // namespace hipp
