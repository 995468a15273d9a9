// Evaluation speed on the search subset: questions per second with a cold
// image-feature cache (every image through the vision tower) and a warm one,
// and the share of the cold run spent in the vision tower. Prints a table.
//   bench_eval_throughput MODEL_DIR BENCH_DIR
#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "core/threads.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/model_folder.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_eval_throughput MODEL_DIR BENCH_DIR\n");
    return 2;
  }
  hipp::use_threads(0);
  const std::filesystem::path model_dir(argv[1]);
  auto [tokenizer, preprocessor, model] = hipp::load_model_folder(model_dir.string());
  const auto subset = hipp::search_subset(hipp::load_benchmark(argv[2]));
  const double questions = static_cast<double>(subset.pope.size() + subset.sqa_eval.size());

  hipp::Evaluator evaluator(model, tokenizer, preprocessor);  // memory cache only
  const auto cold = evaluator.evaluate(subset);
  const double vision = evaluator.cache_stats().vision_seconds;
  const auto warm = evaluator.evaluate(subset);

  std::printf("threads %d, %d questions (search subset)\n\n", torch::get_num_threads(), static_cast<int>(questions));
  std::printf("%-30s %10s %14s %14s\n", "image-feature cache", "seconds", "questions/s", "vision share");
  std::printf("%-30s %10.2f %14.1f %13.0f%%\n", "cold (features computed)", cold.seconds, questions / cold.seconds,
              100.0 * vision / cold.seconds);
  std::printf("%-30s %10.2f %14.1f %13.0f%%\n", "warm (features cached)", warm.seconds, questions / warm.seconds, 0.0);
  return 0;
}
