#pragma once
// The synthetic scene world behind the embedded demo: small RGB images with a
// few objects from 16 COCO-like categories, each drawn as its own glyph
// (unique colour and shape). Scenes follow themes (street, farm, kitchen,
// home), so categories co-occur as in real photos and POPE's adversarial
// negatives mean something. From scenes come POPE questions by the official
// sampling rules, ScienceQA-format problems (image and text-only) and
// LLaVA-style conversations. Torch-free.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/pope.h"
#include "data/scienceqa.h"
#include "model/image.h"

namespace hipp {

struct SceneCategory {
  std::string name;
  std::string kind;  // "animal", "vehicle", ... : category knowledge for text questions
  uint8_t r, g, b;
  int shape;
};
const std::vector<SceneCategory>& scene_categories();
const std::vector<std::string>& scene_kinds();

struct SceneTheme {
  std::string name;
  std::vector<int> members;  // category indices
};
const std::vector<SceneTheme>& scene_themes();

struct SceneObject {
  int category = 0;
  int x = 0, y = 0;  // centre
  int size = 0;
};

struct Scene {
  int theme = 0;
  std::vector<SceneObject> objects;  // sorted left to right
  Image image;

  bool contains(int category) const;
  // "dog, cat and horse": object names from left to right.
  std::string caption() const;
};

// Deterministic random source (same sequence on every platform).
class SceneRandom {
 public:
  explicit SceneRandom(uint64_t seed) : engine_(seed) {}
  int below(int n) { return static_cast<int>(engine_() % static_cast<uint64_t>(n)); }
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  bool chance(double p) { return uniform() < p; }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[static_cast<size_t>(below(static_cast<int>(i)))]);
  }

 private:
  std::mt19937_64 engine_;
};

struct SceneOptions {
  int image_size = 48;
  int min_objects = 2;
  int max_objects = 4;
  double off_theme = 0.15;  // chance that an object comes from another theme
};

Scene make_scene(SceneRandom& random, const SceneOptions& options);
// A uniform grey image of the same size (the "does it really look" check).
Image blank_image(int size);

// ---- questions ----------------------------------------------------------------

// POPE's sampling for one image: `positives` present categories and as many
// absent ones, alternating yes/no. `frequency` is each category's count over
// the annotations and `cooccurrence[a][b]` how often a and b share an image.
// random: absent categories uniformly; popular: the most frequent absent ones;
// adversarial: the absent ones co-occurring most with the present ones.
std::vector<int> pope_negatives(const Scene& scene, const std::string& split, int count,
                                const std::vector<int>& frequency, const std::vector<std::vector<int>>& cooccurrence,
                                SceneRandom& random);

std::string pope_question_text(int category);

// A ScienceQA-format problem about a scene (pid and split left to the caller).
SqaProblem image_problem(const Scene& scene, SceneRandom& random);
// A text-only ScienceQA-format problem answered from the demo's body of
// knowledge (data/knowledge.h): the kind or place of a named thing, or which
// of the options is of a kind or found in a place.
SqaProblem text_problem(SceneRandom& random);

// ---- the benchmark on disk ------------------------------------------------------

struct SyntheticBenchmarkOptions {
  uint64_t seed = 20261127;
  SceneOptions scene;
  int pope_images = 150;  // test images; 6 questions each, every split
  int sqa_train = 600, sqa_val = 200, sqa_test = 600;
  // One ScienceQA problem in this many has an image; the rest are text-only
  // knowledge problems (0 = none with an image).
  int sqa_image_every = 3;
  int instruction_conversations = 1000;
};

// Writes BENCH_DIR/pope (images + coco_pope_{split}.json), BENCH_DIR/scienceqa
// (problems.json, pid_splits.json, images/<split>/<pid>/image.png) and
// BENCH_DIR/instruct (llava_instruct.json + images). Every split draws its
// scenes from its own random stream, so no image is shared across splits.
void write_synthetic_benchmark(const std::string& dir, const SyntheticBenchmarkOptions& options);

// Every text the generator can produce, for training the tokenizer.
std::vector<std::string> synthetic_corpus(uint64_t seed, int samples);

}  // namespace hipp
