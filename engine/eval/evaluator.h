#pragma once
// Scores a LLaVA model on POPE and ScienceQA with one forward pass per
// question: POPE compares the "Yes" and "No" logits at the answer position,
// ScienceQA takes the best option letter. Image features (vision tower +
// projector, never pruned) are computed once per image and cached in memory
// and on disk, keyed by the model fingerprint and the image's content.
#include <atomic>
#include <functional>
#include <map>
#include <string>

#include <torch/torch.h>

#include "eval/benchmark.h"
#include "eval/metrics.h"
#include "model/image.h"
#include "model/llava.h"
#include "model/prompt.h"
#include "model/tokenizer.h"

namespace hipp {

struct EvalOptions {
  int batch_size = 32;
  std::string answers_dir;    // write LLaVA answer files here when set
  bool blank_images = false;  // replace every image with a blank one
  std::string model_id = "hipp";
  // Questions on one image are batched together, and a batch's prompts go
  // through the language model in two passes, their prefixes (the template
  // and the image's tokens) once each and then every question after its
  // prefix's keys and values, when the two passes cost at most this share of
  // one pass over the whole prompts (counted in padded tokens). 0 runs every
  // prompt whole; 1 shares whenever a prefix repeats.
  double shared_prefix_cost = 0.6;
  std::function<void(int done, int total)> progress;
  const std::atomic<bool>* cancel = nullptr;  // throws hipp::Cancelled when set
};

struct FeatureCacheStats {
  int64_t memory_hits = 0, disk_hits = 0, computed = 0;
  double vision_seconds = 0;  // time spent in the vision tower and projector
};

struct PromptStats {
  int64_t prompts = 0;
  int64_t tokens = 0;        // real tokens of every prompt scored
  int64_t tokens_saved = 0;  // of them, prefix tokens another prompt's pass computed
};

class Evaluator {
 public:
  // `cache_dir` empty = memory cache only. The vision side of `model` must
  // stay unchanged while the evaluator lives (pruning never touches it).
  Evaluator(LlavaModel model, const Tokenizer& tokenizer, PreprocessorConfig preprocessor, std::string cache_dir = "");

  BenchmarkResult evaluate(const Benchmark& benchmark, const EvalOptions& options = {});

  // Features [N, D] of one image file (or of a blank image for "") and the
  // patch grid they came from (LLaVA: 1 x 1 x 1).
  struct ImageEntry {
    torch::Tensor features;
    PatchGrid grid;
  };
  const ImageEntry& image_entry(const std::string& path) { return lookup(path, true); }
  torch::Tensor image_features(const std::string& path) { return image_entry(path).features; }
  // Uses another language model with the same vision side (a pruned copy).
  void set_model(LlavaModel model) { model_ = std::move(model); }
  const FeatureCacheStats& cache_stats() const { return stats_; }
  const PromptStats& prompt_stats() const { return prompt_stats_; }
  const std::string& fingerprint() const { return vision_fingerprint_; }
  void set_disk_cache(bool enabled) { disk_cache_enabled_ = enabled; }
  void clear_memory_cache() { memory_.clear(); }

 private:
  struct Item;
  // `count`: a memory hit counts in the statistics (lookups to size a
  // prompt do not).
  const ImageEntry& lookup(const std::string& path, bool count);
  void run_items(std::vector<Item>& items, const EvalOptions& options, int* done, int total);
  // Token rows left padded, with the features of `images` ("" = none), in order.
  LlavaInputs batch_inputs(const std::vector<const std::vector<int64_t>*>& rows, const std::vector<std::string>& images,
                           const EvalOptions& options);
  // Logits [B, V] at the last position of these items' prompts.
  torch::Tensor batch_logits(const std::vector<Item*>& batch, const EvalOptions& options);
  torch::Tensor shared_prefix_logits(const std::vector<Item*>& batch, const EvalOptions& options);

  LlavaModel model_;
  const Tokenizer& tokenizer_;
  PreprocessorConfig preprocessor_;
  std::string cache_dir_;
  bool disk_cache_enabled_ = true;
  std::string vision_fingerprint_;
  std::map<std::string, ImageEntry> memory_;
  FeatureCacheStats stats_;
  PromptStats prompt_stats_;
  PromptFormat format_;
  int64_t yes_id_ = -1, no_id_ = -1;
  std::vector<int64_t> letter_ids_;
};

// Hash of the vision tower, projector (Qwen2.5-VL: `visual`, merger
// included) and image preprocessing: what image features depend on.
std::string vision_fingerprint(LlavaModel& model, const PreprocessorConfig& preprocessor);

}  // namespace hipp
