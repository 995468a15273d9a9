// The evaluator end to end on a micro model and a very small synthetic benchmark.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/synthetic.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "core/json_fields.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "model/presets.h"
#include "model/prompt.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

class EvaluatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    test::write_micro_benchmark(dir_->file("bench"), 4, 6, 10);
    write_random_model("micro", dir_->file("model"), 5);
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* EvaluatorTest::dir_ = nullptr;

TEST_F(EvaluatorTest, ScoresEveryQuestionAndWritesAnswerFiles) {
  const auto benchmark = load_benchmark(dir_->file("bench"));
  ASSERT_EQ(benchmark.pope.size(), 3u * 4 * 6);
  ASSERT_EQ(benchmark.sqa_eval.size(), 10u);
  auto tokenizer = Tokenizer::load(dir_->file("model/tokenizer.model"));
  auto model = load_llava(dir_->file("model"));
  Evaluator evaluator(model, tokenizer, read_preprocessor_config(dir_->file("model/preprocessor_config.json")));
  EvalOptions options;
  options.answers_dir = dir_->file("answers");
  options.batch_size = 7;
  int last_done = 0;
  options.progress = [&](int done, int) { last_done = done; };
  const auto result = evaluator.evaluate(benchmark, options);
  EXPECT_EQ(last_done, 72 + 10);
  ASSERT_EQ(result.pope.size(), 3u);
  for (const auto& [split, m] : result.pope) {
    EXPECT_EQ(m.questions, 24) << split;
    EXPECT_GE(m.accuracy, 0.0);
    EXPECT_LE(m.accuracy, 1.0);
  }
  EXPECT_EQ(result.sqa.questions, 10);
  // Each question's outcome, kept for the bootstrap over questions, adds up
  // to the scores.
  int said_yes = 0;
  for (const auto& [split, m] : result.pope) {
    const auto& text = result.outcomes.pope.at(split);
    ASSERT_EQ(text.size(), 24u) << split;
    const auto again = pope_metrics(pope_counts_of(text));
    EXPECT_DOUBLE_EQ(again.f1, m.f1) << split;
    EXPECT_DOUBLE_EQ(again.accuracy, m.accuracy) << split;
    said_yes += static_cast<int>(std::count(text.begin(), text.end(), 'Y') + std::count(text.begin(), text.end(), 'y'));
  }
  ASSERT_EQ(result.outcomes.sqa.size(), 10u);
  EXPECT_DOUBLE_EQ(sqa_metrics(sqa_counts_of(result.outcomes.sqa)).accuracy, result.sqa.accuracy);
  // The files LLaVA's scorers read: one POPE question file and one answer
  // file over the three splits, the label files, and ScienceQA's.
  std::map<int64_t, std::string> category;
  std::ifstream questions(dir_->file("answers/llava_pope_test.jsonl"));
  for (std::string line; std::getline(questions, line);) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(category.emplace(j["question_id"].get<int64_t>(), j["category"].get<std::string>()).second);
  }
  EXPECT_EQ(category.size(), 72u);
  int random_answers = 0, lines = 0, yes_answers = 0;
  std::ifstream answers(dir_->file("answers/pope_answers.jsonl"));
  for (std::string line; std::getline(answers, line); ++lines) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["text"] == "Yes" || j["text"] == "No");
    EXPECT_TRUE(j.contains("question_id") && j.contains("answer_id") && j.contains("model_id"));
    random_answers += category.at(j["question_id"].get<int64_t>()) == "random";
    yes_answers += j["text"] == "Yes";
  }
  EXPECT_EQ(lines, 72);
  EXPECT_EQ(random_answers, 24);
  EXPECT_EQ(yes_answers, said_yes);
  for (const char* split : {"random", "popular", "adversarial"})
    EXPECT_TRUE(fs::exists(dir_->file(std::string("answers/coco/coco_pope_") + split + ".json"))) << split;
  EXPECT_TRUE(fs::exists(dir_->file("answers/llava_test_CQM-A.json")));
  EXPECT_TRUE(fs::exists(dir_->file("answers/scienceqa_answers.jsonl")));
}

TEST_F(EvaluatorTest, BatchedPredictionsEqualSingleQuestionForwards) {
  const auto benchmark = load_benchmark(dir_->file("bench"));
  auto tokenizer = Tokenizer::load(dir_->file("model/tokenizer.model"));
  auto model = load_llava(dir_->file("model"));
  const auto preprocessor = read_preprocessor_config(dir_->file("model/preprocessor_config.json"));
  Evaluator evaluator(model, tokenizer, preprocessor);
  EvalOptions options;
  options.answers_dir = dir_->file("batched");
  options.batch_size = 16;
  evaluator.evaluate(benchmark, options);
  // (image, question) -> the answer, through the question file's ids.
  std::map<int64_t, std::pair<std::string, std::string>> asked;
  std::ifstream questions(dir_->file("batched/llava_pope_test.jsonl"));
  for (std::string line; std::getline(questions, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["category"] != "adversarial") continue;
    const auto text = j["text"].get<std::string>();
    asked[j["question_id"].get<int64_t>()] = {j["image"].get<std::string>(), text.substr(0, text.find('\n'))};
  }
  std::map<std::pair<std::string, std::string>, std::string> predicted;
  std::ifstream answers(dir_->file("batched/pope_answers.jsonl"));
  for (std::string line; std::getline(answers, line);) {
    const auto j = nlohmann::json::parse(line);
    auto it = asked.find(j["question_id"].get<int64_t>());
    if (it != asked.end()) predicted[it->second] = j["text"];
  }
  const int64_t yes = tokenizer.encode("Yes")[0], no = tokenizer.encode("No")[0];
  torch::NoGradGuard no_grad;
  int checked = 0;
  for (const auto& q : benchmark.pope) {
    if (q.split != "adversarial" || checked >= 6) continue;
    const auto prompt = llava_prompt(q.text + "\nAnswer the question using a single word or phrase.", true);
    LlavaInputs inputs;
    inputs.input_ids = torch::tensor(tokenize_prompt(tokenizer, prompt, model->config().image_token_index,
                                                     model->config().num_image_features()))
                           .unsqueeze(0);
    inputs.image_features = evaluator.image_features(benchmark.pope_image_path(q)).unsqueeze(0);
    auto logits = model->forward(inputs)[0][-1];
    const std::pair<std::string, std::string> key{q.image, q.text};
    EXPECT_EQ(predicted[key], logits[yes].item<float>() > logits[no].item<float>() ? "Yes" : "No");
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST_F(EvaluatorTest, SharedPrefixesPredictAsWholePrompts) {
  const auto benchmark = load_benchmark(dir_->file("bench"));
  auto tokenizer = Tokenizer::load(dir_->file("model/tokenizer.model"));
  auto model = load_llava(dir_->file("model"));
  const auto preprocessor = read_preprocessor_config(dir_->file("model/preprocessor_config.json"));
  // Answers by question id, from the answer files of an evaluation.
  auto answers_of = [&](bool share, int batch, PromptStats* stats) {
    Evaluator evaluator(model, tokenizer, preprocessor);
    EvalOptions options;
    options.shared_prefix_cost = share ? 1.0 : 0.0;
    options.batch_size = batch;
    options.answers_dir = dir_->file("answers-" + std::to_string(share) + "-" + std::to_string(batch));
    evaluator.evaluate(benchmark, options);
    *stats = evaluator.prompt_stats();
    std::map<std::string, std::string> answers;
    for (const char* file : {"pope_answers.jsonl", "scienceqa_answers.jsonl"}) {
      std::ifstream in(options.answers_dir + "/" + file);
      for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        answers[std::string(file) + ":" + j["question_id"].dump()] = j["text"].get<std::string>();
      }
    }
    return answers;
  };
  PromptStats shared, whole, single;
  const auto with_sharing = answers_of(true, 16, &shared);
  EXPECT_EQ(with_sharing.size(), 72u + 10u);
  EXPECT_EQ(with_sharing, answers_of(false, 16, &whole));
  EXPECT_EQ(with_sharing, answers_of(false, 1, &single));
  EXPECT_EQ(whole.tokens_saved, 0);
  EXPECT_EQ(shared.tokens, whole.tokens);
  // 4 images with 18 questions each, in batches of 16: most image prefixes are computed once.
  const int64_t prefix = 2 + model->config().num_image_features();
  EXPECT_GE(shared.tokens_saved, prefix * (72 - 2 * 8));
}

TEST_F(EvaluatorTest, ImageFeaturesAreComputedOncePerImage) {
  const auto benchmark = load_benchmark(dir_->file("bench"));
  auto tokenizer = Tokenizer::load(dir_->file("model/tokenizer.model"));
  auto model = load_llava(dir_->file("model"));
  const auto preprocessor = read_preprocessor_config(dir_->file("model/preprocessor_config.json"));
  const auto cache = dir_->file("cache");
  {
    Evaluator evaluator(model, tokenizer, preprocessor, cache);
    EvalOptions shared;
    shared.shared_prefix_cost = 1;  // whenever a prefix repeats in a batch
    evaluator.evaluate(benchmark, shared);
    // 4 POPE images + the 4 ScienceQA test images (one problem in three of
    // the 10 has an image).
    EXPECT_EQ(evaluator.cache_stats().computed, 8);
    // The features are computed when the prompts are sized (a Qwen2.5-VL
    // image's token count is its features'), so every image use in the
    // forward passes comes from memory: one per image and batch of 32, where
    // the image's questions share their prefix (POPE's 4 images with 18
    // questions each fill 6 image-batch pairs, ScienceQA's 4 one each).
    EXPECT_EQ(evaluator.cache_stats().memory_hits, 10);
    const auto first = evaluator.evaluate(benchmark, shared);
    EXPECT_EQ(evaluator.cache_stats().computed, 8);
    // Without shared prefixes every question's prompt takes its image:
    // 72 POPE questions and 4 ScienceQA problems.
    EvalOptions whole;
    whole.shared_prefix_cost = 0;
    evaluator.evaluate(benchmark, whole);
    EXPECT_EQ(evaluator.cache_stats().memory_hits, 20 + 76);
  }
  Evaluator fresh(model, tokenizer, preprocessor, cache);
  const auto again = fresh.evaluate(benchmark);
  EXPECT_EQ(fresh.cache_stats().computed, 0);
  EXPECT_EQ(fresh.cache_stats().disk_hits, 8);
  // Cached features are the computed ones.
  const auto path = benchmark.pope_image_path(benchmark.pope[0]);
  Evaluator uncached(model, tokenizer, preprocessor);
  EXPECT_TRUE(torch::equal(fresh.image_features(path), uncached.image_features(path)));

  // Damaged or foreign cache entries (another shape, NaN, not safetensors)
  // are recomputed, and the evaluation is the same.
  std::vector<fs::path> entries;
  for (const auto& e : fs::recursive_directory_iterator(cache))
    if (e.is_regular_file()) entries.push_back(e.path());
  ASSERT_EQ(entries.size(), 8u);
  write_safetensors(entries[0].string(), {{"features", torch::zeros({60, 7})}});
  write_safetensors(entries[1].string(), {{"features", torch::full({16, 64}, NAN)}});
  test::write_bytes(entries[2].string(), "not a cache file");
  Evaluator damaged(model, tokenizer, preprocessor, cache);
  const auto third = damaged.evaluate(benchmark);
  EXPECT_EQ(damaged.cache_stats().computed, 3);
  EXPECT_EQ(damaged.cache_stats().disk_hits, 5);
  EXPECT_EQ(third.pope_mean_f1, again.pope_mean_f1);
  EXPECT_EQ(third.sqa.accuracy, again.sqa.accuracy);
  Evaluator repaired(model, tokenizer, preprocessor, cache);
  repaired.evaluate(benchmark);
  EXPECT_EQ(repaired.cache_stats().disk_hits, 8) << "the damaged entries were replaced";
}

// An empty ScienceQA split would score every plan 0: refused.
TEST_F(EvaluatorTest, AnEmptyScienceQaSplitIsAnError) {
  test::TempDir copy;
  fs::copy(dir_->file("bench"), copy.path(), fs::copy_options::recursive);
  auto splits = read_json_file(copy.file("scienceqa/pid_splits.json"));
  splits["test"] = nlohmann::json::array();
  write_json_file(copy.file("scienceqa/pid_splits.json"), splits);
  try {
    load_benchmark(copy.path());
    FAIL() << "loaded an empty test split";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("split 'test' has no problems"), std::string::npos) << e.what();
  }
}

TEST_F(EvaluatorTest, SearchSubsetIsStratifiedAndFixed) {
  const auto full = load_benchmark(dir_->file("bench"));
  SubsetOptions options;
  options.pope_per_split = 6;
  options.sqa = 4;
  const auto a = search_subset(full, options);
  const auto b = search_subset(full, options);
  ASSERT_EQ(a.pope.size(), 18u);
  for (const auto& split : pope_splits()) {
    int yes = 0, count = 0;
    for (const auto& q : a.pope)
      if (q.split == split) {
        ++count;
        yes += q.label;
      }
    EXPECT_EQ(count, 6);
    EXPECT_EQ(yes, 3);
  }
  for (size_t i = 0; i < a.pope.size(); ++i) EXPECT_EQ(a.pope[i].question_id, b.pope[i].question_id);
  auto images = [](const Benchmark& bench) {
    return std::count_if(bench.sqa_eval.begin(), bench.sqa_eval.end(),
                         [](const SqaProblem& p) { return p.has_image(); });
  };
  ASSERT_EQ(a.sqa_eval.size(), 4u);
  EXPECT_EQ(images(a), 2);
  // The test split has 4 image problems of 10: 8 drawn keep that
  // proportion (3.2 -> 3); the older half-and-half draw takes 4.
  ASSERT_EQ(images(full), 4);
  ASSERT_EQ(full.sqa_eval.size(), 10u);
  options.sqa = 8;
  const auto proportional = search_subset(full, options);
  ASSERT_EQ(proportional.sqa_eval.size(), 8u);
  EXPECT_EQ(images(proportional), 3);
  options.proportional = false;
  const auto halves = search_subset(full, options);
  ASSERT_EQ(halves.sqa_eval.size(), 8u);
  EXPECT_EQ(images(halves), 4);
}

TEST_F(EvaluatorTest, MissingImagesAreClearErrors) {
  test::TempDir copy;
  fs::copy(dir_->file("bench"), copy.path(), fs::copy_options::recursive);
  fs::remove(copy.file("pope/images/synth_test_000002.png"));
  const auto benchmark = load_benchmark(copy.path());
  auto tokenizer = Tokenizer::load(dir_->file("model/tokenizer.model"));
  auto model = load_llava(dir_->file("model"));
  Evaluator evaluator(model, tokenizer, read_preprocessor_config(dir_->file("model/preprocessor_config.json")));
  try {
    evaluator.evaluate(benchmark);
    FAIL() << "evaluated with a missing image";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("synth_test_000002.png"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hipp
