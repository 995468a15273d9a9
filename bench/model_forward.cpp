// Forward latency of the LLaVA model on this machine: the tiny preset at
// batch 1 and 16 (a 36-token image plus a short question), and one
// LLaVA-7B-shaped decoder layer (hidden 4096, MLP 11008, 32 heads) on 600
// tokens. Prints a table; medians of repeated runs after a warm-up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/threads.h"
#include "model/llava.h"
#include "model/presets.h"

namespace {

std::string blas_library() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    for (const char* name : {"libopenblas", "/libblas.so", "libmkl", "libblis"})
      if (line.find(name) != std::string::npos) return line.substr(line.find('/'));
  return "none found";
}

template <typename F>
double median_ms(int repeats, F&& run) {
  run();  // warm-up
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double forward_ms(hipp::LlavaModel& model, int64_t batch, int64_t tokens, bool with_images, int repeats) {
  const auto& c = model->config();
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(4, c.text.vocab_size, {batch, tokens}, torch::kInt64);
  auto pixels = torch::randn({batch, 3, c.vision.image_size, c.vision.image_size});
  if (with_images) ids.slice(1, 1, 1 + c.num_image_features()).fill_(c.image_token_index);
  return median_ms(repeats, [&] {
    hipp::LlavaInputs inputs;
    inputs.input_ids = ids;
    if (with_images) inputs.image_features = model->encode_images(pixels);
    model->forward(inputs);
  });
}

}  // namespace

int main() {
  torch::manual_seed(0);
  hipp::use_threads(0);
  std::printf("threads %d, BLAS %s\n\n", torch::get_num_threads(), blas_library().c_str());
  std::printf("%-44s %6s %7s %12s\n", "case", "batch", "tokens", "median ms");

  auto tiny_config = hipp::preset_config("tiny", 1024, 3);
  hipp::LlavaModel tiny(tiny_config, torch::TensorOptions());
  hipp::init_random(tiny, 1);
  tiny->eval();
  const int64_t tokens = tiny_config.num_image_features() + 20;
  for (int64_t batch : {1, 16})
    std::printf("%-44s %6lld %7lld %12.2f\n", "tiny preset, image + question (vision incl.)",
                static_cast<long long>(batch), static_cast<long long>(tokens),
                forward_ms(tiny, batch, tokens, true, 20));

  // One LLaVA-7B decoder layer: a one-layer model with a tiny vocabulary and
  // vision tower, so the decoder layer dominates.
  auto big = hipp::preset_config("micro", 32, 3);
  big.text.hidden_size = 4096;
  big.text.intermediate_size = 11008;
  big.text.num_hidden_layers = 1;
  big.text.num_attention_heads = big.text.num_key_value_heads = 32;
  big.text.head_dim = 128;
  big.text.max_position_embeddings = 4096;
  big.text.layers = {{11008, 32, 32}};
  hipp::LlavaModel layer(big, torch::TensorOptions());
  hipp::init_random(layer, 2);
  layer->eval();
  std::printf("%-44s %6d %7d %12.2f\n", "LLaVA-7B decoder layer (4096/11008/32 heads)", 1, 600,
              forward_ms(layer, 1, 600, false, 5));
  return 0;
}
