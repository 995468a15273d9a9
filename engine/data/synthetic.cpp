#include "data/synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"
#include "data/knowledge.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

enum Shape { kDisc, kSquare, kTriangle, kRing, kCross, kDiamond, kBars, kHalfDisc };

std::string article(const std::string& word) {
  return std::string("aeiou").find(word[0]) != std::string::npos ? "an" : "a";
}

bool inside_shape(int shape, double dx, double dy, double r) {
  // dx, dy relative to the centre; r the half size.
  const double ax = std::abs(dx), ay = std::abs(dy), d = std::sqrt(dx * dx + dy * dy);
  switch (shape) {
    case kDisc:
      return d <= r;
    case kSquare:
      return ax <= r * 0.85 && ay <= r * 0.85;
    case kTriangle:
      return dy <= r * 0.8 && dy >= -r && ax <= (dy + r) * 0.55;
    case kRing:
      return d <= r && d >= r * 0.55;
    case kCross:
      return (ax <= r * 0.3 && ay <= r) || (ay <= r * 0.3 && ax <= r);
    case kDiamond:
      return ax + ay <= r;
    case kBars:
      return ay <= r * 0.9 && ax <= r && std::fmod(dy + r, r * 0.66) < r * 0.4;
    case kHalfDisc:
      return d <= r && dy >= -r * 0.1;
  }
  return false;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " and " : ", ";
    text += names[i];
  }
  return text;
}

const char* kCountWords[] = {"zero", "one", "two", "three", "four", "five", "six"};

}  // namespace

const std::vector<SceneCategory>& scene_categories() {
  static const std::vector<SceneCategory> categories = {
      {"person", "person", 220, 30, 30, kDisc},       {"car", "vehicle", 30, 60, 220, kSquare},
      {"bicycle", "vehicle", 30, 160, 50, kRing},     {"bus", "vehicle", 230, 200, 20, kBars},
      {"horse", "animal", 120, 70, 30, kTriangle},    {"cow", "animal", 20, 20, 20, kSquare},
      {"bird", "animal", 20, 190, 200, kDiamond},     {"dog", "animal", 240, 130, 20, kHalfDisc},
      {"cup", "container", 200, 40, 200, kRing},      {"bottle", "container", 20, 80, 30, kBars},
      {"apple", "food", 110, 10, 30, kDisc},          {"banana", "food", 130, 130, 20, kHalfDisc},
      {"chair", "furniture", 110, 40, 160, kCross},   {"couch", "furniture", 250, 150, 190, kSquare},
      {"table", "furniture", 0, 110, 110, kTriangle}, {"cat", "animal", 20, 20, 100, kCross},
  };
  return categories;
}

const std::vector<std::string>& scene_kinds() {
  static const std::vector<std::string> kinds = {"person", "vehicle", "animal", "container", "food", "furniture"};
  return kinds;
}

const std::vector<SceneTheme>& scene_themes() {
  static const std::vector<SceneTheme> themes = {
      {"street", {0, 1, 2, 3}}, {"farm", {4, 5, 6, 7}}, {"kitchen", {8, 9, 10, 11}}, {"home", {12, 13, 14, 15}}};
  return themes;
}

bool Scene::contains(int category) const {
  return std::any_of(objects.begin(), objects.end(), [&](const SceneObject& o) { return o.category == category; });
}

std::string Scene::caption() const {
  std::vector<std::string> names;
  for (const auto& o : objects) names.push_back(scene_categories()[static_cast<size_t>(o.category)].name);
  return join_names(names);
}

Scene make_scene(SceneRandom& random, const SceneOptions& options) {
  const auto& categories = scene_categories();
  const auto& themes = scene_themes();
  Scene scene;
  scene.theme = random.below(static_cast<int>(themes.size()));
  const int count = options.min_objects + random.below(options.max_objects - options.min_objects + 1);
  std::vector<int> chosen;
  while (static_cast<int>(chosen.size()) < count) {
    int category;
    if (random.chance(options.off_theme)) {
      category = random.below(static_cast<int>(categories.size()));
    } else {
      const auto& members = themes[static_cast<size_t>(scene.theme)].members;
      category = members[static_cast<size_t>(random.below(static_cast<int>(members.size())))];
    }
    if (std::find(chosen.begin(), chosen.end(), category) == chosen.end()) chosen.push_back(category);
  }
  // Place objects without overlap and with clearly different x positions.
  const int size = options.image_size;
  for (int category : chosen) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      SceneObject o;
      o.category = category;
      o.size = std::max(6, size / 4 - 2 + random.below(5));
      const int half = o.size / 2 + 1;
      o.x = half + random.below(std::max(1, size - 2 * half));
      o.y = half + random.below(std::max(1, size - 2 * half));
      bool fits = true;
      for (const auto& other : scene.objects) {
        const int min_gap = (o.size + other.size) / 2 + 1;
        if (std::abs(o.x - other.x) < 4 || (std::abs(o.x - other.x) < min_gap && std::abs(o.y - other.y) < min_gap))
          fits = false;
      }
      if (fits) {
        scene.objects.push_back(o);
        break;
      }
    }
  }
  std::sort(scene.objects.begin(), scene.objects.end(),
            [](const SceneObject& a, const SceneObject& b) { return a.x < b.x; });

  Image& image = scene.image;
  image.width = image.height = size;
  image.rgb.resize(static_cast<size_t>(size * size * 3));
  const int base = 205 + random.below(30);
  for (auto& v : image.rgb) v = static_cast<uint8_t>(base - 8 + random.below(17));
  for (const auto& o : scene.objects) {
    const auto& c = categories[static_cast<size_t>(o.category)];
    const double r = o.size / 2.0;
    for (int y = std::max(0, o.y - o.size); y < std::min(size, o.y + o.size); ++y)
      for (int x = std::max(0, o.x - o.size); x < std::min(size, o.x + o.size); ++x) {
        if (!inside_shape(c.shape, x - o.x, y - o.y, r)) continue;
        uint8_t* px = &image.rgb[static_cast<size_t>((y * size + x) * 3)];
        const int noise = random.below(17) - 8;
        px[0] = static_cast<uint8_t>(std::clamp(c.r + noise, 0, 255));
        px[1] = static_cast<uint8_t>(std::clamp(c.g + noise, 0, 255));
        px[2] = static_cast<uint8_t>(std::clamp(c.b + noise, 0, 255));
      }
  }
  return scene;
}

Image blank_image(int size) {
  return Image{size, size, std::vector<uint8_t>(static_cast<size_t>(size * size * 3), 220)};
}

std::string pope_question_text(int category) {
  const auto& name = scene_categories()[static_cast<size_t>(category)].name;
  return "Is there " + article(name) + " " + name + " in the image?";
}

std::vector<int> pope_negatives(const Scene& scene, const std::string& split, int count,
                                const std::vector<int>& frequency, const std::vector<std::vector<int>>& cooccurrence,
                                SceneRandom& random) {
  std::vector<int> absent;
  for (int c = 0; c < static_cast<int>(scene_categories().size()); ++c)
    if (!scene.contains(c)) absent.push_back(c);
  if (split == "random") {
    random.shuffle(absent);
  } else {
    std::vector<long> score(scene_categories().size(), 0);
    for (int c : absent) {
      if (split == "popular") {
        score[static_cast<size_t>(c)] = frequency[static_cast<size_t>(c)];
      } else if (split == "adversarial") {
        for (const auto& o : scene.objects)
          score[static_cast<size_t>(c)] += cooccurrence[static_cast<size_t>(o.category)][static_cast<size_t>(c)];
      } else {
        throw Error("unknown POPE split '" + split + "'");
      }
    }
    // Highest score first; ties broken by category index for determinism.
    std::stable_sort(absent.begin(), absent.end(),
                     [&](int a, int b) { return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)]; });
  }
  absent.resize(std::min(absent.size(), static_cast<size_t>(count)));
  return absent;
}

SqaProblem image_problem(const Scene& scene, SceneRandom& random) {
  const auto& categories = scene_categories();
  SqaProblem p;
  p.image = "image.png";
  p.subject = "natural science";
  const int type = random.below(3);
  std::vector<std::string> choices;
  std::string answer;
  if (type == 0 || scene.objects.size() < 2) {
    p.question = "Which of these objects is in the image?";
    p.skill = "find objects";
    const auto& present = scene.objects[static_cast<size_t>(random.below(static_cast<int>(scene.objects.size())))];
    answer = categories[static_cast<size_t>(present.category)].name;
    choices.push_back(answer);
    // Distractors: absent categories, preferring the scene's own theme.
    std::vector<int> absent;
    for (int c : scene_themes()[static_cast<size_t>(scene.theme)].members)
      if (!scene.contains(c)) absent.push_back(c);
    std::vector<int> others;
    for (int c = 0; c < static_cast<int>(categories.size()); ++c)
      if (!scene.contains(c) && std::find(absent.begin(), absent.end(), c) == absent.end()) others.push_back(c);
    random.shuffle(absent);
    random.shuffle(others);
    absent.insert(absent.end(), others.begin(), others.end());
    const int wanted = 2 + random.below(2);
    for (int i = 0; i < wanted; ++i)
      choices.push_back(categories[static_cast<size_t>(absent[static_cast<size_t>(i)])].name);
  } else if (type == 1) {
    p.question = "How many objects are in the image?";
    p.skill = "count objects";
    const int n = static_cast<int>(scene.objects.size());
    answer = kCountWords[n];
    for (int k = 2; k <= 4; ++k) choices.push_back(kCountWords[k]);
    if (n < 2 || n > 4) choices[0] = answer;
  } else {
    // The object at one end of the scene (objects are sorted left to
    // right, as the captions name them), against the scene's other objects
    // and then absent ones: one value read from the image, then its option,
    // as in counting.
    p.skill = "locate objects";
    const bool ask_left = random.chance(0.5);
    const auto& end = ask_left ? scene.objects.front() : scene.objects.back();
    p.question = std::string("Which object is furthest ") + (ask_left ? "left" : "right") + "?";
    answer = categories[static_cast<size_t>(end.category)].name;
    choices.push_back(answer);
    std::vector<int> present, absent;
    for (const auto& o : scene.objects)
      if (o.category != end.category) present.push_back(o.category);
    for (int c = 0; c < static_cast<int>(categories.size()); ++c)
      if (!scene.contains(c)) absent.push_back(c);
    random.shuffle(present);
    random.shuffle(absent);
    present.insert(present.end(), absent.begin(), absent.end());
    for (size_t i = 0; choices.size() < 3 && i < present.size(); ++i)
      choices.push_back(categories[static_cast<size_t>(present[i])].name);
  }
  random.shuffle(choices);
  p.choices = choices;
  p.answer = static_cast<int>(std::find(choices.begin(), choices.end(), answer) - choices.begin());
  p.category = "scenes";
  return p;
}

SqaProblem text_problem(SceneRandom& random) {
  // Recall a fact of a named thing: its kind or its place, with every kind
  // (place) offered in the same order, so that the letter is the fact itself
  // and the problem tests what the model stores, not a lookup among options
  // (an 8-layer model learns facts and the option lookup apart but does not
  // compose them: series H, docs/demo.md).
  const auto& things = known_things();
  SqaProblem p;
  p.subject = "language science";
  p.category = "knowledge";
  const auto& target = things[static_cast<size_t>(random.below(static_cast<int>(things.size())))];
  const bool about_kind = random.chance(0.5);
  p.skill = about_kind ? "name the kind" : "name the place";
  p.question = about_kind ? kind_question(target) : place_question(target);
  p.choices = about_kind ? knowledge_kinds() : knowledge_places();
  p.answer = about_kind ? target.kind : target.place;
  return p;
}

namespace {

// Co-occurrence statistics over a sample of scenes, as POPE takes them from
// the annotations of the image set.
void annotation_statistics(const std::vector<Scene>& scenes, std::vector<int>* frequency,
                           std::vector<std::vector<int>>* cooccurrence) {
  const size_t n = scene_categories().size();
  frequency->assign(n, 0);
  cooccurrence->assign(n, std::vector<int>(n, 0));
  for (const auto& s : scenes)
    for (const auto& a : s.objects) {
      ++(*frequency)[static_cast<size_t>(a.category)];
      for (const auto& b : s.objects)
        if (a.category != b.category)
          ++(*cooccurrence)[static_cast<size_t>(a.category)][static_cast<size_t>(b.category)];
    }
}

void write_pope(const std::string& dir, const SyntheticBenchmarkOptions& options) {
  SceneRandom random(options.seed * 31 + 1);
  SceneOptions scene_options = options.scene;
  scene_options.min_objects = std::max(3, scene_options.min_objects);  // 3 positives per image
  std::vector<Scene> scenes;
  for (int i = 0; i < options.pope_images; ++i) scenes.push_back(make_scene(random, scene_options));
  std::vector<int> frequency;
  std::vector<std::vector<int>> cooccurrence;
  annotation_statistics(scenes, &frequency, &cooccurrence);

  fs::create_directories(fs::path(dir) / "images");
  std::vector<std::string> names;
  for (size_t i = 0; i < scenes.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "synth_test_%06zu.png", i);
    names.emplace_back(name);
    save_png(scenes[i].image, (fs::path(dir) / "images" / name).string());
  }
  for (size_t split_index = 0; split_index < pope_splits().size(); ++split_index) {
    const std::string& split = pope_splits()[split_index];
    SceneRandom split_random(options.seed * 37 + split_index);
    std::vector<PopeQuestion> questions;
    int id = 1;
    for (size_t i = 0; i < scenes.size(); ++i) {
      std::vector<int> present;
      for (const auto& o : scenes[i].objects) present.push_back(o.category);
      split_random.shuffle(present);
      present.resize(3);
      const auto negatives = pope_negatives(scenes[i], split, 3, frequency, cooccurrence, split_random);
      for (int k = 0; k < 3; ++k) {
        questions.push_back(
            {std::to_string(id++), names[i], pope_question_text(present[static_cast<size_t>(k)]), true, split});
        questions.push_back(
            {std::to_string(id++), names[i], pope_question_text(negatives[static_cast<size_t>(k)]), false, split});
      }
    }
    write_pope_file((fs::path(dir) / ("coco_pope_" + split + ".json")).string(), questions);
  }
}

void write_sqa(const std::string& dir, const SyntheticBenchmarkOptions& options) {
  SqaDataset data;
  data.dir = dir;
  int pid_counter = 1;
  const std::pair<std::string, int> splits[] = {
      {"train", options.sqa_train}, {"val", options.sqa_val}, {"test", options.sqa_test}};
  for (size_t split_index = 0; split_index < 3; ++split_index) {
    const auto& [split, count] = splits[split_index];
    SceneRandom random(options.seed * 41 + split_index);
    auto& pids = data.splits[split];
    for (int i = 0; i < count; ++i) {
      const std::string pid = std::to_string(pid_counter++);
      SqaProblem p;
      if (options.sqa_image_every > 0 && i % options.sqa_image_every == 0) {
        const Scene scene = make_scene(random, options.scene);
        p = image_problem(scene, random);
        const fs::path image_dir = fs::path(dir) / "images" / split / pid;
        fs::create_directories(image_dir);
        save_png(scene.image, (image_dir / "image.png").string());
      } else {
        p = text_problem(random);
      }
      p.pid = pid;
      p.split = split;
      pids.push_back(pid);
      data.problems.emplace(pid, std::move(p));
    }
  }
  write_scienceqa(data, dir);
}

void write_instructions(const std::string& dir, const SyntheticBenchmarkOptions& options) {
  SceneRandom random(options.seed * 43 + 7);
  fs::create_directories(fs::path(dir) / "images");
  nlohmann::json conversations = nlohmann::json::array();
  for (int i = 0; i < options.instruction_conversations; ++i) {
    const Scene scene = make_scene(random, options.scene);
    char name[64];
    std::snprintf(name, sizeof name, "synth_train_%06d.png", i);
    save_png(scene.image, (fs::path(dir) / "images" / name).string());
    // Yes/no turns half positive, half negative (as the demo trainer draws
    // them), the negatives half of the time from the scene's own theme, the
    // hard case POPE's adversarial split asks about.
    int asked = scene.objects[static_cast<size_t>(random.below(static_cast<int>(scene.objects.size())))].category;
    if (random.chance(0.5)) {
      std::vector<int> absent;
      if (random.chance(0.5))
        for (int c : scene_themes()[static_cast<size_t>(scene.theme)].members)
          if (!scene.contains(c)) absent.push_back(c);
      if (absent.empty())
        for (int c = 0; c < static_cast<int>(scene_categories().size()); ++c)
          if (!scene.contains(c)) absent.push_back(c);
      asked = absent[static_cast<size_t>(random.below(static_cast<int>(absent.size())))];
    }
    // A multiple-choice turn in the ScienceQA prompt layout, as LLaVA-1.5's
    // mix holds (A-OKVQA): the letter is the answer.
    const auto problem = image_problem(scene, random);
    conversations.push_back(
        {{"id", std::to_string(i)},
         {"image", name},
         {"conversations",
          // The caption comes last: answered first, it would hand the later
          // questions the object names as text, and they would be learned
          // without looking at the image.
          {{{"from", "human"},
            {"value",
             "<image>\n" + pope_question_text(asked) + "\nAnswer the question using a single word or phrase."}},
           {{"from", "gpt"}, {"value", scene.contains(asked) ? "Yes" : "No"}},
           {{"from", "human"}, {"value", sqa_prompt_text(problem)}},
           {{"from", "gpt"}, {"value", std::string(1, option_letter(static_cast<size_t>(problem.answer)))}},
           {{"from", "human"}, {"value", "What objects are in the image?"}},
           {{"from", "gpt"}, {"value", scene.caption() + "."}}}}});
    if (i % 4 == 3) {  // and text-only problems, answered from the context or from category knowledge
      const auto text = text_problem(random);
      conversations.push_back(
          {{"id", std::to_string(i) + "-text"},
           {"conversations",
            {{{"from", "human"}, {"value", sqa_prompt_text(text)}},
             {{"from", "gpt"}, {"value", std::string(1, option_letter(static_cast<size_t>(text.answer)))}}}}});
    }
  }
  write_json_file((fs::path(dir) / "llava_instruct.json").string(), conversations);
}

}  // namespace

void write_synthetic_benchmark(const std::string& dir, const SyntheticBenchmarkOptions& options) {
  write_pope((fs::path(dir) / "pope").string(), options);
  write_sqa((fs::path(dir) / "scienceqa").string(), options);
  write_instructions((fs::path(dir) / "instruct").string(), options);
}

std::vector<std::string> synthetic_corpus(uint64_t seed, int samples) {
  SceneRandom random(seed);
  SceneOptions options;
  std::vector<std::string> corpus = {
      "USER: <image>\nWhat objects are in the image? ASSISTANT:",
      "Answer the question using a single word or phrase.",
      "Answer with the option's letter from the given choices directly.",
      "Yes",
      "No",
      "A",
      "B",
      "C",
      "D",
      "E",
      "A. B. C. D. E.",
  };
  for (int c = 0; c < static_cast<int>(scene_categories().size()); ++c) corpus.push_back(pope_question_text(c));
  for (const auto& thing : known_things()) {
    corpus.push_back(kind_question(thing) + " " + knowledge_kinds()[static_cast<size_t>(thing.kind)]);
    corpus.push_back(place_question(thing) + " " + knowledge_places()[static_cast<size_t>(thing.place)]);
  }
  for (int i = 0; i < samples; ++i) {
    const Scene scene = make_scene(random, options);
    corpus.push_back(scene.caption() + ".");
    corpus.push_back(sqa_prompt_text(image_problem(scene, random)));
    corpus.push_back(sqa_prompt_text(text_problem(random)));
  }
  return corpus;
}

}  // namespace hipp
