// The hipp-prune command line as a user runs it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/image.h"
#include "support.h"

namespace hipp {
namespace {

using test::cli;

TEST(Cli, VersionAndHelp) {
  std::string out;
  EXPECT_EQ(cli("--version", &out), 0);
  EXPECT_NE(out.find("hipp-prune 0."), std::string::npos);
  EXPECT_EQ(cli("--help", &out), 0);
  EXPECT_NE(out.find("random-model"), std::string::npos);
  EXPECT_EQ(cli("info --help", &out), 0);
  EXPECT_NE(out.find("MODEL_DIR"), std::string::npos);
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  std::string out;
  for (const char* args :
       {"", "no-such-command", "info", "random-model --preset huge /tmp/x", "--threads -3 info x", "ask m --image"}) {
    EXPECT_EQ(cli(args, &out), 2) << args << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << args << ": " << out;
    EXPECT_EQ(out.rfind("hipp-prune: ", 0), 0u) << out;
  }
}

TEST(Cli, RandomModelInfoAndAsk) {
  test::TempDir dir;
  const std::string model = dir.file("micro");
  std::string out;
  ASSERT_EQ(cli("--seed 3 random-model --preset micro " + model, &out), 0) << out;

  ASSERT_EQ(cli("--json info " + model, &out), 0) << out;
  const auto info = nlohmann::json::parse(out);
  EXPECT_EQ(info["text"]["num_hidden_layers"], 3);
  EXPECT_EQ(info["image_features"], 16);
  EXPECT_EQ(info["parameters"]["total"].get<int64_t>(), info["parameters"]["language_model"].get<int64_t>() +
                                                            info["parameters"]["vision_tower"].get<int64_t>() +
                                                            info["parameters"]["projector"].get<int64_t>());
  ASSERT_EQ(cli("info " + model, &out), 0);
  EXPECT_NE(out.find("mlp_width"), std::string::npos);

  Image image{20, 12, std::vector<uint8_t>(20 * 12 * 3, 200)};
  save_png(image, dir.file("scene.png"));
  ASSERT_EQ(cli("--json ask " + model + " --image " + dir.file("scene.png") +
                    " --question 'Is there a dog?' --max-new-tokens 4",
                &out),
            0)
      << out;
  const auto answer = nlohmann::json::parse(out);
  EXPECT_LE(answer["tokens"].get<int>(), 4);
  EXPECT_NE(answer["prompt"].get<std::string>().find("USER: <image>\nIs there a dog? ASSISTANT:"), std::string::npos);

  // The same seed makes the same model.
  ASSERT_EQ(cli("--seed 3 random-model --preset micro " + dir.file("again"), &out), 0);
  std::string a, b;
  cli("--json info " + model, &a);
  EXPECT_EQ(test::run_command("cmp " + model + "/model.safetensors " + dir.file("again") + "/model.safetensors", &b),
            0);
}

TEST(Cli, FailuresExitOneAndKeepExistingFolders) {
  test::TempDir dir;
  std::string out;
  EXPECT_EQ(cli("info " + dir.file("absent"), &out), 1);
  EXPECT_EQ(out.rfind("hipp-prune: error: ", 0), 0u) << out;
  // random-model never writes into a folder that holds something.
  test::write_bytes(dir.file("keep.txt"), "precious");
  EXPECT_EQ(cli("random-model " + dir.path(), &out), 1);
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
  ASSERT_EQ(cli("random-model " + dir.file("m"), &out), 0) << out;
  EXPECT_EQ(cli("ask " + dir.file("m") + " --image " + dir.file("keep.txt") + " --question hi", &out), 1);
  EXPECT_NE(out.find("keep.txt: cannot decode image"), std::string::npos) << out;
  EXPECT_EQ(cli("--device cuda9 info " + dir.file("m"), &out), 0);  // info reads no weights
}

// Hostile input and limits: a clear message and exit 1 or 2, never a signal,
// a hang, or debris.
TEST(Cli, LimitsAndOddFilesAreCleanErrors) {
  test::TempDir dir;
  std::string log;
  ASSERT_EQ(cli("random-model --preset micro " + dir.file("model"), &log), 0) << log;
  // NaN is not a sparsity: an argument error.
  EXPECT_EQ(cli("prune " + dir.file("model") + " --sparsity nan --importance magnitude --out " + dir.file("x"), &log),
            2)
      << log;
  EXPECT_NE(log.find("finite"), std::string::npos) << log;
  for (const char* args : {"demo --lr nan --out x", "demo --mix 0.1,nan,0.2,0.3 --out x", "demo --init-std inf --out x",
                           "finetune --study s --trial 1 --dropout nan", "train --study s --lr nan"}) {
    EXPECT_EQ(cli(args, &log), 2) << args << ": " << log;
    EXPECT_NE(log.find("finite"), std::string::npos) << args << ": " << log;
  }
  // The demo's final phase: fewer steps than the run, some share positive.
  for (const char* args :
       {"demo --steps 100 --final-steps 100 --out x", "demo --final-steps 10 --final-mix 0,0,0,0 --out x",
        "demo --final-mix 0,0,1,0 --out x", "demo --final-lr-scale 0.5 --out x"}) {
    EXPECT_EQ(cli(args, &log), 2) << args << ": " << log;
    EXPECT_NE(log.find("--final-"), std::string::npos) << args << ": " << log;
  }
  // Without image-only layers there is no seeing side for them to keep.
  for (const char* args :
       {"demo --image-only-layers 0 --final-steps 10 --out x", "demo --image-only-layers 0 --seeing-lr-scale 0 --out x",
        "demo --image-only-layers 0 --rehearsal 0.1 --out x",
        "demo --image-only-layers 0 --first-phase-upper-mlp-image-grad 1 --out x"}) {
    EXPECT_EQ(cli(args, &log), 1) << args << ": " << log;
    EXPECT_NE(log.find("--image-only-layers > 0"), std::string::npos) << args << ": " << log;
    EXPECT_FALSE(std::filesystem::exists("x")) << args;
  }
  // The rehearsal belongs to the vision-first text phases.
  EXPECT_EQ(cli("demo --text-first --rehearsal 0.1 --out x", &log), 1) << log;
  EXPECT_NE(log.find("--vision-first"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists("x"));
  EXPECT_EQ(cli("demo --text-first --first-phase-upper-mlp-image-grad 1 --out x", &log), 1) << log;
  EXPECT_NE(log.find("--vision-first"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists("x"));
  // A FIFO where config.json should be: refused at once, not read forever.
  std::filesystem::create_directories(dir.file("fifo-model"));
  ASSERT_EQ(test::run_command("mkfifo " + dir.file("fifo-model/config.json"), &log), 0) << log;
  EXPECT_EQ(cli("info " + dir.file("fifo-model"), &log), 1) << log;
  EXPECT_NE(log.find("not a regular file"), std::string::npos) << log;
  // More threads than cores: a warning, and the work runs.
  EXPECT_EQ(cli("--threads 100000 prune " + dir.file("model") + " --sparsity 0.3 --importance magnitude --out " +
                    dir.file("threads"),
                &log),
            0)
      << log;
  EXPECT_NE(log.find("more than the"), std::string::npos) << log;
  // A file-size limit: the write fails with its cause, nothing half-written stays.
  const int code = test::run_command("ulimit -f 16; " + std::string(HIPP_CLI_PATH) + " prune " + dir.file("model") +
                                         " --sparsity 0.3 --importance magnitude --out " + dir.file("small"),
                                     &log);
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("File too large"), std::string::npos) << log;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().rfind("small", 0), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace hipp

namespace hipp {
namespace {

TEST(Cli, DemoWithNarrowSeeingMlps) {
  test::TempDir dir;
  std::string log;
  const std::string quick = " --preset micro --steps 2 --batch 4 --pope-images 2 --sqa-problems 4";
  // The micro model has 3 decoder layers: the image-only layers must leave some above them.
  EXPECT_EQ(cli("demo --out " + dir.file("a") + quick + " --lower-mlp-width 8 --image-only-layers 3", &log), 1);
  EXPECT_NE(log.find("--lower-mlp-width needs --image-only-layers"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.file("a")));
  ASSERT_EQ(cli("demo --out " + dir.file("b") + quick + " --lower-mlp-width 8 --image-only-layers 1", &log), 0) << log;
  const auto config = nlohmann::json::parse(std::ifstream(dir.file("b") + "/model/config.json"));
  const auto widths = config["text_config"]["layer_intermediate_size"];
  ASSERT_EQ(widths.size(), 3u) << config.dump();
  EXPECT_EQ(widths[0], 8);
  EXPECT_EQ(widths[1], config["text_config"]["intermediate_size"]);
  EXPECT_NE(widths[1], 8);
  const auto report = nlohmann::json::parse(std::ifstream(dir.file("b") + "/demo-report.json"));
  EXPECT_EQ(report["settings"]["lower_mlp_width"], 8) << report.dump();
}

// The demo preset's defaults: seeing MLPs half as wide as the others (run
// H66's recipe); the options on by default that act through the image-only
// layers (rehearsal, the first phase's upper-MLP gradient) do not stop a
// run without them, while given explicitly they are refused (see
// Cli.LimitsAndOddFilesAreCleanErrors).
TEST(Cli, DemoDefaultsFollowThePreset) {
  test::TempDir dir;
  std::string log;
  ASSERT_EQ(
      cli("demo --out " + dir.file("d") + " --preset demo --steps 1 --batch 2 --pope-images 1 --sqa-problems 2", &log),
      0)
      << log;
  const auto config = nlohmann::json::parse(std::ifstream(dir.file("d") + "/model/config.json"));
  const auto widths = config["text_config"]["layer_intermediate_size"];
  ASSERT_EQ(widths.size(), 8u) << config.dump();
  for (int l = 0; l < 4; ++l) EXPECT_EQ(widths[l], 128) << l;
  for (int l = 4; l < 8; ++l) EXPECT_EQ(widths[l], config["text_config"]["intermediate_size"]) << l;
  EXPECT_EQ(config["text_config"]["intermediate_size"], 256);
  const auto report = nlohmann::json::parse(std::ifstream(dir.file("d") + "/demo-report.json"));
  EXPECT_EQ(report["settings"]["lower_mlp_width"], 128) << report.dump();
  // No image-only layers: every MLP as wide as the preset's, and the run goes.
  ASSERT_EQ(cli("demo --out " + dir.file("e") +
                    " --preset micro --steps 2 --batch 4 --pope-images 2 --sqa-problems 4 --image-only-layers 0",
                &log),
            0)
      << log;
  const auto micro = nlohmann::json::parse(std::ifstream(dir.file("e") + "/demo-report.json"));
  EXPECT_EQ(micro["settings"]["lower_mlp_width"], 0) << micro.dump();
}

TEST(Cli, DemoThenEvalOnAMicroModel) {
  test::TempDir dir;
  const std::string out = dir.file("demo");
  std::string log;
  ASSERT_EQ(cli("demo --out " + out + " --preset micro --steps 3 --batch 4 --pope-images 3 --sqa-problems 6", &log), 0)
      << log;
  EXPECT_NE(log.find("training step 3/3"), std::string::npos) << log;
  EXPECT_NE(log.find("quality bar"), std::string::npos) << log;
  for (const char* file : {"model/config.json", "model/model.safetensors", "model/tokenizer.model",
                           "model/preprocessor_config.json", "bench/pope/coco_pope_adversarial.json",
                           "bench/scienceqa/problems.json", "bench/instruct/llava_instruct.json", "demo-report.json"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + file)) << file;

  std::string out_json;
  ASSERT_EQ(cli("--json eval " + out + "/model " + out + "/bench --subset full --cache-dir none " + "--answers-dir " +
                    dir.file("answers"),
                &out_json),
            0)
      << out_json;
  const auto result = nlohmann::json::parse(out_json.substr(out_json.find('{')));
  EXPECT_EQ(result["pope"]["random"]["questions"], 18);
  EXPECT_EQ(result["scienceqa"]["questions"], 6);
  EXPECT_EQ(result["prompts"]["count"], 3 * 18 + 6);
  // Shared prompt prefixes always or never: the same scores.
  for (const char* cost : {"1", "0"}) {
    std::string shared_json;
    ASSERT_EQ(cli("--json eval " + out + "/model " + out + "/bench --subset full --cache-dir none " +
                      "--shared-prefix-cost " + cost,
                  &shared_json),
              0)
        << shared_json;
    const auto shared = nlohmann::json::parse(shared_json.substr(shared_json.find('{')));
    EXPECT_EQ(shared["pope"], result["pope"]) << cost;
    EXPECT_EQ(shared["scienceqa"]["accuracy"], result["scienceqa"]["accuracy"]) << cost;
    if (std::string(cost) == "1")
      EXPECT_GT(shared["prompts"]["shared_prefix_tokens"].get<int64_t>(), 0);
    else
      EXPECT_EQ(shared["prompts"]["shared_prefix_tokens"].get<int64_t>(), 0);
  }
  EXPECT_EQ(cli("eval " + out + "/model " + out + "/bench --shared-prefix-cost 2", &log), 2);
  EXPECT_TRUE(std::filesystem::exists(dir.file("answers/pope_answers.jsonl")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("answers/coco/coco_pope_popular.json")));
  // The answer files read back by the official text rules give the same scores.
  std::string scored;
  ASSERT_EQ(cli("--json score " + out + "/bench --answers " + dir.file("answers"), &scored), 0) << scored;
  const auto rescored = nlohmann::json::parse(scored.substr(scored.find('{')));
  EXPECT_EQ(rescored["pope"], result["pope"]);
  EXPECT_EQ(rescored["scienceqa"]["accuracy"], result["scienceqa"]["accuracy"]);
  ASSERT_EQ(cli("eval " + out + "/model " + out + "/bench --blank-images --cache-dir none", &log), 0) << log;
  EXPECT_NE(log.find("blank images"), std::string::npos);

  // A second demo into the same folder is refused and the first is kept.
  EXPECT_EQ(cli("demo --out " + out + " --preset micro --steps 1 --batch 2 --pope-images 1 --sqa-problems 2", &log), 1);
  EXPECT_TRUE(std::filesystem::exists(out + "/demo-report.json"));
  EXPECT_EQ(cli("eval " + out + "/model " + dir.file("nowhere"), &log), 1);
  EXPECT_NE(log.find("benchmark folder not found"), std::string::npos) << log;

  // Training continues from the demo model: its tokenizer and shape, not fresh ones.
  const std::string more = dir.file("demo-more");
  ASSERT_EQ(cli("demo --init-from " + out + "/model --out " + more +
                    " --steps 2 --text-only-steps 1 --caption-only-steps 0 --save-phases --batch 4 --pope-images 3 "
                    "--sqa-problems 6",
                &log),
            0)
      << log;
  // --save-phases: the model after the text phase, a folder to continue from.
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.model", "preprocessor_config.json"})
    EXPECT_TRUE(std::filesystem::exists(more + "/phases/0-text/" + file)) << file;
  EXPECT_FALSE(std::filesystem::exists(more + "/phases/1-mix")) << "the last phase is the model itself";
  EXPECT_NE(log.find("starting from"), std::string::npos) << log;
  EXPECT_EQ(log.find("training the tokenizer"), std::string::npos) << log;
  std::ifstream a(out + "/model/tokenizer.model", std::ios::binary),
      b(more + "/model/tokenizer.model", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));
  const auto config = nlohmann::json::parse(std::ifstream(more + "/model/config.json"));
  EXPECT_EQ(config["text_config"]["num_hidden_layers"], 3) << "the micro model's shape, not the demo preset's";
  EXPECT_EQ(cli("demo --init-from " + dir.file("nowhere") + " --out " + dir.file("x"), &log), 2) << log;
  // Options that shape a fresh model are refused beside it, not ignored.
  EXPECT_EQ(cli("demo --init-from " + out + "/model --preset tiny --out " + dir.file("x"), &log), 2) << log;
  EXPECT_EQ(cli("demo --init-from " + out + "/model --init-std 0.02 --out " + dir.file("x"), &log), 2) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));

  // Prune the demo model at 50%, read its widths back, score it, prune it again.
  const std::string pruned = dir.file("pruned");
  ASSERT_EQ(cli("--json prune " + out + "/model --sparsity 0.5 --calibration " + out +
                    "/bench --calibration-samples 4 --cache-dir none --out " + pruned,
                &out_json),
            0)
      << out_json;
  const auto prune_result = nlohmann::json::parse(out_json.substr(out_json.find('{')));
  EXPECT_NEAR(prune_result["blueprint"]["achieved_sparsity"].get<double>(), 0.5, 0.01);
  EXPECT_LT(prune_result["language_params_after"].get<int64_t>(),
            prune_result["language_params_before"].get<int64_t>());
  ASSERT_EQ(cli("--json info " + pruned, &out_json), 0) << out_json;
  const auto pruned_info = nlohmann::json::parse(out_json);
  EXPECT_EQ(pruned_info["text"]["layers"][0]["intermediate_size"], prune_result["blueprint"]["kept"][0]);
  ASSERT_EQ(cli("eval " + pruned + " " + out + "/bench --subset full --cache-dir none", &log), 0) << log;
  EXPECT_NE(log.find("ScienceQA"), std::string::npos) << log;
  ASSERT_EQ(cli("prune " + pruned + " --sparsity 0.2 --importance magnitude --out " + dir.file("pruned2"), &log), 0)
      << log;
  EXPECT_NE(log.find("blueprint.json"), std::string::npos) << log;
  // Usage mistakes and bad plans: a clear one-line error, nothing written.
  EXPECT_EQ(cli("prune " + out + "/model --sparsity 1.5 --out " + dir.file("p3"), &log), 2) << log;
  EXPECT_EQ(cli("prune " + out + "/model --sparsity 0.5 --out " + dir.file("p3"), &log), 1) << log;
  EXPECT_NE(log.find("--calibration"), std::string::npos) << log;
  // Replaying a wanda-sp blueprint needs its calibration data.
  EXPECT_EQ(cli("prune " + out + "/model --allocation " + pruned + "/blueprint.json --out " + dir.file("p3"), &log), 1)
      << log;
  EXPECT_NE(log.find("--calibration"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.file("p3")));
  EXPECT_EQ(cli("prune " + pruned + " --allocation " + pruned + "/blueprint.json --calibration " + out +
                    "/bench --out " + dir.file("p3"),
                &log),
            1)
      << log;
  EXPECT_NE(log.find("made for model"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir.file("p3")));
}

}  // namespace
}  // namespace hipp
