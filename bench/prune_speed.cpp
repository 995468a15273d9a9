// What structured pruning buys and costs on this machine.
//
//   bench_prune                       a LLaVA-7B-shaped stack of decoder layers
//                                     with random weights: parameter, FLOP and
//                                     measured latency ratios at s = 0.3/0.5/0.7
//   bench_prune MODEL_DIR BENCH_DIR   the same for a real model folder, plus POPE
//                                     and ScienceQA on the full test set under
//                                     uniform and OWL allocation (wanda-sp)
//
// Latency: median of repeated forward passes after a warm-up. "share of ideal"
// is the measured speedup divided by the FLOP speedup.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/threads.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "model/fingerprint.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "prune/apply.h"
#include "prune/cost.h"

namespace {

template <typename F>
double median_ms(int repeats, F&& run) {
  run();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Language-model forward only (image features are cached in real searches).
double decoder_ms(hipp::LlavaModel& model, int64_t tokens, int64_t batch, int repeats) {
  const auto& c = model->config();
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(4, c.text.vocab_size, {batch, tokens}, torch::kInt64);
  ids.masked_fill_(ids == c.image_token_index, 4);
  return median_ms(repeats, [&] {
    hipp::LlavaInputs inputs;
    inputs.input_ids = ids;
    hipp::ForwardOptions forward;
    forward.last_position_only = true;
    model->forward(inputs, forward);
  });
}

void speed_table(hipp::LlavaModel& dense, const std::string& label, int64_t tokens, int64_t batch, int repeats) {
  const auto fp = hipp::model_fingerprint(dense);
  const auto importance =
      hipp::compute_importance(dense, hipp::Structure::MlpChannels, hipp::ImportanceMethod::Magnitude, nullptr);
  const auto before = hipp::model_cost(dense->config(), tokens);
  const double dense_ms = decoder_ms(dense, tokens, batch, repeats);
  std::printf("\n%s, %lld tokens x batch %lld, %d repeats\n", label.c_str(), static_cast<long long>(tokens),
              static_cast<long long>(batch), repeats);
  std::printf("%6s %12s %11s %11s %12s %13s %14s\n", "s", "decoder MP", "param ratio", "FLOP ratio", "median ms",
              "latency ratio", "share of ideal");
  std::printf("%6s %12.2f %11.3f %11.3f %12.1f %13.3f %14s\n", "dense", before.decoder_params() / 1e6, 1.0, 1.0,
              dense_ms, 1.0, "-");
  for (double s : {0.3, 0.5, 0.7}) {
    hipp::PlanRequest request;
    request.sparsity = s;
    request.importance = hipp::ImportanceMethod::Magnitude;
    const auto bp = hipp::make_blueprint(dense->config(), fp, request);
    auto pruned = hipp::apply_blueprint(dense, fp, bp, importance);
    const auto after = hipp::model_cost(pruned->config(), tokens);
    const double ms = decoder_ms(pruned, tokens, batch, repeats);
    const double flop_ratio = after.decoder_flops / before.decoder_flops;
    const double latency_ratio = ms / dense_ms;
    std::printf("%6.1f %12.2f %11.3f %11.3f %12.1f %13.3f %13.0f%%\n", s, after.decoder_params() / 1e6,
                static_cast<double>(after.decoder_params()) / static_cast<double>(before.decoder_params()), flop_ratio,
                ms, latency_ratio, 100.0 * (1.0 / latency_ratio) / (1.0 / flop_ratio));
  }
}

void quality_table(hipp::ModelFolder& folder, const std::string& bench_dir) {
  auto& model = folder.model;
  const auto fp = hipp::model_fingerprint(model);
  const auto benchmark = hipp::load_benchmark(bench_dir);
  hipp::Evaluator evaluator(model, folder.tokenizer, folder.preprocessor);
  const auto sqa = hipp::read_scienceqa(bench_dir + "/scienceqa");
  const auto stats = hipp::collect_calibration(evaluator, model, folder.tokenizer, sqa);
  const auto importance =
      hipp::compute_importance(model, hipp::Structure::MlpChannels, hipp::ImportanceMethod::WandaSp, &stats);
  const auto outliers = hipp::layer_outlier_ratios(model, stats);
  std::printf("\nquality on the full test set (wanda-sp, calibration %s)\n", stats.fingerprint.c_str());
  std::printf("%-8s %5s %7s %7s %7s %7s %7s %7s %7s %7s %7s\n", "alloc", "s", "F1 rnd", "F1 pop", "F1 adv", "yes rnd",
              "yes pop", "yes adv", "SQA", "IMG", "text");
  auto row = [&](const std::string& name, double s, const hipp::BenchmarkResult& r) {
    auto pope = [&](const char* split, bool f1) {
      auto it = r.pope.find(split);
      return it == r.pope.end() ? -1.0 : (f1 ? it->second.f1 : it->second.yes_ratio);
    };
    std::printf("%-8s %5.1f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f %7.3f\n", name.c_str(), s,
                pope("random", true), pope("popular", true), pope("adversarial", true), pope("random", false),
                pope("popular", false), pope("adversarial", false), r.sqa.accuracy, r.sqa.image_accuracy,
                r.sqa.no_image_accuracy);
  };
  row("dense", 0, evaluator.evaluate(benchmark));
  for (const std::string alloc : {"uniform", "owl"})
    for (double s : {0.3, 0.5, 0.7}) {
      hipp::PlanRequest request;
      request.sparsity = s;
      request.importance = hipp::ImportanceMethod::WandaSp;
      request.calibration_fingerprint = stats.fingerprint;
      request.source = alloc;
      if (alloc == "owl") request.allocation = hipp::owl_allocation(outliers, s);
      const auto bp = hipp::make_blueprint(model->config(), fp, request);
      evaluator.set_model(hipp::apply_blueprint(model, fp, bp, importance));
      row(alloc, s, evaluator.evaluate(benchmark));
    }
  evaluator.set_model(model);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    torch::manual_seed(0);
    hipp::use_threads(0);
    std::printf("threads %d\n", torch::get_num_threads());
    if (argc == 3) {
      auto folder = hipp::load_model_folder(argv[1]);
      folder.model->eval();
      speed_table(folder.model, std::string("model ") + argv[1], folder.model->config().num_image_features() + 40, 16,
                  20);
      quality_table(folder, argv[2]);
      return 0;
    }
    // A LLaVA-7B-shaped stack: hidden 4096, MLP 11008, 32 heads, two layers,
    // with a tiny vocabulary and vision tower so the decoder layers dominate.
    auto big = hipp::preset_config("micro", 32, 3);
    big.text.hidden_size = 4096;
    big.text.intermediate_size = 11008;
    big.text.num_hidden_layers = 2;
    big.text.num_attention_heads = big.text.num_key_value_heads = 32;
    big.text.head_dim = 128;
    big.text.max_position_embeddings = 4096;
    big.text.layers.assign(2, {11008, 32, 32});
    hipp::LlavaModel stack(big, torch::TensorOptions());
    hipp::init_random(stack, 2);
    stack->eval();
    speed_table(stack, "LLaVA-7B-shaped stack (2 decoder layers, 4096/11008/32 heads)", 600, 1, 3);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_prune: %s\n", e.what());
    return 1;
  }
}
