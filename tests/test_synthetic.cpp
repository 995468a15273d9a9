#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <map>
#include <set>

#include "data/knowledge.h"
#include "data/synthetic.h"

namespace hipp {
namespace {

TEST(Synthetic, CategoriesAreDistinctGlyphs) {
  const auto& categories = scene_categories();
  ASSERT_EQ(categories.size(), 16u);
  std::set<std::tuple<int, int, int>> colours;
  for (const auto& c : categories) colours.insert({c.r, c.g, c.b});
  EXPECT_EQ(colours.size(), categories.size());
  std::set<int> covered;
  for (const auto& t : scene_themes()) covered.insert(t.members.begin(), t.members.end());
  EXPECT_EQ(covered.size(), categories.size());
}

TEST(Synthetic, ScenesAreDeterministicAndOrderedLeftToRight) {
  SceneRandom a(5), b(5);
  SceneOptions options;
  for (int i = 0; i < 20; ++i) {
    const auto s = make_scene(a, options);
    const auto t = make_scene(b, options);
    EXPECT_EQ(s.image.rgb, t.image.rgb);
    ASSERT_GE(s.objects.size(), 2u);
    EXPECT_LE(s.objects.size(), 4u);
    for (size_t k = 1; k < s.objects.size(); ++k) EXPECT_LT(s.objects[k - 1].x, s.objects[k].x);
    std::set<int> distinct;
    for (const auto& o : s.objects) distinct.insert(o.category);
    EXPECT_EQ(distinct.size(), s.objects.size());
  }
}

TEST(Synthetic, CaptionNamesObjectsLeftToRight) {
  Scene scene;
  scene.objects = {{7, 5, 5, 10}, {10, 20, 5, 10}, {0, 40, 5, 10}};
  EXPECT_EQ(scene.caption(), "dog, apple and person");
}

class PopeRules : public ::testing::Test {
 protected:
  void SetUp() override {
    SceneRandom random(11);
    SceneOptions options;
    options.min_objects = 3;
    for (int i = 0; i < 200; ++i) scenes.push_back(make_scene(random, options));
    const size_t n = scene_categories().size();
    frequency.assign(n, 0);
    cooccurrence.assign(n, std::vector<int>(n, 0));
    for (const auto& s : scenes)
      for (const auto& a : s.objects) {
        ++frequency[static_cast<size_t>(a.category)];
        for (const auto& b : s.objects)
          if (a.category != b.category)
            ++cooccurrence[static_cast<size_t>(a.category)][static_cast<size_t>(b.category)];
      }
  }
  std::vector<Scene> scenes;
  std::vector<int> frequency;
  std::vector<std::vector<int>> cooccurrence;
};

TEST_F(PopeRules, NegativesAreNeverInTheImage) {
  SceneRandom random(3);
  for (const auto& s : scenes)
    for (const char* split : {"random", "popular", "adversarial"})
      for (int c : pope_negatives(s, split, 3, frequency, cooccurrence, random)) EXPECT_FALSE(s.contains(c));
}

TEST_F(PopeRules, PopularTakesTheMostFrequentAbsent) {
  SceneRandom random(3);
  for (const auto& s : scenes) {
    const auto chosen = pope_negatives(s, "popular", 3, frequency, cooccurrence, random);
    int weakest = INT32_MAX;
    for (int c : chosen) weakest = std::min(weakest, frequency[static_cast<size_t>(c)]);
    for (int c = 0; c < 16; ++c)
      if (!s.contains(c) && std::find(chosen.begin(), chosen.end(), c) == chosen.end()) {
        EXPECT_LE(frequency[static_cast<size_t>(c)], weakest);
      }
  }
}

TEST_F(PopeRules, AdversarialTakesTheMostCooccurringAbsent) {
  SceneRandom random(3);
  auto score = [&](const Scene& s, int c) {
    long total = 0;
    for (const auto& o : s.objects) total += cooccurrence[static_cast<size_t>(o.category)][static_cast<size_t>(c)];
    return total;
  };
  int same_theme = 0, total = 0;
  for (const auto& s : scenes) {
    const auto chosen = pope_negatives(s, "adversarial", 3, frequency, cooccurrence, random);
    long weakest = LONG_MAX;
    for (int c : chosen) weakest = std::min(weakest, score(s, c));
    for (int c = 0; c < 16; ++c)
      if (!s.contains(c) && std::find(chosen.begin(), chosen.end(), c) == chosen.end()) {
        EXPECT_LE(score(s, c), weakest);
      }
    // Co-occurrence follows the themes: absent members of the scene's theme come first.
    const auto& members = scene_themes()[static_cast<size_t>(s.theme)].members;
    int absent_members = 0, chosen_members = 0;
    for (int c : members) absent_members += !s.contains(c);
    for (int c : chosen) chosen_members += std::find(members.begin(), members.end(), c) != members.end();
    same_theme += chosen_members == std::min(3, absent_members);
    ++total;
  }
  EXPECT_GT(same_theme, total * 9 / 10);
}

TEST(Synthetic, ProblemsHaveValidAnswers) {
  SceneRandom random(9);
  SceneOptions options;
  std::set<std::string> skills, image_skills;
  for (int i = 0; i < 200; ++i) {
    const auto scene = make_scene(random, options);
    const auto p = image_problem(scene, random);
    ASSERT_GE(p.choices.size(), 2u);
    ASSERT_LT(static_cast<size_t>(p.answer), p.choices.size());
    EXPECT_TRUE(p.has_image());
    std::set<std::string> distinct(p.choices.begin(), p.choices.end());
    EXPECT_EQ(distinct.size(), p.choices.size());
    if (p.question == "Which of these objects is in the image?") {
      for (size_t k = 0; k < p.choices.size(); ++k) {
        int category = -1;
        for (size_t c = 0; c < scene_categories().size(); ++c)
          if (scene_categories()[c].name == p.choices[k]) category = static_cast<int>(c);
        EXPECT_EQ(scene.contains(category), static_cast<int>(k) == p.answer) << p.choices[k];
      }
    }
    image_skills.insert(p.skill);
    if (p.skill == "locate objects") {
      // The answer names the object at the asked end of the scene; the
      // other options name other objects, present or not.
      const bool left = p.question == "Which object is furthest left?";
      ASSERT_TRUE(left || p.question == "Which object is furthest right?") << p.question;
      const auto& end = left ? scene.objects.front() : scene.objects.back();
      EXPECT_EQ(p.choices[static_cast<size_t>(p.answer)], scene_categories()[static_cast<size_t>(end.category)].name);
      EXPECT_EQ(p.choices.size(), 3u);
    }
    const auto t = text_problem(random);
    EXPECT_FALSE(t.has_image());
    ASSERT_LT(static_cast<size_t>(t.answer), t.choices.size());
    std::set<std::string> distinct_text(t.choices.begin(), t.choices.end());
    EXPECT_EQ(distinct_text.size(), t.choices.size());
    skills.insert(t.skill);
    // Every kind (place) in the same order; the answer is the named thing's.
    const bool about_kind = t.skill == "name the kind";
    EXPECT_EQ(t.choices, about_kind ? knowledge_kinds() : knowledge_places()) << t.question;
    int named = 0;
    for (const auto& thing : known_things())
      if (t.question.find(" " + thing.name + " ") != std::string::npos ||
          t.question.find(" " + thing.name + "?") != std::string::npos) {
        ++named;
        EXPECT_EQ(t.answer, about_kind ? thing.kind : thing.place) << t.question;
      }
    EXPECT_EQ(named, 1) << t.question;
  }
  EXPECT_EQ(skills, (std::set<std::string>{"name the kind", "name the place"}));
  EXPECT_EQ(image_skills, (std::set<std::string>{"find objects", "count objects", "locate objects"}));
}

// The knowledge body: distinct two-word names, facts that neither word alone
// decides, and every kind and place in use.
TEST(Synthetic, KnowledgeNeedsBothWordsOfAName) {
  const auto& things = known_things();
  ASSERT_GE(things.size(), 150u);
  std::set<std::string> names;
  std::set<int> kinds, places;
  std::map<std::string, std::set<int>> kinds_by_first_word, kinds_by_second_word;
  for (const auto& t : things) {
    names.insert(t.name);
    kinds.insert(t.kind);
    places.insert(t.place);
    const auto space = t.name.find(' ');
    ASSERT_NE(space, std::string::npos) << t.name;
    kinds_by_first_word[t.name.substr(0, space)].insert(t.kind);
    kinds_by_second_word[t.name.substr(space + 1)].insert(t.kind);
  }
  EXPECT_EQ(names.size(), things.size());
  EXPECT_EQ(kinds.size(), knowledge_kinds().size());
  EXPECT_EQ(places.size(), knowledge_places().size());
  for (const auto& [word, seen] : kinds_by_first_word) EXPECT_GE(seen.size(), 3u) << word;
  for (const auto& [word, seen] : kinds_by_second_word) EXPECT_GE(seen.size(), 3u) << word;
}

}  // namespace
}  // namespace hipp
