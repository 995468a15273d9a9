#include "support.h"

#include "core/error.h"
#include "data/synthetic.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sys/wait.h>

#include "model/presets.h"

namespace hipp::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  static int counter = 0;
  std::random_device rd;
  path_ = (fs::temp_directory_path() /
           ("hipp-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd())))
              .string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

LlavaConfig micro_config(int64_t vocab_size, int64_t image_token_index) {
  return preset_config("micro", vocab_size, image_token_index);
}

LlavaModel micro_model(uint64_t seed, const LlavaConfig& config) {
  LlavaModel model(config, torch::TensorOptions().dtype(torch::kFloat32));
  init_random(model, seed);
  model->eval();
  return model;
}

torch::Tensor image_logits(LlavaModel& model, const torch::Tensor& ids, const torch::Tensor& pixels) {
  torch::NoGradGuard no_grad;
  LlavaInputs inputs;
  inputs.input_ids = ids;
  inputs.image_features = model->encode_images(pixels);
  return model->forward(inputs);
}

namespace {

std::pair<torch::Tensor, torch::Tensor> padded_rows(const std::vector<std::vector<int64_t>>& rows) {
  size_t longest = 0;
  for (const auto& row : rows) longest = std::max(longest, row.size());
  auto ids = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(longest)}, torch::kInt64);
  auto mask = torch::zeros_like(ids);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].empty()) continue;
    const auto pad = static_cast<int64_t>(longest - rows[i].size());
    ids[static_cast<int64_t>(i)].slice(0, pad).copy_(torch::tensor(rows[i], torch::kInt64));
    mask[static_cast<int64_t>(i)].slice(0, pad).fill_(1);
  }
  return {ids, mask};
}

}  // namespace

double prefix_sharing_error(LlavaModel& model, const std::vector<PromptPrefix>& prefixes,
                            const std::vector<std::pair<int64_t, std::vector<int64_t>>>& suffixes) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<int64_t>> prefix_ids, suffix_ids;
  std::vector<torch::Tensor> features;
  LlavaInputs prefix_inputs;
  for (const auto& p : prefixes) {
    prefix_ids.push_back(p.ids);
    if (p.features.defined()) features.push_back(p.features.reshape({-1, p.features.size(-1)}));
    prefix_inputs.image_grids.insert(prefix_inputs.image_grids.end(), p.grids.begin(), p.grids.end());
  }
  std::tie(prefix_inputs.input_ids, prefix_inputs.attention_mask) = padded_rows(prefix_ids);
  if (!features.empty()) prefix_inputs.image_features = torch::cat(features);
  const auto cache = model->encode_prefixes(prefix_inputs);

  std::vector<int64_t> rows;
  for (const auto& [row, ids] : suffixes) {
    rows.push_back(row);
    suffix_ids.push_back(ids);
  }
  LlavaInputs suffix_inputs;
  std::tie(suffix_inputs.input_ids, suffix_inputs.attention_mask) = padded_rows(suffix_ids);
  const auto shared = model->forward_after_prefixes(cache, torch::tensor(rows, torch::kInt64), suffix_inputs);
  double worst = 0;
  for (size_t i = 0; i < suffixes.size(); ++i) {
    const auto& prefix = prefixes[static_cast<size_t>(suffixes[i].first)];
    auto whole_ids = prefix.ids;
    whole_ids.insert(whole_ids.end(), suffixes[i].second.begin(), suffixes[i].second.end());
    LlavaInputs whole;
    whole.input_ids = torch::tensor(whole_ids, torch::kInt64).unsqueeze(0);
    if (prefix.features.defined()) whole.image_features = prefix.features.reshape({-1, prefix.features.size(-1)});
    whole.image_grids = prefix.grids;
    const auto expected = model->forward(whole)[0];
    const auto n = static_cast<int64_t>(suffixes[i].second.size());
    const auto got = shared[static_cast<int64_t>(i)].slice(0, shared.size(1) - n);
    worst = std::max(worst, (got - expected.slice(0, expected.size(0) - n)).abs().max().item<double>());
  }
  return worst;
}

torch::Tensor random_ids(int64_t batch, int64_t tokens, int64_t vocab, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randint(4, vocab, {batch, tokens}, generator, torch::kInt64);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

StudyRecord sample_study() {
  StudyRecord r;
  r.model_dir = "/models/demo";
  r.model_fingerprint = "fp-model";
  r.bench_dir = "/bench/demo";
  r.bench_fingerprint = "fp-bench";
  r.settings = {{"importance", "wanda-sp"}};
  r.dense = {{"search", {{"pope_mean_f1", 0.9}}}};
  r.created = 1700000000;
  return r;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

int run_command(const std::string& command, std::string* output) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buffer;
  output->clear();
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output->append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cli(const std::string& args, std::string* output) {
  return run_command(std::string(HIPP_CLI_PATH) + " " + args, output);
}

void write_micro_benchmark(const std::string& dir, int pope_images, int sqa_train, int sqa_test,
                           int instruction_conversations) {
  SyntheticBenchmarkOptions options;
  options.pope_images = pope_images;
  options.sqa_train = sqa_train;
  options.sqa_val = 2;
  options.sqa_test = sqa_test;
  options.instruction_conversations = instruction_conversations;
  options.scene.image_size = 32;
  write_synthetic_benchmark(dir, options);
}

}  // namespace hipp::test
