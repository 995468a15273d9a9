#include <gtest/gtest.h>

#include <algorithm>

#include "model/presets.h"
#include "model/prompt.h"
#include "support.h"

namespace hipp {
namespace {

TEST(Prompt, Llava15Template) {
  EXPECT_EQ(llava_prompt("Is there a cat?", true), "USER: <image>\nIs there a cat? ASSISTANT:");
  EXPECT_EQ(llava_prompt("Why?", false), "USER: Why? ASSISTANT:");
  EXPECT_EQ(llava_prompt("Why?", false, {true}).rfind("A chat between", 0), 0u);
}

TEST(Prompt, ImageTokenExpandsToFeatureCount) {
  test::TempDir dir;
  TokenizerTraining training;
  training.vocab_size = 384;
  training.user_symbols = {"<image>"};
  train_tokenizer(builtin_corpus(), training, dir.file("tokenizer.model"));
  auto tokenizer = Tokenizer::load(dir.file("tokenizer.model"));
  const int64_t image_id = 9999;  // as in llava-hf, outside the sentencepiece vocabulary
  const auto ids = tokenize_prompt(tokenizer, llava_prompt("Is there a dog?", true), image_id, 16);
  EXPECT_EQ(ids.front(), tokenizer.bos_id());
  EXPECT_EQ(std::count(ids.begin(), ids.end(), image_id), 16);
  // Image positions are contiguous, after "USER:" and before the question.
  const auto first = std::find(ids.begin(), ids.end(), image_id) - ids.begin();
  EXPECT_GT(first, 1);
  EXPECT_EQ(ids[static_cast<size_t>(first + 15)], image_id);
  const auto text_only = tokenize_prompt(tokenizer, llava_prompt("Is there a dog?", false), image_id, 16);
  EXPECT_EQ(std::count(text_only.begin(), text_only.end(), image_id), 0);
}

}  // namespace
}  // namespace hipp
