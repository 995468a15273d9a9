#include "eval/benchmark.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "data/synthetic.h"

namespace hipp {
namespace fs = std::filesystem;

std::string Benchmark::pope_image_path(const PopeQuestion& q) const {
  return (fs::path(pope_image_dir) / q.image).string();
}

Benchmark load_benchmark(const std::string& dir, const std::string& sqa_split) {
  if (!fs::is_directory(dir)) throw Error(dir + ": benchmark folder not found");
  Benchmark b;
  b.dir = dir;
  const fs::path pope = fs::path(dir) / "pope";
  b.pope_image_dir = (pope / "images").string();
  for (const auto& split : pope_splits()) {
    auto questions = read_pope_file(find_pope_file(pope.string(), split), split);
    b.pope.insert(b.pope.end(), questions.begin(), questions.end());
  }
  b.sqa = read_scienceqa((fs::path(dir) / "scienceqa").string());
  b.sqa_eval = b.sqa.split(sqa_split);
  if (b.sqa_eval.empty())
    throw Error((fs::path(dir) / "scienceqa" / "pid_splits.json").string() + ": split '" + sqa_split +
                "' has no problems");
  return b;
}

namespace {

template <typename T, typename Pred>
std::vector<T> take(const std::vector<T>& items, Pred pred, int count, SceneRandom& random) {
  std::vector<T> matching;
  for (const auto& item : items)
    if (pred(item)) matching.push_back(item);
  random.shuffle(matching);
  if (static_cast<int>(matching.size()) > count) matching.resize(static_cast<size_t>(count));
  return matching;
}

}  // namespace

Benchmark search_subset(const Benchmark& full, const SubsetOptions& options) {
  Benchmark subset = full;
  subset.pope.clear();
  subset.sqa_eval.clear();
  SceneRandom random(options.seed + 12345);
  for (const auto& split : pope_splits())
    for (bool label : {true, false}) {
      const int count = label ? (options.pope_per_split + 1) / 2 : options.pope_per_split / 2;
      auto part = take(
          full.pope, [&](const PopeQuestion& q) { return q.split == split && q.label == label; }, count, random);
      subset.pope.insert(subset.pope.end(), part.begin(), part.end());
    }
  const int with_image = static_cast<int>(
      std::count_if(full.sqa_eval.begin(), full.sqa_eval.end(), [](const SqaProblem& p) { return p.has_image(); }));
  const int text_only = static_cast<int>(full.sqa_eval.size()) - with_image;
  const int total = with_image + text_only;
  int image_count = options.proportional && total > 0
                        ? static_cast<int>(std::lround(static_cast<double>(options.sqa) * with_image / total))
                        : options.sqa / 2;
  image_count = std::min(with_image, image_count);
  const int text_count = std::min(text_only, options.sqa - image_count);
  image_count = std::min(with_image, options.sqa - text_count);
  auto images = take(
      full.sqa_eval, [](const SqaProblem& p) { return p.has_image(); }, image_count, random);
  auto texts = take(
      full.sqa_eval, [](const SqaProblem& p) { return !p.has_image(); }, text_count, random);
  subset.sqa_eval = images;
  subset.sqa_eval.insert(subset.sqa_eval.end(), texts.begin(), texts.end());
  return subset;
}

}  // namespace hipp
