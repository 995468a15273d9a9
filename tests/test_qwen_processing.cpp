// Qwen2.5-VL's inputs: the byte-level BPE tokenizer.json, the Qwen2-VL image
// processor (smart resize, patch order), the chat prompt with its image
// tokens, and a micro Qwen2.5-VL folder through evaluation, pruning and
// export.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "core/json_fields.h"
#include "eval/benchmark.h"
#include "eval/evaluator.h"
#include "finetune/instruct.h"
#include "model/byte_bpe.h"
#include "model/fingerprint.h"
#include "model/image.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "model/prompt.h"
#include "model/qwen_vision.h"
#include "prune/apply.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const char* const kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// A tokenizer.json with the 256 byte tokens, the given merges and added tokens.
json tokenizer_json(const std::vector<std::pair<std::string, std::string>>& merges,
                    const std::vector<std::string>& added, bool merges_as_pairs) {
  json vocab = json::object();
  int64_t id = 0;
  for (int b = 0; b < 256; ++b) vocab[byte_character(static_cast<uint8_t>(b))] = id++;
  json m = json::array();
  for (const auto& [l, r] : merges) {
    if (!vocab.contains(l + r)) vocab[l + r] = id++;
    m.push_back(merges_as_pairs ? json::array({l, r}) : json(l + " " + r));
  }
  json a = json::array();
  for (const auto& s : added) a.push_back({{"id", id++}, {"content", s}, {"special", true}});
  return {{"added_tokens", a},
          {"normalizer", {{"type", "NFC"}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", kPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", m}}}};
}

TEST(ByteBpe, PreTokenizerSplitsAsQwen2sPattern) {
  using V = std::vector<std::string>;
  EXPECT_EQ(qwen2_pretokenize("Hello world's  test\n\nfoo 123"),
            (V{"Hello", " world", "'s", " ", " test", "\n\n", "foo", " ", "1", "2", "3"}));
  EXPECT_EQ(qwen2_pretokenize("Hi!!! ok?\n"), (V{"Hi", "!!!", " ok", "?\n"}));
  EXPECT_EQ(qwen2_pretokenize("WE'LL go  "), (V{"WE", "'LL", " go", "  "}));
  EXPECT_EQ(qwen2_pretokenize("(A) caf\xC3\xA9\tx"), (V{"(A", ")", " caf\xC3\xA9", "\tx"}));
  EXPECT_EQ(qwen2_pretokenize(" \n x"), (V{" \n", " x"}));
  EXPECT_TRUE(qwen2_pretokenize("").empty());
}

TEST(ByteBpe, MergesApplyByRankAndSpecialTokensStayWhole) {
  for (bool pairs : {false, true}) {
    const auto G = byte_character(' ');  // "Ġ"
    const auto j = tokenizer_json({{G, "t"}, {"h", "e"}, {G + "t", "he"}}, {"<|im_start|>", "<|im_end|>"}, pairs);
    const auto t = ByteLevelBpe::parse(j.dump(), "", "test tokenizer.json");
    const int64_t th = t.token_id("he"), gthe = t.token_id(G + "the");
    ASSERT_GE(th, 256);
    ASSERT_GE(gthe, 256);
    EXPECT_EQ(t.encode("the the"), (std::vector<int64_t>{t.token_id("t"), th, gthe}));
    const auto with_special = t.encode("<|im_start|>the<|im_end|>");
    EXPECT_EQ(with_special,
              (std::vector<int64_t>{t.token_id("<|im_start|>"), t.token_id("t"), th, t.token_id("<|im_end|>")}));
    EXPECT_EQ(t.decode(with_special), "<|im_start|>the<|im_end|>");
    EXPECT_EQ(t.eos_id(), t.token_id("<|im_end|>"));
    EXPECT_EQ(t.bos_id(), -1);
    // Every byte string survives a round trip, valid UTF-8 or not.
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    EXPECT_EQ(t.decode(t.encode(all)), all);
    EXPECT_EQ(t.decode(t.encode("na\xC3\xAFve \xE2\x80\x94 the 42 cats!\n")),
              "na\xC3\xAFve \xE2\x80\x94 the 42 cats!\n");
  }
}

TEST(ByteBpe, IgnoreMergesTakesAWholeWordFromTheVocabulary) {
  const auto G = byte_character(' ');
  // "abc" is in the vocabulary but no merge chain reaches it from a, b, c
  // (only "b c" merges): with ignore_merges it is one token, without it two.
  auto j = tokenizer_json({{"b", "c"}}, {}, false);
  j["model"]["vocab"]["abc"] = 300;
  const auto plain = ByteLevelBpe::parse(j.dump(), "", "t.json");
  EXPECT_EQ(plain.encode("abc"), (std::vector<int64_t>{plain.token_id("a"), plain.token_id("bc")}));
  j["model"]["ignore_merges"] = true;
  const auto whole = ByteLevelBpe::parse(j.dump(), "", "t.json");
  EXPECT_EQ(whole.encode("abc"), (std::vector<int64_t>{300}));
  EXPECT_EQ(whole.encode(" bc"), (std::vector<int64_t>{whole.token_id(G), whole.token_id("bc")}));
}

TEST(ByteBpe, RefusesWhatItCannotReproduce) {
  auto j = tokenizer_json({}, {}, false);
  EXPECT_NO_THROW(ByteLevelBpe::parse(j.dump(), "", "t"));
  auto other = j;
  other["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+";
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(other.dump(), "", "t.json"); }).find("not Qwen2's"),
            std::string::npos);
  auto unigram = j;
  unigram["model"]["type"] = "Unigram";
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(unigram.dump(), "", "t.json"); }).find("Unigram"),
            std::string::npos);
  auto missing = j;
  missing["model"]["vocab"].erase(byte_character('a'));
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(missing.dump(), "", "t.json"); }).find("byte 97"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse("{not json", "", "t.json"); }).find("t.json"), std::string::npos);
  // Options that would change the pieces are refused by name, never ignored.
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"dropout", 0.1}, {"continuing_subword_prefix", "##"}, {"end_of_word_suffix", "</w>"}, {"fuse_unk", true}}) {
    auto bad = j;
    bad["model"][key] = value;
    EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(bad.dump(), "", "t.json"); }).find(key), std::string::npos)
        << key;
  }
  // A field of the wrong type is an error naming it (found by fuzz_tokenizer_json).
  auto typed = j;
  typed["pre_tokenizer"]["pretokenizers"][0]["invert"] = 1;
  EXPECT_NE(
      test::error_of([&] { ByteLevelBpe::parse(typed.dump(), "", "t.json"); }).find("invert must be true or false"),
      std::string::npos);
  auto typed_flag = j;
  typed_flag["model"]["ignore_merges"] = "yes";
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(typed_flag.dump(), "", "t.json"); }).find("ignore_merges"),
            std::string::npos);
  auto stripped = tokenizer_json({}, {"<|im_end|>"}, false);
  stripped["added_tokens"][0]["lstrip"] = true;
  EXPECT_NE(test::error_of([&] { ByteLevelBpe::parse(stripped.dump(), "", "t.json"); }).find("lstrip"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              ByteLevelBpe::parse(j.dump(), R"({"eos_token": "<|nowhere|>"})", "t.json");
            }).find("<|nowhere|>"),
            std::string::npos);
}

TEST(QwenProcessor, SmartResizeMatchesTheReferenceArithmetic) {
  using P = std::pair<int64_t, int64_t>;
  // Within bounds: each side rounded to the factor.
  EXPECT_EQ(smart_resize(61, 45, 28, 56 * 56, 28 * 28 * 1280), (P{56, 56}));
  // Rounding half to even, as Python's round: 2.5 -> 2, 4.5 -> 4.
  EXPECT_EQ(smart_resize(70, 126, 28, 28 * 28, 28 * 28 * 1280), (P{56, 112}));
  // Too many pixels: scaled down, floored to the factor.
  EXPECT_EQ(smart_resize(1000, 500, 28, 56 * 56, 256 * 28 * 28), (P{616, 308}));
  // Too few: scaled up, ceiled.
  EXPECT_EQ(smart_resize(20, 30, 28, 56 * 56, 28 * 28 * 1280), (P{56, 84}));
  EXPECT_THROW(smart_resize(10, 2100, 28, 56 * 56, 28 * 28 * 1280), Error);
}

TEST(QwenProcessor, PatchesComeInTheOrderTheTowerReadsThem) {
  Image image;
  image.width = 12;
  image.height = 8;
  image.rgb.resize(12 * 8 * 3);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>((i * 7) % 251);
  auto c = qwen_preprocessor(2, 2, 2, 16, 4096);
  c.do_resize = false;
  c.do_rescale = false;
  c.do_normalize = false;
  const auto prepared = prepare_image(image, c);
  ASSERT_EQ(prepared.grid_h, 4);
  ASSERT_EQ(prepared.grid_w, 6);
  const int64_t P = 2, T = 2, dim = 3 * T * P * P;
  ASSERT_EQ(prepared.shape, (std::vector<int64_t>{24, dim}));
  // The tower's (row, column) of each patch row, from its own code.
  const auto positions = patch_positions({{1, 4, 6}}, 2);
  ASSERT_EQ(positions.size(), 24u);
  for (size_t r = 0; r < positions.size(); ++r) {
    const auto [row, col] = positions[r];
    for (int64_t ch = 0; ch < 3; ++ch)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t py = 0; py < P; ++py)
          for (int64_t px = 0; px < P; ++px) {
            const auto pixel = image.rgb[static_cast<size_t>(((row * P + py) * 12 + col * P + px) * 3 + ch)];
            const auto value =
                prepared.values[static_cast<size_t>(static_cast<int64_t>(r) * dim + ((ch * T + t) * P + py) * P + px)];
            ASSERT_EQ(value, static_cast<float>(pixel)) << r << " " << ch << " " << t << " " << py << " " << px;
          }
  }
  // Resizing and normalising: the grid follows the smart resize.
  const auto resized = prepare_image(image, qwen_preprocessor(2, 2, 2, 16 * 16, 32 * 32));
  EXPECT_EQ(resized.grid_h * 2, smart_resize(8, 12, 4, 16 * 16, 32 * 32).first);
}

TEST(QwenProcessor, PreprocessorConfigRoundTripsAndIsCheckedAgainstTheTower) {
  test::TempDir dir;
  const auto path = dir.file("preprocessor_config.json");
  write_preprocessor_config(qwen_preprocessor(14, 2, 2, 3136, 12845056), path);
  const auto c = read_preprocessor_config(path);
  EXPECT_EQ(c.kind, PreprocessorConfig::Kind::QwenVl);
  EXPECT_EQ(c.min_pixels, 3136);
  EXPECT_EQ(c.max_pixels, 12845056);
  EXPECT_EQ(c.patch_size, 14);
  // transformers 5's form: size {shortest_edge, longest_edge} only.
  write_json_file(path, {{"image_processor_type", "Qwen2VLImageProcessorFast"},
                         {"size", {{"shortest_edge", 1000}, {"longest_edge", 200000}}},
                         {"patch_size", 14}});
  const auto fast = read_preprocessor_config(path);
  EXPECT_EQ(fast.min_pixels, 1000);
  EXPECT_EQ(fast.max_pixels, 200000);
  // Another resampling filter would change the pixels: refused, for either processor.
  write_json_file(path, {{"image_processor_type", "Qwen2VLImageProcessor"}, {"resample", 2}});
  EXPECT_NE(test::error_of([&] { read_preprocessor_config(path); }).find("resample 2"), std::string::npos);
  write_json_file(path, {{"image_processor_type", "CLIPImageProcessor"}, {"resample", "bilinear"}});
  EXPECT_NE(test::error_of([&] { read_preprocessor_config(path); }).find("resample"), std::string::npos);
  write_json_file(path, {{"image_processor_type", "CLIPImageProcessor"}, {"resample", 3}});
  EXPECT_NO_THROW(read_preprocessor_config(path));
  write_json_file(path, {{"image_processor_type", "Qwen2VLImageProcessor"}, {"merge_size", 0}});
  EXPECT_NE(test::error_of([&] { read_preprocessor_config(path); }).find("merge_size"), std::string::npos);

  LlavaConfig qwen;
  qwen.architecture = Architecture::Qwen2_5_VL;
  EXPECT_NO_THROW(check_preprocessor(qwen, c, "p"));
  EXPECT_NE(test::error_of([&] { check_preprocessor(qwen, clip_preprocessor(224), "p"); }).find("Qwen2-VL"),
            std::string::npos);
  qwen.qwen_vision.patch_size = 16;
  EXPECT_NE(test::error_of([&] { check_preprocessor(qwen, c, "p"); }).find("patch_size 14"), std::string::npos);
  LlavaConfig llava;
  EXPECT_NE(test::error_of([&] { check_preprocessor(llava, c, "p"); }).find("CLIP"), std::string::npos);
}

class QwenFolder : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    test::write_micro_benchmark(dir_->file("bench"), 4, 6, 10);
    write_random_model("qwen2.5-vl-micro", dir_->file("model"), 3);
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* QwenFolder::dir_ = nullptr;

TEST_F(QwenFolder, PromptsCarryTheChatTemplateAndOneTokenPerMergedPatch) {
  auto folder = load_model_folder(dir_->file("model"));
  const auto& config = folder.model->config();
  EXPECT_EQ(folder.tokenizer.kind(), "byte-level BPE");
  EXPECT_EQ(folder.tokenizer.piece_id("<|image_pad|>"), config.image_token_index);
  const auto format = prompt_format(config);
  const auto prompt = chat_prompt(format, "Is there a dog?", true);
  EXPECT_EQ(prompt,
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<image>Is there a "
            "dog?<|im_end|>\n<|im_start|>assistant\n");
  const auto ids = tokenize_prompt(folder.tokenizer, prompt, format, 5);
  EXPECT_EQ(ids[0], folder.tokenizer.piece_id("<|im_start|>"));
  std::vector<int64_t> image_run;
  bool inside = false;
  for (auto id : ids) {
    if (id == config.vision_start_token_id) inside = true;
    if (inside) image_run.push_back(id);
    if (id == config.vision_end_token_id) inside = false;
  }
  EXPECT_EQ(image_run,
            (std::vector<int64_t>{config.vision_start_token_id, config.image_token_index, config.image_token_index,
                                  config.image_token_index, config.image_token_index, config.image_token_index,
                                  config.vision_end_token_id}));
  EXPECT_EQ(folder.tokenizer.decode(tokenize_prompt(folder.tokenizer, chat_prompt(format, "Why?", false), format, 0)),
            chat_prompt(format, "Why?", false));
}

TEST_F(QwenFolder, ConversationsLabelEachAnswerAndItsEndOfTurn) {
  auto folder = load_model_folder(dir_->file("model"));
  const auto format = prompt_format(folder.model->config());
  InstructExample e;
  e.image = "x.png";
  e.turns = {{"<image>\nWhat is this?", "A cup."}, {"Is it red?", "No"}};
  const auto t = tokenize_conversation(e, folder.tokenizer, format, 4, 512);
  ASSERT_EQ(t.ids.size(), t.labels.size());
  std::vector<int64_t> labelled;
  for (size_t i = 0; i < t.ids.size(); ++i)
    if (t.labels[i] != kIgnoreLabel) labelled.push_back(t.ids[i]);
  auto expected = folder.tokenizer.encode("A cup.<|im_end|>\n");
  const auto second = folder.tokenizer.encode("No<|im_end|>\n");
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(labelled, expected);
  // The first turn is the chat template with the image; the second opens a new user turn.
  const auto text = folder.tokenizer.decode(t.ids);
  EXPECT_EQ(text.rfind("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                       "<|vision_start|>",
                       0),
            0u)
      << text;
  EXPECT_NE(text.find("<|vision_end|>What is this?<|im_end|>\n<|im_start|>assistant\nA cup.<|im_end|>\n"
                      "<|im_start|>user\nIs it red?<|im_end|>\n<|im_start|>assistant\nNo<|im_end|>\n"),
            std::string::npos)
      << text;
  int image_tokens = 0;
  for (auto id : t.ids) image_tokens += id == folder.model->config().image_token_index;
  EXPECT_EQ(image_tokens, 4);
  // The demo trains LLaVA models only and says so.
  std::string out;
  EXPECT_EQ(test::cli("demo --init-from " + dir_->file("model") + " --out " + dir_->file("demo") + " --steps 1", &out),
            1);
  EXPECT_NE(out.find("the demo trains LLaVA-architecture models"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_->file("demo")));
}

TEST_F(QwenFolder, EvaluatesWithFeaturesSizedByTheImage) {
  auto folder = load_model_folder(dir_->file("model"));
  const auto benchmark = load_benchmark(dir_->file("bench"));
  Evaluator evaluator(folder.model, folder.tokenizer, folder.preprocessor, dir_->file("cache"));
  const auto result = evaluator.evaluate(benchmark);
  EXPECT_EQ(result.pope.size(), 3u);
  EXPECT_EQ(result.sqa.questions, 10);
  const auto image = benchmark.pope_image_path(benchmark.pope[0]);
  const auto& entry = evaluator.image_entry(image);
  const auto decoded = load_image(image);
  const auto [h, w] = smart_resize(decoded.height, decoded.width, 4, 16 * 16, 32 * 32);
  EXPECT_EQ(entry.grid.h * 2, h);
  EXPECT_EQ(entry.grid.w * 2, w);
  EXPECT_EQ(entry.features.size(0), h * w / 16);
  EXPECT_EQ(entry.features.size(1), folder.model->config().text.hidden_size);
  // A second evaluator reads the features (and grids) from the disk cache
  // and scores the same.
  Evaluator again(folder.model, folder.tokenizer, folder.preprocessor, dir_->file("cache"));
  const auto second = again.evaluate(benchmark);
  EXPECT_EQ(again.cache_stats().computed, 0);
  EXPECT_EQ(second.pope_mean_f1, result.pope_mean_f1);
  EXPECT_EQ(second.sqa.accuracy, result.sqa.accuracy);
}

TEST_F(QwenFolder, SlicedHeadsWithBiasesEqualMaskedHeads) {
  auto folder = load_model_folder(dir_->file("model"));
  auto& model = folder.model;
  // Non-zero q/k/v biases, so that dropping them with their heads matters.
  {
    torch::NoGradGuard no_grad;
    for (auto& layer : model->language_model->model->layers)
      for (auto* lin : {&layer->self_attn->q_proj, &layer->self_attn->k_proj, &layer->self_attn->v_proj})
        (*lin)->bias.normal_(0.0, 0.5);
  }
  const auto fp = model_fingerprint(model);
  PlanRequest r;
  r.structure = Structure::AttentionHeads;
  r.sparsity = 0.3;
  r.importance = ImportanceMethod::Magnitude;
  r.allocation = {0.2, 0.6, 0.2};
  const auto bp = make_blueprint(model->config(), fp, r);
  const auto importance = compute_importance(model, Structure::AttentionHeads, ImportanceMethod::Magnitude, nullptr);
  auto sliced = apply_blueprint(model, fp, bp, importance);
  auto masked = mask_blueprint(model, bp, importance);
  const auto benchmark = load_benchmark(dir_->file("bench"));
  const auto prepared = prepare_image(load_image(benchmark.pope_image_path(benchmark.pope[0])), folder.preprocessor);
  torch::NoGradGuard no_grad;
  const auto features = model->encode_prepared({&prepared});
  const auto format = prompt_format(model->config());
  const auto ids =
      tokenize_prompt(folder.tokenizer, chat_prompt(format, "Is there a cat?", true), format, features.size(0));
  LlavaInputs inputs;
  inputs.input_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0);
  inputs.image_features = features;
  inputs.image_grids = {grid_of(prepared)};
  const auto a = sliced->forward(inputs), b = masked->forward(inputs);
  EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<float>();
  // In place (plan evaluation): the same logits, and the biases back after.
  const auto q_bias = model->language_model->model->layers[1]->self_attn->q_proj->bias.clone();
  {
    auto in_place = prune_in_place(model, fp, bp, importance);
    const auto c = in_place.model->forward(inputs);
    EXPECT_TRUE(torch::allclose(a, c, 1e-5, 1e-5)) << (a - c).abs().max().item<float>();
  }
  EXPECT_TRUE(torch::equal(model->language_model->model->layers[1]->self_attn->q_proj->bias, q_bias));
  int64_t kept = 0;
  for (const auto& w : sliced->config().text.layers) kept += w.num_key_value_heads;
  EXPECT_LT(kept, 6);
}

TEST_F(QwenFolder, CommandLinePrunesExportsAndEvaluatesIt) {
  std::string out;
  ASSERT_EQ(test::cli("info " + dir_->file("model"), &out), 0) << out;
  EXPECT_NE(out.find("Qwen2_5_VLForConditionalGeneration"), std::string::npos) << out;
  ASSERT_EQ(
      test::cli("prune " + dir_->file("model") + " --sparsity 0.5 --structure attention_heads --calibration " +
                    dir_->file("bench") + " --calibration-samples 6 --cache-dir none --out " + dir_->file("pruned"),
                &out),
      0)
      << out;
  ASSERT_EQ(test::cli("info " + dir_->file("pruned"), &out), 0) << out;
  ASSERT_EQ(test::cli("--json eval " + dir_->file("pruned") + " " + dir_->file("bench") + " --cache-dir none", &out), 0)
      << out;
  const auto result = json::parse(out.substr(out.find('{')));
  EXPECT_EQ(result["scienceqa"]["questions"], 10) << out;
  ASSERT_EQ(
      test::cli("ask " + dir_->file("pruned") + " --image " +
                    load_benchmark(dir_->file("bench")).pope_image_path(load_benchmark(dir_->file("bench")).pope[0]) +
                    " --question Why --max-new-tokens 2",
                &out),
      0)
      << out;
}

}  // namespace
}  // namespace hipp
