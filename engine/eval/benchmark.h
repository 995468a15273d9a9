#pragma once
// A benchmark folder: BENCH_DIR/pope (the three *_pope_{split}.json files and
// images/) and BENCH_DIR/scienceqa (problems.json, pid_splits.json, images/).
// Real POPE and ScienceQA files go in the same places. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "data/pope.h"
#include "data/scienceqa.h"

namespace hipp {

struct Benchmark {
  std::string dir;
  std::string pope_image_dir;
  std::vector<PopeQuestion> pope;  // every split
  SqaDataset sqa;
  std::vector<SqaProblem> sqa_eval;  // the evaluated split

  std::string pope_image_path(const PopeQuestion& q) const;
};

// Reads both benchmarks; `sqa_split` picks the ScienceQA split to evaluate.
Benchmark load_benchmark(const std::string& dir, const std::string& sqa_split = "test");

struct SubsetOptions {
  int pope_per_split = 100;  // half yes, half no
  int sqa = 300;
  uint64_t seed = 0;
  // ScienceQA's image and text-only problems in the evaluated split's
  // proportion, so that the subset's accuracy estimates the full set's
  // (false: half and half where possible, how studies made before this
  // option sampled, kept for them).
  bool proportional = true;
};

// The fixed, seeded search subset: the same questions for the same benchmark
// and options, stratified by POPE split and label and by ScienceQA modality.
Benchmark search_subset(const Benchmark& full, const SubsetOptions& options = {});

}  // namespace hipp
