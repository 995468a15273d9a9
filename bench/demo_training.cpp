// Where a demo training step spends its time: drawing examples (scene
// rendering, tokenization, preprocessing) against the forward and backward
// passes, for a few batch shapes. Prints a table.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <torch/torch.h>

#include "core/threads.h"
#include "data/synthetic.h"
#include "demo/trainer.h"
#include "model/presets.h"
#include "model/prompt.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tokenizer_path = argc > 1 ? argv[1] : "";
  hipp::use_threads(argc > 2 ? std::atoi(argv[2]) : 0);
  if (tokenizer_path.empty()) {
    std::fprintf(stderr, "usage: bench_demo_training TOKENIZER_MODEL [THREADS] (e.g. DEMO/model/tokenizer.model)\n");
    return 2;
  }
  auto tokenizer = hipp::Tokenizer::load(tokenizer_path);
  auto config = hipp::preset_config("tiny", tokenizer.vocab_size(), tokenizer.piece_id("<image>"));
  hipp::LlavaModel model(config, torch::TensorOptions());
  hipp::init_random(model, 1);
  const auto preprocessor = hipp::clip_preprocessor(config.vision.image_size);
  std::printf("threads %d\n%-8s %-8s %10s %12s %12s\n", torch::get_num_threads(), "batch", "micro", "tokens", "draw s",
              "step s");
  for (int micro : {16, 32, 64}) {
    hipp::DemoTrainingOptions options;
    options.batch_size = 64;
    options.micro_batch = micro;
    options.steps = 5;
    options.warmup_steps = 1;
    options.log_every = 1000;
    hipp::SceneRandom random(3);
    auto start = std::chrono::steady_clock::now();
    int64_t tokens = 0;
    for (int i = 0; i < 64 * 5; ++i)
      tokens +=
          static_cast<int64_t>(hipp::draw_example(random, tokenizer, config, options.mix, options.scene).ids.size());
    const double draw = seconds_since(start) / 5;
    start = std::chrono::steady_clock::now();
    hipp::train_demo_model(model, tokenizer, preprocessor, options);
    const double step = seconds_since(start) / 5;
    std::printf("%-8d %-8d %10.1f %12.3f %12.3f\n", 64, micro, tokens / 5.0 / 64, draw, step);
  }
  return 0;
}
