// Recovery fine-tuning on a model and its benchmark (the demo by default):
//   bench_finetune MODEL_DIR BENCH_DIR [--sparsity S] [--steps N[,N...]] [--lr X] [--rank R]
// prunes with the uniform allocation at sparsity S (default 0.5), scores the
// pruned model on the full test sets, fine-tunes it with LoRA on the
// benchmark's instruction data for each N steps (default 150), and prints
// POPE mean F1, ScienceQA accuracy, the share of each drop recovered, and the
// wall time of training, for the dense, pruned and fine-tuned models.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <unistd.h>

#include <torch/torch.h>

#include "core/threads.h"
#include "finetune/job.h"
#include "search/plan_evaluator.h"

namespace fs = std::filesystem;

namespace {

struct Row {
  double f1 = 0, sqa = 0, img = 0, text = 0;
};

Row row_of(const nlohmann::json& raw) {
  return {raw["pope_mean_f1"].get<double>(), raw["scienceqa"]["accuracy"].get<double>(),
          raw["scienceqa"]["image_accuracy"].get<double>(), raw["scienceqa"]["no_image_accuracy"].get<double>()};
}

void print_row(const std::string& name, const Row& r, const std::string& extra) {
  std::printf("%-22s %12.4f %10.4f %8.4f %8.4f  %s\n", name.c_str(), r.f1, r.sqa, r.img, r.text, extra.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: bench_finetune MODEL_DIR BENCH_DIR [--sparsity S] [--steps N[,N...]] [--lr X] [--rank R]\n");
    return 2;
  }
  try {
    hipp::use_threads(0);
    double sparsity = 0.5;
    std::vector<int> steps = {150};
    hipp::FinetuneSettings base;
    for (int i = 3; i + 1 < argc; i += 2) {
      const std::string flag = argv[i];
      if (flag == "--sparsity") {
        sparsity = std::stod(argv[i + 1]);
      } else if (flag == "--steps") {
        steps.clear();
        std::stringstream list(argv[i + 1]);
        for (std::string item; std::getline(list, item, ',');) steps.push_back(std::stoi(item));
      } else if (flag == "--lr") {
        base.lr = std::stod(argv[i + 1]);
      } else if (flag == "--rank") {
        base.lora.rank = std::stoll(argv[i + 1]);
      } else {
        std::fprintf(stderr, "bench_finetune: unknown option %s\n", flag.c_str());
        return 2;
      }
    }
    const fs::path dir = fs::temp_directory_path() / ("hipp-bench-finetune-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string study = (dir / "study.sqlite").string();
    hipp::StudySettings settings;
    hipp::create_study(study, argv[1], argv[2], settings, {}, "");
    int64_t parent = 0;
    Row dense, pruned;
    {
      auto store = hipp::open_study_store(study);
      hipp::StudySession session(*store, {}, "");
      hipp::PlanEvaluator evaluator(session);
      const auto plan =
          session.plan(sparsity, std::vector<double>(session.layers(), 1.0 / session.layers()), "uniform");
      const auto outcome = evaluator.evaluate(plan, "uniform", std::nullopt, hipp::Subset::Full);
      if (outcome.failed) throw std::runtime_error(outcome.error);
      parent = outcome.trial_id;
      dense = row_of(store->study().dense["full"]);
      pruned = row_of(outcome.metrics.raw);
    }
    std::printf("recovery fine-tuning: uniform plan at s = %.2f, LoRA rank %lld, lr %.1e, batch %d, full test sets\n",
                sparsity, static_cast<long long>(base.lora.rank), base.lr, base.batch_size);
    std::printf("%-22s %12s %10s %8s %8s  %s\n", "model", "POPE mean F1", "ScienceQA", "IMG", "text", "notes");
    print_row("dense", dense, "");
    print_row("pruned", pruned, "");
    for (int n : steps) {
      hipp::FinetuneJob job;
      job.study = study;
      job.trial = parent;
      job.settings = base;
      job.settings.steps = n;
      job.settings.checkpoint_every = 0;
      job.out_dir = (dir / ("ft-" + std::to_string(n))).string();
      const auto start = std::chrono::steady_clock::now();
      const auto result = hipp::run_finetune_job(job);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const Row r = row_of(result.child.metrics->raw);
      auto share = [](double d, double p, double f) { return d - p > 1e-9 ? (f - p) / (d - p) : 0.0; };
      char notes[200];
      std::snprintf(notes, sizeof notes, "recovered F1 %.0f%%, SQA %.0f%%; training %.0f s, job %.0f s",
                    100 * share(dense.f1, pruned.f1, r.f1), 100 * share(dense.sqa, pruned.sqa, r.sqa),
                    result.training.seconds, wall);
      print_row("fine-tuned " + std::to_string(n) + " steps", r, notes);
    }
    fs::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_finetune: %s\n", e.what());
    return 1;
  }
  return 0;
}
