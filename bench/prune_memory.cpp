// What a plan's model costs in memory beside the dense model: built as a copy
// of its kept weights (apply_blueprint, the tensors pruning leaves alone
// shared) and as views of the dense model's units reordered in place
// (prune_in_place, what plan evaluation uses). Prints the process's resident
// memory after loading and while each plan's model is alive, as a multiple
// of the dense weights' bytes (on a GPU the same tensors live in GPU memory).
//
//   bench_prune_memory MODEL_DIR [--dtype bf16|f32] [--sparsity S ...]
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/threads.h"
#include "model/checkpoint.h"
#include "model/fingerprint.h"
#include "prune/apply.h"

namespace {

// Resident memory of this process, in bytes (VmRSS).
double resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024.0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_prune_memory MODEL_DIR [--dtype bf16|f32] [--sparsity S ...]\n");
    return 2;
  }
  hipp::use_threads(0);
  hipp::LoadOptions load;
  load.dtype = torch::kBFloat16;
  std::vector<double> sparsities;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dtype" && i + 1 < argc) {
      load.dtype = hipp::parse_dtype(argv[++i]);
    } else if (arg == "--sparsity" && i + 1 < argc) {
      sparsities.push_back(std::stod(argv[++i]));
    } else {
      std::fprintf(stderr, "bench_prune_memory: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  if (sparsities.empty()) sparsities = {0.2, 0.5};
  try {
    const double start = resident_bytes();
    auto model = hipp::load_llava(argv[1], load);
    double weights = 0;
    for (const auto& p : model->parameters()) weights += static_cast<double>(p.numel() * p.element_size());
    const double loaded = resident_bytes();
    const auto fingerprint = hipp::model_fingerprint(model);
    const auto importance =
        hipp::compute_importance(model, hipp::Structure::MlpChannels, hipp::ImportanceMethod::Magnitude, nullptr);
    std::printf("%s: %.2f GB of weights (%s); resident %.2f GB before loading, %.2f GB loaded\n\n", argv[1],
                weights / 1e9, torch::toString(load.dtype), start / 1e9, loaded / 1e9);
    std::printf("%-10s %-34s %14s %22s\n", "s", "plan's model", "resident GB", "x dense weights (added)");
    for (double s : sparsities) {
      hipp::PlanRequest request;
      request.sparsity = s;
      request.importance = hipp::ImportanceMethod::Magnitude;
      const auto blueprint = hipp::make_blueprint(model->config(), fingerprint, request);
      auto row = [&](const char* what, double resident) {
        std::printf("%-10.2f %-34s %14.2f %13.3f (+%.3f)\n", s, what, resident / 1e9, resident / weights,
                    (resident - loaded) / weights);
      };
      {
        auto copy =
            hipp::apply_blueprint(model, fingerprint, blueprint, importance, hipp::WeightSharing::ShareUnchanged);
        row("copy of the kept weights", resident_bytes());
      }
      {
        auto in_place = hipp::prune_in_place(model, fingerprint, blueprint, importance);
        row("views of reordered units", resident_bytes());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_prune_memory: %s\n", e.what());
    return 1;
  }
  return 0;
}
