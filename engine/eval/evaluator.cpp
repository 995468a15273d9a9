#include "eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"
#include "data/synthetic.h"
#include "eval/answers.h"
#include "model/model_folder.h"
#include "model/prompt.h"
#include "model/tensor_io.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

int64_t first_piece(const Tokenizer& tokenizer, const std::string& text) {
  const auto ids = tokenizer.encode(text);
  if (ids.empty()) throw Error("tokenizer gives no piece for '" + text + "'");
  return ids[0];
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open image");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string vision_fingerprint(LlavaModel& model, const PreprocessorConfig& p) {
  ContentHash hash;
  const auto& c = model->config();
  hash.add(std::to_string(c.vision_feature_layer) + c.vision_feature_select_strategy);
  hash.add(&p.shortest_edge, sizeof p.shortest_edge);
  hash.add(&p.crop_height, sizeof p.crop_height);
  hash.add(&p.crop_width, sizeof p.crop_width);
  hash.add(p.image_mean.data(), sizeof(double) * 3);
  hash.add(p.image_std.data(), sizeof(double) * 3);
  const bool flags[] = {p.do_resize, p.do_center_crop, p.do_rescale, p.do_normalize};
  hash.add(flags, sizeof flags);
  hash.add(&p.rescale_factor, sizeof p.rescale_factor);
  // The resampling algorithm: features cached under an older one are not reused.
  hash.add(std::string("resample: antialiased bicubic, torchvision order"));
  if (p.kind == PreprocessorConfig::Kind::QwenVl) {
    const int64_t q[] = {p.min_pixels, p.max_pixels, p.patch_size, p.temporal_patch_size, p.merge_size};
    hash.add(q, sizeof q);
  }
  // Every part but the language model, in registration order.
  for (const auto& part : model->named_children()) {
    if (part.key() == "language_model") continue;
    for (const auto& t : part.value()->named_parameters()) {
      hash.add(t.key());
      auto values = t.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
      hash.add(values.data_ptr(), static_cast<size_t>(values.numel()) * sizeof(float));
    }
  }
  return hash.hex();
}

// One question: its prompt, the image it needs, and the tokens it chooses among.
struct Evaluator::Item {
  std::vector<int64_t> ids;
  std::string image;                // path, "" = text-only
  std::vector<int64_t> candidates;  // token ids; the prediction is the best of them
  int prediction = -1;
  std::string prompt;
};

Evaluator::Evaluator(LlavaModel model, const Tokenizer& tokenizer, PreprocessorConfig preprocessor,
                     std::string cache_dir)
    : model_(std::move(model)), tokenizer_(tokenizer), preprocessor_(preprocessor), cache_dir_(std::move(cache_dir)) {
  check_preprocessor(model_->config(), preprocessor_, "the image preprocessing");
  format_ = prompt_format(model_->config());
  torch::NoGradGuard no_grad;
  vision_fingerprint_ = vision_fingerprint(model_, preprocessor_);
  yes_id_ = first_piece(tokenizer_, "Yes");
  no_id_ = first_piece(tokenizer_, "No");
  if (yes_id_ == no_id_) throw Error("tokenizer: 'Yes' and 'No' share their first piece");
  for (char letter = 'A'; letter <= 'Z'; ++letter)
    letter_ids_.push_back(first_piece(tokenizer_, std::string(1, letter)));
}

const Evaluator::ImageEntry& Evaluator::lookup(const std::string& path, bool count) {
  std::string bytes;
  std::string key = "blank";
  if (!path.empty()) {
    bytes = read_file_bytes(path);
    key = hash_hex(bytes);
  }
  if (auto it = memory_.find(key); it != memory_.end()) {
    if (count) ++stats_.memory_hits;
    return it->second;
  }
  const bool use_disk = disk_cache_enabled_ && !cache_dir_.empty();
  const fs::path disk_path = fs::path(cache_dir_) / vision_fingerprint_ / (key + ".safetensors");
  if (use_disk && fs::exists(disk_path)) {
    try {
      const auto header = read_safetensors_header(disk_path.string());
      const auto* entry = header.find("features");
      const auto* grid_entry = header.find("grid");
      if (entry) {
        auto features = read_tensor(header, *entry);
        PatchGrid grid{1, 1, 1};  // entries written before grids were stored: LLaVA's
        if (grid_entry) {
          auto g = read_tensor(header, *grid_entry);
          if (g.scalar_type() == torch::kInt64 && g.numel() == 3)
            grid = {g[0].item<int64_t>(), g[1].item<int64_t>(), g[2].item<int64_t>()};
          else
            grid = {};
        }
        // Only an entry of this model's shape, in float32 and finite, is used:
        // anything else (a damaged or foreign file) is recomputed below.
        const bool grid_ok = grid.t > 0 && grid.h > 0 && grid.w > 0;
        if (grid_ok) {
          const std::vector<int64_t> expected{model_->image_tokens(grid), model_->config().text.hidden_size};
          if (features.sizes().vec() == expected && features.scalar_type() == torch::kFloat32 &&
              torch::isfinite(features).all().item<bool>()) {
            ++stats_.disk_hits;
            return memory_[key] = ImageEntry{features, grid};
          }
        }
      }
    } catch (const Error&) {
      // A damaged cache file is recomputed and replaced below.
    }
  }
  const Image image = path.empty() ? blank_image(static_cast<int>(preprocessor_.crop_width))
                                   : decode_image(std::vector<uint8_t>(bytes.begin(), bytes.end()), path);
  const PreparedImage prepared = prepare_image(image, preprocessor_);
  const auto start = std::chrono::steady_clock::now();
  ImageEntry result;
  result.grid = grid_of(prepared);
  {
    torch::NoGradGuard no_grad;
    result.features = model_->encode_prepared({&prepared}).to(torch::kCPU, torch::kFloat32).contiguous();
  }
  stats_.vision_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++stats_.computed;
  if (use_disk) {
    std::error_code ignored;
    fs::create_directories(disk_path.parent_path(), ignored);
    try {
      const auto grid = torch::tensor(std::vector<int64_t>{result.grid.t, result.grid.h, result.grid.w});
      write_safetensors(disk_path.string(), {{"features", result.features}, {"grid", grid}});
    } catch (const Error&) {
      // The cache is an optimisation: a read-only or full disk is not an error.
    }
  }
  return memory_[key] = std::move(result);
}

namespace {

// Left-padded ids and mask [B, T] of token rows.
std::pair<torch::Tensor, torch::Tensor> left_padded(const std::vector<const std::vector<int64_t>*>& rows) {
  size_t longest = 0;
  for (const auto* row : rows) longest = std::max(longest, row->size());
  const auto b = static_cast<int64_t>(rows.size());
  auto ids = torch::zeros({b, static_cast<int64_t>(longest)}, torch::kInt64);
  auto mask = torch::zeros({b, static_cast<int64_t>(longest)}, torch::kInt64);
  for (int64_t i = 0; i < b; ++i) {
    const auto& row = *rows[static_cast<size_t>(i)];
    const auto pad = static_cast<int64_t>(longest - row.size());
    if (row.empty()) continue;
    ids[i].slice(0, pad).copy_(torch::tensor(row, torch::kInt64));
    mask[i].slice(0, pad).fill_(1);
  }
  return {ids, mask};
}

}  // namespace

LlavaInputs Evaluator::batch_inputs(const std::vector<const std::vector<int64_t>*>& rows,
                                    const std::vector<std::string>& images, const EvalOptions& options) {
  const auto device = model_->options().device();
  std::vector<torch::Tensor> features;
  LlavaInputs inputs;
  for (const auto& image : images) {
    if (image.empty()) continue;
    const auto& entry = image_entry(options.blank_images ? "" : image);
    features.push_back(entry.features);
    inputs.image_grids.push_back(entry.grid);
  }
  auto [ids, mask] = left_padded(rows);
  inputs.input_ids = ids.to(device);
  inputs.attention_mask = mask.to(device);
  if (!features.empty()) inputs.image_features = torch::cat(features).to(device);
  return inputs;
}

torch::Tensor Evaluator::batch_logits(const std::vector<Item*>& batch, const EvalOptions& options) {
  std::vector<const std::vector<int64_t>*> rows;
  std::vector<std::string> images;
  for (const auto* item : batch) {
    rows.push_back(&item->ids);
    images.push_back(item->image);
  }
  ForwardOptions forward;
  forward.last_position_only = true;
  return model_->forward(batch_inputs(rows, images, options), forward).select(1, 0).to(torch::kCPU);  // [B, V]
}

torch::Tensor Evaluator::shared_prefix_logits(const std::vector<Item*>& batch, const EvalOptions& options) {
  // Each prompt splits after its last image token: the prefix (template and
  // image) is shared by the batch's questions on that image; the rest is
  // the question. Prompts without an image share the empty prefix.
  const int64_t image_token = format_.image_token;
  std::vector<std::vector<int64_t>> prefixes, suffixes(batch.size());
  std::vector<std::string> prefix_images;
  std::vector<int64_t> rows(batch.size());
  std::map<std::pair<std::string, std::vector<int64_t>>, int64_t> index;
  for (size_t i = 0; i < batch.size(); ++i) {
    const auto& ids = batch[i]->ids;
    size_t cut = 0;
    if (!batch[i]->image.empty())
      for (size_t k = 0; k < ids.size(); ++k)
        if (ids[k] == image_token) cut = k + 1;
    if (cut >= ids.size()) return batch_logits(batch, options);  // a prompt ends with its image
    std::vector<int64_t> prefix(ids.begin(), ids.begin() + static_cast<long>(cut));
    suffixes[i].assign(ids.begin() + static_cast<long>(cut), ids.end());
    const std::string image = cut > 0 ? batch[i]->image : std::string();
    auto [it, added] = index.try_emplace({image, prefix}, static_cast<int64_t>(prefixes.size()));
    if (added) {
      prefixes.push_back(std::move(prefix));
      prefix_images.push_back(image);
    }
    rows[i] = it->second;
  }
  int64_t saved = 0;
  for (const auto& prefix : prefixes) saved -= static_cast<int64_t>(prefix.size());
  for (size_t i = 0; i < batch.size(); ++i)
    saved += static_cast<int64_t>(prefixes[static_cast<size_t>(rows[i])].size());
  // Shared only where it pays: the two passes over padded rows (prefixes,
  // then every suffix reading its prefix's keys and values) must cost well
  // under one pass over the whole prompts (on the demo's CPU model the
  // second pass's copies of the keys and values make a smaller gain a loss).
  size_t longest_prefix = 0, longest_suffix = 0, longest = 0;
  for (const auto& prefix : prefixes) longest_prefix = std::max(longest_prefix, prefix.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    longest_suffix = std::max(longest_suffix, suffixes[i].size());
    longest = std::max(longest, batch[i]->ids.size());
  }
  const double two_passes = static_cast<double>(prefixes.size() * longest_prefix + batch.size() * longest_suffix);
  if (saved == 0 || two_passes > options.shared_prefix_cost * static_cast<double>(batch.size() * longest))
    return batch_logits(batch, options);
  prompt_stats_.tokens_saved += saved;

  std::vector<const std::vector<int64_t>*> prefix_rows, suffix_rows;
  for (const auto& prefix : prefixes) prefix_rows.push_back(&prefix);
  for (const auto& suffix : suffixes) suffix_rows.push_back(&suffix);
  const auto cache = model_->encode_prefixes(batch_inputs(prefix_rows, prefix_images, options));
  const auto suffix_inputs = batch_inputs(suffix_rows, std::vector<std::string>(suffixes.size()), options);
  ForwardOptions forward;
  forward.last_position_only = true;
  return model_->forward_after_prefixes(cache, torch::tensor(rows, torch::kInt64), suffix_inputs, forward)
      .select(1, 0)
      .to(torch::kCPU);
}

void Evaluator::run_items(std::vector<Item>& items, const EvalOptions& options, int* done, int total) {
  torch::NoGradGuard no_grad;
  // With shared prefixes, the questions on one image go into one batch.
  std::vector<size_t> order(items.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const bool share = options.shared_prefix_cost > 0;
  if (share)
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return items[a].image < items[b].image; });
  const size_t batch_size = static_cast<size_t>(std::max(1, options.batch_size));
  for (size_t start = 0; start < items.size(); start += batch_size) {
    if (options.cancel && options.cancel->load()) throw Cancelled();
    const size_t end = std::min(items.size(), start + batch_size);
    std::vector<Item*> batch;
    for (size_t i = start; i < end; ++i) {
      batch.push_back(&items[order[i]]);
      prompt_stats_.tokens += static_cast<int64_t>(items[order[i]].ids.size());
    }
    prompt_stats_.prompts += static_cast<int64_t>(batch.size());
    const auto logits = share ? shared_prefix_logits(batch, options) : batch_logits(batch, options);
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& item = *batch[i];
      auto scores = logits[static_cast<int64_t>(i)].index_select(0, torch::tensor(item.candidates, torch::kInt64));
      item.prediction = static_cast<int>(scores.argmax().item<int64_t>());
    }
    *done += static_cast<int>(end - start);
    if (options.progress) options.progress(*done, total);
  }
}

BenchmarkResult Evaluator::evaluate(const Benchmark& benchmark, const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  // An image's token count: fixed for LLaVA, its size's for Qwen2.5-VL
  // (the features are computed here, once per image, and cached).
  auto image_tokens = [&](const std::string& image) {
    return image.empty() ? int64_t{0} : lookup(options.blank_images ? "" : image, false).features.size(0);
  };

  std::vector<Item> pope_items;
  for (const auto& q : benchmark.pope) {
    Item item;
    item.prompt = chat_prompt(format_, q.text + kPopeInstruction, true);
    item.image = benchmark.pope_image_path(q);
    if (!fs::exists(item.image)) throw Error(item.image + ": POPE image not found");
    item.candidates = {yes_id_, no_id_};
    pope_items.push_back(std::move(item));
  }
  std::vector<Item> sqa_items;
  for (const auto& p : benchmark.sqa_eval) {
    Item item;
    item.prompt = chat_prompt(format_, sqa_prompt_text(p), p.has_image());
    if (p.has_image()) {
      item.image = benchmark.sqa.image_path(p);
      if (!fs::exists(item.image)) throw Error(item.image + ": ScienceQA image not found");
    }
    item.candidates.assign(letter_ids_.begin(), letter_ids_.begin() + static_cast<long>(p.choices.size()));
    sqa_items.push_back(std::move(item));
  }
  for (auto* items : {&pope_items, &sqa_items})
    for (auto& item : *items) {
      if (options.cancel && options.cancel->load()) throw Cancelled();
      item.ids = tokenize_prompt(tokenizer_, item.prompt, format_, image_tokens(item.image));
    }

  const int total = static_cast<int>(pope_items.size() + sqa_items.size());
  int done = 0;
  run_items(pope_items, options, &done, total);
  run_items(sqa_items, options, &done, total);

  BenchmarkResult result;
  std::map<std::string, PopeCounts> counts;
  for (size_t i = 0; i < pope_items.size(); ++i) {
    const bool yes = pope_items[i].prediction == 0;
    counts[benchmark.pope[i].split].add(yes, benchmark.pope[i].label);
    result.outcomes.pope[benchmark.pope[i].split] += pope_outcome(yes, benchmark.pope[i].label);
  }
  double f1_sum = 0;
  for (const auto& [split, c] : counts) {
    result.pope[split] = pope_metrics(c);
    f1_sum += result.pope[split].f1;
  }
  result.pope_mean_f1 = counts.empty() ? 0.0 : f1_sum / static_cast<double>(counts.size());
  SqaCounts sqa;
  for (size_t i = 0; i < sqa_items.size(); ++i) {
    const bool right = sqa_items[i].prediction == benchmark.sqa_eval[i].answer;
    sqa.add(right, benchmark.sqa_eval[i]);
    result.outcomes.sqa += sqa_outcome(right, benchmark.sqa_eval[i].has_image());
  }
  result.sqa = sqa_metrics(sqa);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (!options.answers_dir.empty()) {
    std::vector<bool> pope_yes;
    for (const auto& item : pope_items) pope_yes.push_back(item.prediction == 0);
    std::vector<int> sqa_choice;
    for (const auto& item : sqa_items) sqa_choice.push_back(item.prediction);
    write_answer_files(benchmark, pope_yes, sqa_choice, options.model_id, options.answers_dir);
  }
  return result;
}

}  // namespace hipp
