#include "model/tokenizer.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <queue>
#include <sstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "model/byte_bpe.h"

extern char** environ;

namespace hipp {
namespace fs = std::filesystem;

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, sentencepiece's visible space

// Minimal protobuf wire-format reader for sentencepiece's ModelProto.
class WireReader {
 public:
  WireReader(const std::string& bytes, size_t begin, size_t end, const std::string& name)
      : bytes_(bytes), pos_(begin), end_(end), name_(name) {}
  bool done() const { return pos_ >= end_; }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) fail();
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    fail();
  }
  // Returns the [begin, end) range of a length-delimited field.
  std::pair<size_t, size_t> bytes() {
    const uint64_t length = varint();
    if (length > end_ - pos_) fail();
    const size_t begin = pos_;
    pos_ += length;
    return {begin, pos_};
  }
  float fixed32() {
    if (end_ - pos_ < 4) fail();
    float value;
    std::memcpy(&value, bytes_.data() + pos_, 4);
    pos_ += 4;
    return value;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        break;
      case 1:
        if (end_ - pos_ < 8) fail();
        pos_ += 8;
        break;
      case 2:
        bytes();
        break;
      case 5:
        fixed32();
        break;
      default:
        fail();
    }
  }
  [[noreturn]] void fail() const { throw Error(name_ + ": not a valid sentencepiece model file"); }

 private:
  const std::string& bytes_;
  size_t pos_, end_;
  const std::string& name_;
};

size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;  // stray byte: a symbol of its own
}

}  // namespace

namespace {

std::string read_whole(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open tokenizer");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  const std::string bytes = read_whole(path);
  if (fs::path(path).extension() == ".json") {
    const auto config_path = fs::path(path).parent_path() / "tokenizer_config.json";
    const std::string config = fs::exists(config_path) ? read_whole(config_path.string()) : std::string();
    Tokenizer t;
    t.bpe_ = std::make_shared<const ByteLevelBpe>(ByteLevelBpe::parse(bytes, config, path));
    return t;
  }
  return parse(bytes, path);
}

Tokenizer Tokenizer::load_folder(const std::string& dir) {
  const fs::path root(dir);
  if (fs::exists(root / "tokenizer.model")) return load((root / "tokenizer.model").string());
  if (fs::exists(root / "tokenizer.json")) return load((root / "tokenizer.json").string());
  throw Error(dir + ": no tokenizer (tokenizer.model or tokenizer.json)");
}

int64_t Tokenizer::vocab_size() const { return bpe_ ? bpe_->vocab_size() : static_cast<int64_t>(pieces_.size()); }
int64_t Tokenizer::bos_id() const { return bpe_ ? bpe_->bos_id() : bos_id_; }
int64_t Tokenizer::eos_id() const { return bpe_ ? bpe_->eos_id() : eos_id_; }

Tokenizer Tokenizer::parse(const std::string& bytes, const std::string& name) {
  Tokenizer t;
  std::fill(std::begin(t.byte_ids_), std::end(t.byte_ids_), -1);
  int64_t model_type = 1;  // sentencepiece's default: unigram
  WireReader top(bytes, 0, bytes.size(), name);
  while (!top.done()) {
    const uint64_t key = top.varint();
    const auto field = key >> 3;
    const auto wire = static_cast<uint32_t>(key & 7);
    if (wire != 2 || (field != 1 && field != 2 && field != 3)) {
      top.skip(wire);
      continue;
    }
    const auto [begin, end] = top.bytes();
    WireReader sub(bytes, begin, end, name);
    if (field == 1) {  // SentencePiece {1: piece, 2: score, 3: type}
      Piece piece;
      while (!sub.done()) {
        const uint64_t k = sub.varint();
        const auto w = static_cast<uint32_t>(k & 7);
        if ((k >> 3) == 1 && w == 2) {
          const auto [b, e] = sub.bytes();
          piece.text = bytes.substr(b, e - b);
        } else if ((k >> 3) == 2 && w == 5) {
          piece.score = sub.fixed32();
        } else if ((k >> 3) == 3 && w == 0) {
          piece.type = static_cast<PieceType>(sub.varint());
        } else {
          sub.skip(w);
        }
      }
      t.pieces_.push_back(std::move(piece));
    } else if (field == 2) {  // TrainerSpec
      while (!sub.done()) {
        const uint64_t k = sub.varint();
        const auto f = k >> 3;
        const auto w = static_cast<uint32_t>(k & 7);
        if (w != 0) {
          if (f == 44 && w == 2) {
            const auto [b, e] = sub.bytes();
            t.unk_surface_ = bytes.substr(b, e - b);
          } else {
            sub.skip(w);
          }
          continue;
        }
        const auto value = static_cast<int64_t>(sub.varint());
        if (f == 3) model_type = value;
        if (f == 35) t.byte_fallback_ = value != 0;
        if (f == 40) t.unk_id_ = static_cast<int32_t>(value);
        if (f == 41) t.bos_id_ = static_cast<int32_t>(value);
        if (f == 42) t.eos_id_ = static_cast<int32_t>(value);
      }
    } else {  // NormalizerSpec
      while (!sub.done()) {
        const uint64_t k = sub.varint();
        const auto f = k >> 3;
        const auto w = static_cast<uint32_t>(k & 7);
        if (f == 2 && w == 2) {
          const auto [b, e] = sub.bytes();
          if (e > b) throw Error(name + ": tokenizers with a precompiled normalisation map are not supported");
        } else if (w == 0 && (f == 3 || f == 4 || f == 5)) {
          const bool value = sub.varint() != 0;
          if (f == 3) t.add_dummy_prefix_ = value;
          if (f == 4) t.remove_extra_whitespaces_ = value;
          if (f == 5) t.escape_whitespaces_ = value;
        } else {
          sub.skip(w);
        }
      }
    }
  }
  if (t.pieces_.empty()) throw Error(name + ": not a valid sentencepiece model file (no pieces)");
  if (model_type != 2) throw Error(name + ": only BPE sentencepiece models (as LLaMA uses) are supported");
  for (size_t id = 0; id < t.pieces_.size(); ++id) {
    const auto& p = t.pieces_[id];
    const auto i = static_cast<int64_t>(id);
    t.all_ids_.emplace(p.text, i);
    if (p.type == PieceType::Normal) t.normal_ids_.emplace(p.text, i);
    if (p.type == PieceType::UserDefined) t.user_symbols_.push_back(p.text);
    if (p.type == PieceType::Byte) {
      // "<0xHH>": the byte-fallback piece of byte HH.
      const auto hex = [](char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                      : -1;
      };
      const bool well_formed = p.text.size() == 6 && p.text.rfind("<0x", 0) == 0 && p.text[5] == '>' &&
                               hex(p.text[3]) >= 0 && hex(p.text[4]) >= 0;
      if (!well_formed) throw Error(name + ": byte piece " + std::to_string(id) + " is not of the form <0xHH>");
      t.byte_ids_[static_cast<size_t>(hex(p.text[3]) * 16 + hex(p.text[4]))] = i;
    }
  }
  std::sort(t.user_symbols_.begin(), t.user_symbols_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  const auto n = static_cast<int64_t>(t.pieces_.size());
  for (int64_t id : {t.unk_id_, t.bos_id_, t.eos_id_})
    if (id >= n) throw Error(name + ": special token id outside the vocabulary");
  return t;
}

std::string Tokenizer::normalize(const std::string& text) const {
  std::string s = text;
  if (remove_extra_whitespaces_) {
    std::string collapsed;
    bool pending_space = false;
    for (char c : s) {
      if (c == ' ') {
        pending_space = !collapsed.empty();
      } else {
        if (pending_space) collapsed += ' ';
        pending_space = false;
        collapsed += c;
      }
    }
    s = collapsed;
  }
  if (s.empty()) return s;
  if (add_dummy_prefix_) s = " " + s;
  if (!escape_whitespaces_) return s;
  std::string escaped;
  for (char c : s) {
    if (c == ' ') {
      escaped += kSpace;
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::vector<std::string> Tokenizer::initial_symbols(const std::string& normalized) const {
  std::vector<std::string> symbols;
  size_t pos = 0;
  while (pos < normalized.size()) {
    size_t length = 0;
    for (const auto& symbol : user_symbols_)
      if (normalized.compare(pos, symbol.size(), symbol) == 0) {
        length = symbol.size();
        break;
      }
    if (length == 0)
      length = std::min(utf8_length(static_cast<unsigned char>(normalized[pos])), normalized.size() - pos);
    symbols.push_back(normalized.substr(pos, length));
    pos += length;
  }
  return symbols;
}

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  if (bpe_) return bpe_->encode(text);
  const auto symbols = initial_symbols(normalize(text));
  const size_t n = symbols.size();
  // Doubly linked symbols; merged-away symbols become empty.
  std::vector<std::string> sym(symbols);
  std::vector<long> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<long>(i) - 1;
    next[i] = i + 1 < n ? static_cast<long>(i + 1) : -1;
  }
  struct Pair {
    float score;
    long left, right;
    size_t size;  // length of the merged piece, to detect stale entries
    bool operator<(const Pair& o) const {
      return score != o.score ? score < o.score : left > o.left;  // best score, leftmost first
    }
  };
  std::priority_queue<Pair> agenda;
  auto consider = [&](long left, long right) {
    if (left < 0 || right < 0) return;
    const std::string merged = sym[left] + sym[right];
    auto it = normal_ids_.find(merged);
    if (it == normal_ids_.end()) return;
    agenda.push({pieces_[static_cast<size_t>(it->second)].score, left, right, merged.size()});
  };
  for (size_t i = 0; i + 1 < n; ++i) consider(static_cast<long>(i), static_cast<long>(i + 1));
  while (!agenda.empty()) {
    const Pair top = agenda.top();
    agenda.pop();
    if (sym[top.left].empty() || sym[top.right].empty() || next[top.left] != top.right ||
        sym[top.left].size() + sym[top.right].size() != top.size)
      continue;
    sym[top.left] += sym[top.right];
    sym[top.right].clear();
    next[top.left] = next[top.right];
    if (next[top.right] >= 0) prev[next[top.right]] = top.left;
    consider(prev[top.left], top.left);
    consider(top.left, next[top.left]);
  }
  std::vector<int64_t> ids;
  for (long i = n ? 0 : -1; i >= 0; i = next[i]) {
    auto it = all_ids_.find(sym[i]);
    if (it != all_ids_.end() && pieces_[static_cast<size_t>(it->second)].type != PieceType::Unused) {
      ids.push_back(it->second);
    } else if (byte_fallback_) {
      for (unsigned char byte : sym[i]) ids.push_back(byte_ids_[byte] >= 0 ? byte_ids_[byte] : unk_id_);
    } else {
      ids.push_back(unk_id_);
    }
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  if (bpe_) return bpe_->decode(ids);
  std::string text;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const auto& p = pieces_[static_cast<size_t>(id)];
    switch (p.type) {
      case PieceType::Control:
        break;
      case PieceType::Unknown:
        text += unk_surface_;
        break;
      case PieceType::Byte:
        text += static_cast<char>(std::stoi(p.text.substr(3, 2), nullptr, 16));
        break;
      default: {
        std::string piece = p.text;
        for (size_t at; (at = piece.find(kSpace)) != std::string::npos;) piece.replace(at, kSpace.size(), " ");
        text += piece;
      }
    }
  }
  if (add_dummy_prefix_ && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

int64_t Tokenizer::piece_id(const std::string& piece) const {
  if (bpe_) return bpe_->token_id(piece);
  auto it = all_ids_.find(piece);
  return it == all_ids_.end() ? -1 : it->second;
}

std::string Tokenizer::piece(int64_t id) const {
  if (bpe_) return bpe_->token(id);
  if (id < 0 || id >= vocab_size()) return "";
  return pieces_[static_cast<size_t>(id)].text;
}

void train_tokenizer(const std::vector<std::string>& sentences, const TokenizerTraining& options,
                     const std::string& out_path) {
  if (sentences.empty()) throw Error("tokenizer training needs at least one sentence");
  const fs::path work = fs::temp_directory_path() / ("hipp-spm-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(reinterpret_cast<uintptr_t>(&options)));
  fs::create_directories(work);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{work};
  {
    std::ofstream corpus(work / "corpus.txt");
    for (const auto& s : sentences) corpus << s << "\n";
  }
  std::string symbols;
  for (const auto& s : options.user_symbols) symbols += (symbols.empty() ? "" : ",") + s;
  std::vector<std::string> args = {
      "spm_train",
      "--input=" + (work / "corpus.txt").string(),
      "--model_prefix=" + (work / "tokenizer").string(),
      "--model_type=bpe",
      "--vocab_size=" + std::to_string(options.vocab_size),
      "--character_coverage=1.0",
      "--unk_id=0",
      "--bos_id=1",
      "--eos_id=2",
      "--pad_id=-1",
      "--hard_vocab_limit=false",
      "--split_digits=true",
      "--num_threads=1",
      "--minloglevel=2",
      "--normalization_rule_name=identity",
      "--remove_extra_whitespaces=false",
      std::string("--byte_fallback=") + (options.byte_fallback ? "true" : "false"),
  };
  if (!symbols.empty()) args.push_back("--user_defined_symbols=" + symbols);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const std::string log = (work / "spm_train.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, "spm_train", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    throw Error(
        "cannot run spm_train: install the 'sentencepiece' package "
        "(packaging/install-deps.sh does)");
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    throw Error("tokenizer training failed: " + last);
  }
  // Validate before moving the file into place.
  Tokenizer::load((work / "tokenizer.model").string());
  fs::copy_file(work / "tokenizer.model", out_path + ".tmp", fs::copy_options::overwrite_existing);
  fs::rename(out_path + ".tmp", out_path);
}

}  // namespace hipp
