#include "support.h"

#include "core/error.h"
#include "data/synthetic.h"

#include <unistd.h>

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
