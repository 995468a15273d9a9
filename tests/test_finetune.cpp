// Recovery fine-tuning: LoRA adapters (merge identity, gradients only on the
// adapters), instruction data (reader errors, labels on the answers only),
// training (loss goes down, exact resume), the job and the command line.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "finetune/job.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "model/prompt.h"
#include "search/plan_evaluator.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

void randomize_adapters(LlavaModel& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (auto& [name, t] : lora_tensors(model)) t.copy_(torch::randn_like(t) * 0.05);
}

torch::Tensor logits_of(LlavaModel& model, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  LlavaInputs inputs;
  inputs.input_ids = ids;
  return model->forward(inputs);
}

TEST(Lora, FreshAdaptersChangeNothingAndMergedEqualsUnmerged) {
  auto model = test::micro_model(3);
  model->eval();
  const auto ids = test::random_ids(2, 12, 64, 5);
  const auto base = logits_of(model, ids);
  LoraOptions options;
  options.rank = 4;
  attach_lora(model, options);
  EXPECT_EQ(lora_tensors(model).size(), 2u * 7 * 3);          // A and B, 7 projections, 3 layers
  EXPECT_TRUE(torch::allclose(logits_of(model, ids), base));  // B starts at zero
  randomize_adapters(model, 9);
  const auto adapted = logits_of(model, ids);
  EXPECT_GT((adapted - base).abs().max().item<double>(), 1e-3);  // the adapters do act
  merge_lora(model);
  EXPECT_TRUE(lora_tensors(model).empty());
  EXPECT_TRUE(torch::allclose(logits_of(model, ids), adapted, 1e-5, 1e-5));
}

TEST(Lora, OnlyAdaptersReceiveGradientsAndTargetsAreChecked) {
  auto model = test::micro_model(4);
  LoraOptions options;
  options.targets = {"q_proj", "down_proj"};
  attach_lora(model, options);
  EXPECT_EQ(lora_tensors(model).size(), 2u * 2 * 3);
  randomize_adapters(model, 2);
  model->train();
  LlavaInputs inputs;
  inputs.input_ids = test::random_ids(2, 10, 64, 1);
  model->forward(inputs).pow(2).mean().backward();
  for (const auto& p : model->named_parameters()) EXPECT_FALSE(p.value().grad().defined()) << p.key();
  for (const auto& [name, t] : lora_tensors(model)) {
    ASSERT_TRUE(t.grad().defined()) << name;
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0) << name;
  }
  LoraOptions bad;
  bad.targets = {"fc1"};
  EXPECT_THROW(attach_lora(model, bad), Error);
  bad = LoraOptions{};
  bad.rank = 0;
  EXPECT_THROW(attach_lora(model, bad), Error);
  // A rank above the smaller side of every adapted matrix is refused before
  // anything is allocated (the micro model's widest projection: 64 x 128).
  bad.rank = 1000000;
  try {
    attach_lora(model, bad);
    ADD_FAILURE() << "attached rank 1000000";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most 64"), std::string::npos) << e.what();
  }
  bad.rank = 64;
  EXPECT_NO_THROW(attach_lora(model, bad));
}

// A model folder, a few images and an instruction file written on the spot.
class Finetune : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    write_random_model("micro", dir_->file("model"), 21);
    test::write_micro_benchmark(dir_->file("bench"), 3, 10, 8, 12);
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return dir_->file("bench") + "/instruct/llava_instruct.json"; }
  static test::TempDir* dir_;
};
test::TempDir* Finetune::dir_ = nullptr;

TEST_F(Finetune, ReaderRejectsBadFilesByName) {
  const auto examples = read_instruct_file(data());
  ASSERT_EQ(examples.size(), 15u);  // 12 image conversations, 3 text-only
  EXPECT_TRUE(examples[4].image.empty());
  EXPECT_FALSE(examples[0].image.empty());
  EXPECT_EQ(examples[0].turns[0].human.rfind("<image>\n", 0), 0u);
  test::TempDir dir;
  auto expect_error = [&](const std::string& text, const std::string& fragment) {
    const auto path = dir.file("bad.json");
    test::write_bytes(path, text);
    try {
      read_instruct_file(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("bad.json"), std::string::npos) << message;
      EXPECT_NE(message.find(fragment), std::string::npos) << message;
    }
  };
  expect_error("[{\"id\": 1,", "bad.json");
  expect_error("{\"id\": 1}", "list");
  expect_error("[]", "no conversations");
  expect_error("[{\"id\": \"a\"}]", "conversations");
  expect_error(R"([{"id": "a", "conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]}])",
               "alternate");
  expect_error(R"([{"id": "a", "conversations": [{"from": "human", "value": "x"}]}])", "pairs");
  expect_error(R"([{"id": "a", "conversations": [{"from": "human"}, {"from": "gpt", "value": "y"}]}])", "value");
  expect_error(
      R"([{"id": "a", "conversations": [{"from": "human", "value": "<image>\nx"}, {"from": "gpt", "value": "y"}]}])",
      "without an \"image\"");
  expect_error(
      R"([{"id": "a", "image": "nowhere.png", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}])",
      "nowhere.png");
}

TEST_F(Finetune, LabelsCoverTheAnswersOnly) {
  const auto folder = load_model_folder(dir_->file("model"));
  InstructExample e;
  e.turns = {{"What is this?", "A cup."}, {"Is it red?", "No"}};
  PromptFormat format;
  format.image_token = 3;
  const auto t = tokenize_conversation(e, folder.tokenizer, format, 4, 512);
  ASSERT_EQ(t.ids.size(), t.labels.size());
  std::vector<int64_t> labelled;
  for (size_t i = 0; i < t.ids.size(); ++i)
    if (t.labels[i] != -100) {
      EXPECT_EQ(t.labels[i], t.ids[i]);
      labelled.push_back(t.ids[i]);
    }
  auto expected = folder.tokenizer.encode("A cup.");
  expected.push_back(folder.tokenizer.eos_id());
  auto second = folder.tokenizer.encode("No");
  expected.insert(expected.end(), second.begin(), second.end());
  expected.push_back(folder.tokenizer.eos_id());
  EXPECT_EQ(labelled, expected);
  EXPECT_EQ(t.ids[0], folder.tokenizer.bos_id());
  // The second turn is dropped when it does not fit; nothing fits in 3 tokens.
  const auto cut = tokenize_conversation(e, folder.tokenizer, format, 4, static_cast<int64_t>(t.ids.size()) - 1);
  EXPECT_LT(cut.ids.size(), t.ids.size());
  EXPECT_FALSE(cut.ids.empty());
  EXPECT_TRUE(tokenize_conversation(e, folder.tokenizer, format, 4, 3).ids.empty());
}

FinetuneSettings quick_settings(int steps) {
  FinetuneSettings s;
  s.steps = steps;
  s.batch_size = 4;
  s.lr = 5e-3;
  s.warmup_steps = 2;
  s.lora.rank = 4;
  s.checkpoint_every = 2;
  return s;
}

TEST_F(Finetune, TrainingLowersTheLossOnAFixedBatch) {
  auto folder = load_model_folder(dir_->file("model"));
  auto examples = read_instruct_file(data());
  examples.resize(4);  // one fixed batch
  {
    // A random model's output layer (std 0.02) caps how confident any answer
    // can get whatever the adapters do; scaled up, it can express the answers.
    torch::NoGradGuard no_grad;
    folder.model->language_model->lm_head->weight.mul_(25);
  }
  const double before = instruct_loss(folder.model, folder.tokenizer, folder.preprocessor, examples, 512);
  auto settings = quick_settings(40);
  settings.lr = 1e-2;
  const auto outcome = finetune_lora(folder.model, folder.tokenizer, folder.preprocessor, examples, settings);
  EXPECT_EQ(outcome.steps, 40);
  const double after = instruct_loss(folder.model, folder.tokenizer, folder.preprocessor, examples, 512);
  EXPECT_LT(after, before * 0.5) << before << " -> " << after;
  // Merged, the model scores the data the same.
  merge_lora(folder.model);
  EXPECT_NEAR(instruct_loss(folder.model, folder.tokenizer, folder.preprocessor, examples, 512), after, 1e-4);
}

TEST_F(Finetune, AnInterruptedRunResumesExactly) {
  const auto examples = read_instruct_file(data());
  const auto settings = quick_settings(6);
  test::TempDir dir;
  auto whole = load_model_folder(dir_->file("model"));
  FinetuneRun plain;
  plain.checkpoint_path = dir.file("whole.safetensors");
  finetune_lora(whole.model, whole.tokenizer, whole.preprocessor, examples, settings, plain);

  auto part = load_model_folder(dir_->file("model"));
  std::atomic<bool> stop{false};
  FinetuneRun first;
  first.checkpoint_path = dir.file("part.safetensors");
  first.log_every = 1;
  first.cancel = &stop;
  first.progress = [&](const FinetuneProgress& p) {
    if (p.step == 3) stop = true;
  };
  EXPECT_THROW(finetune_lora(part.model, part.tokenizer, part.preprocessor, examples, settings, first), Cancelled);
  auto resumed = load_model_folder(dir_->file("model"));
  FinetuneRun second;
  second.checkpoint_path = first.checkpoint_path;
  second.resume = true;
  const auto outcome =
      finetune_lora(resumed.model, resumed.tokenizer, resumed.preprocessor, examples, settings, second);
  EXPECT_EQ(outcome.first_step, 4);  // the checkpoint held step 3, the last one finished
  const auto a = lora_tensors(whole.model);
  const auto b = lora_tensors(resumed.model);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i].second, b[i].second, 1e-6, 1e-7)) << a[i].first;

  // Resuming with other settings, or with no checkpoint, is refused.
  auto other = settings;
  other.lr = 1e-2;
  auto again = load_model_folder(dir_->file("model"));
  try {
    finetune_lora(again.model, again.tokenizer, again.preprocessor, examples, other, second);
    ADD_FAILURE() << "resumed with another learning rate";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
  }
  second.checkpoint_path = dir.file("missing.safetensors");
  EXPECT_THROW(finetune_lora(again.model, again.tokenizer, again.preprocessor, examples, settings, second), Error);
}

TEST_F(Finetune, JobAddsAChildTrialAndExportsAReloadableModel) {
  test::TempDir dir;
  StudySettings settings;
  settings.subset.pope_per_split = 6;
  settings.subset.sqa = 6;
  settings.calibration.samples = 6;
  const auto study = dir.file("s.sqlite");
  create_study(study, dir_->file("model"), dir_->file("bench"), settings, {}, "");
  int64_t parent = 0;
  {
    auto store = open_sqlite_study(study);
    StudySession session(*store, {}, "");
    PlanEvaluator evaluator(session);
    const auto plan = session.plan(0.5, std::vector<double>(session.layers(), 1.0 / 3), "uniform");
    parent = evaluator.evaluate(plan, "uniform").trial_id;
  }
  FinetuneJob job;
  job.study = study;
  job.trial = parent;
  job.settings = quick_settings(4);
  const auto result = run_finetune_job(job);
  EXPECT_EQ(result.out_dir, dir.file("s-trial" + std::to_string(parent) + "-finetuned"));
  EXPECT_FALSE(fs::exists(result.checkpoint));  // removed once the export is in place
  ASSERT_TRUE(result.child.parent);
  EXPECT_EQ(*result.child.parent, parent);
  EXPECT_EQ(result.child.origin, "finetune");
  EXPECT_EQ(result.child.state, TrialState::Complete);
  EXPECT_EQ(result.child.details["steps"], 4);
  EXPECT_EQ(result.child.plan_hash, result.parent.plan_hash);
  // The export reloads, keeps the pruned widths and records the fine-tuning.
  const auto reloaded = load_model_folder(result.out_dir);
  const auto blueprint = read_blueprint(result.out_dir + "/blueprint.json");
  for (size_t l = 0; l < blueprint.layers(); ++l)
    EXPECT_EQ(reloaded.model->config().text.layers[l].intermediate_size, blueprint.kept[l]);
  const auto finetune = read_json_file(result.out_dir + "/finetune.json");
  EXPECT_EQ(finetune["parent_trial"], parent);
  EXPECT_EQ(finetune["settings"]["rank"], 4);
  // The plan's cached metrics stay the pruned model's.
  auto store = open_sqlite_study(study);
  EXPECT_DOUBLE_EQ(store->cached_metrics(result.parent.plan_hash, Subset::Search)->objectives.robustness,
                   result.parent.metrics->objectives.robustness);
  // Running again into the same folder is refused; so is fine-tuning a fine-tune.
  EXPECT_THROW(run_finetune_job(job), Error);
  job.trial = result.child.id;
  job.out_dir = dir.file("again");
  EXPECT_THROW(run_finetune_job(job), Error);
}

TEST_F(Finetune, CommandLine) {
  test::TempDir dir;
  const std::string study = dir.file("cli.sqlite");
  std::string out;
  ASSERT_EQ(test::cli("study create --model " + dir_->file("model") + " --bench " + dir_->file("bench") + " --out " +
                          study + " --pope-per-split 6 --sqa 6 --calibration-samples 6",
                      &out),
            0)
      << out;
  ASSERT_EQ(test::cli("baseline --study " + study + " --method uniform --evals 1 --cache-dir none", &out), 0) << out;
  const std::string common = "finetune --study " + study + " --trial 1 --steps 3 --batch 2 --rank 2 --cache-dir none";
  ASSERT_EQ(test::cli(common + " --out " + dir.file("ft"), &out), 0) << out;
  EXPECT_NE(out.find("step 3/3"), std::string::npos) << out;
  EXPECT_NE(out.find("fine-tuned"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir.file("ft") + "/finetune.json"));
  ASSERT_EQ(test::cli("--json study show " + study, &out), 0) << out;
  EXPECT_NE(out.find("finetune"), std::string::npos) << out;
  // Mistakes: clear, non-zero, nothing overwritten.
  EXPECT_EQ(test::cli(common + " --out " + dir.file("ft"), &out), 1) << out;
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
  EXPECT_EQ(test::cli(common + " --out " + dir.file("ft2") + " --resume", &out), 1) << out;
  EXPECT_NE(out.find("no adapter checkpoint"), std::string::npos) << out;
  EXPECT_EQ(test::cli("finetune --study " + study + " --trial 99 --cache-dir none", &out), 1) << out;
  EXPECT_NE(out.find("no trial 99"), std::string::npos) << out;
  test::write_bytes(dir.file("bad.json"), "[{\"conversations\": 3}]");
  EXPECT_EQ(test::cli(common + " --out " + dir.file("ft3") + " --data " + dir.file("bad.json"), &out), 1) << out;
  EXPECT_NE(out.find("bad.json"), std::string::npos) << out;
  EXPECT_EQ(test::cli(common + " --targets fc1", &out), 2) << out;
}

}  // namespace
}  // namespace hipp
