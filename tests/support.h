#pragma once
// Helpers the tests share: temporary folders and small models made on the spot.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/llava.h"
#include "study/store.h"

namespace hipp::test {

// A fresh folder under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The micro preset's architecture with a made-up vocabulary (no tokenizer needed).
LlavaConfig micro_config(int64_t vocab_size = 64, int64_t image_token_index = 3);
// A random micro model.
LlavaModel micro_model(uint64_t seed, const LlavaConfig& config = micro_config());
// The model's logits for token ids with images given as pixel values.
torch::Tensor image_logits(LlavaModel& model, const torch::Tensor& ids, const torch::Tensor& pixels);
// A prompt prefix for prefix_sharing_error: its token ids and, when they
// hold image tokens, the images' features [sum of image tokens, D] and grids.
struct PromptPrefix {
  std::vector<int64_t> ids;
  torch::Tensor features;
  std::vector<PatchGrid> grids;
};
// Runs `prefixes` once (encode_prefixes) and each suffix after its prefix
// (forward_after_prefixes, rows left padded), and returns the largest
// difference between those logits and the logits of the same positions
// when each whole prompt (prefix + suffix) goes through forward() alone.
double prefix_sharing_error(LlavaModel& model, const std::vector<PromptPrefix>& prefixes,
                            const std::vector<std::pair<int64_t, std::vector<int64_t>>>& suffixes);
// Random token ids in [4, vocab) of shape [batch, tokens].
torch::Tensor random_ids(int64_t batch, int64_t tokens, int64_t vocab, uint64_t seed);
// Writes bytes to a file.
void write_bytes(const std::string& path, const std::string& bytes);
// Reads a whole file (empty when it cannot be read).
std::string read_bytes(const std::string& path);
// A study record with made-up folders and fingerprints, for the store tests.
StudyRecord sample_study();
// The message of the hipp::Error that `f` throws; "(no error)" when it throws none.
std::string error_of(const std::function<void()>& f);
// Runs a shell command; returns its exit code and fills `output` with stdout+stderr.
int run_command(const std::string& command, std::string* output);
// Runs the hipp-prune program with `args` (run_command).
int cli(const std::string& args, std::string* output);
// A small synthetic benchmark for the micro preset (32-pixel scenes).
void write_micro_benchmark(const std::string& dir, int pope_images, int sqa_train, int sqa_test,
                           int instruction_conversations = 2);

}  // namespace hipp::test
