#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <fstream>

#include "core/error.h"
#include "core/json_fields.h"
#include "data/synthetic.h"
#include "model/checkpoint.h"
#include "model/fingerprint.h"
#include "model/model_folder.h"
#include "model/presets.h"
#include "model/summary.h"
#include "prune/apply.h"
#include "prune/cost.h"
#include "prune/export.h"
#include "prune/pipeline.h"
#include "support.h"

namespace hipp {
namespace {
namespace fs = std::filesystem;

struct Fixture {
  LlavaModel model = test::micro_model(21);
  torch::Tensor ids = [] {
    auto ids = test::random_ids(2, 24, 64, 7);
    ids.slice(1, 2, 18).fill_(3);  // one image of 16 features per row
    return ids;
  }();
  torch::Tensor pixels = torch::randn({2, 3, 32, 32}, torch::TensorOptions().dtype(torch::kFloat32));
};

// Statistics as calibration would accumulate them, from the model's own
// down_proj and o_proj inputs on the fixture batch.
CalibrationStats stats_from_batch(LlavaModel& model, const torch::Tensor& ids, const torch::Tensor& pixels) {
  CalibrationStats stats;
  stats.fingerprint = "test-batch";
  stats.layers.resize(model->language_model->model->layers.size());
  torch::NoGradGuard no_grad;
  LlavaInputs inputs;
  inputs.input_ids = ids;
  inputs.image_features = model->encode_images(pixels);
  ForwardOptions forward;
  forward.tap = [&](const std::string& name, int64_t layer, const torch::Tensor& value) {
    auto x = value.reshape({-1, value.size(-1)}).to(torch::kFloat64);
    auto to_vec = [](const torch::Tensor& t) {
      auto c = t.contiguous();
      return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    };
    auto& l = stats.layers[static_cast<size_t>(layer)];
    if (name == "mlp.down_in") {
      l.mlp_sum = to_vec(x.sum(0));
      l.mlp_sum_sq = to_vec(x.square().sum(0));
    } else if (name == "attn.out_in") {
      l.attn_sum_sq = to_vec(x.square().sum(0));
    }
  };
  model->forward(inputs, forward);
  stats.tokens = ids.numel();
  return stats;
}

PlanRequest request(Structure structure, double s, ImportanceMethod importance,
                    const std::vector<double>& allocation = {}) {
  PlanRequest r;
  r.structure = structure;
  r.sparsity = s;
  r.importance = importance;
  r.allocation = allocation;
  r.calibration_fingerprint = importance == ImportanceMethod::Magnitude ? "" : "test-batch";
  return r;
}

TEST(Prune, SlicedModelEqualsMaskedModelForChannelsAndHeads) {
  Fixture f;
  const auto fp = model_fingerprint(f.model);
  auto stats = stats_from_batch(f.model, f.ids, f.pixels);
  for (auto structure : {Structure::MlpChannels, Structure::AttentionHeads}) {
    for (auto method : {ImportanceMethod::Magnitude, ImportanceMethod::WandaSp}) {
      SCOPED_TRACE(structure_name(structure) + " " + importance_name(method));
      const double s = structure == Structure::MlpChannels ? 0.45 : 0.3;
      const std::vector<double> allocation =
          structure == Structure::MlpChannels ? std::vector<double>{0.5, 0.2, 0.3} : std::vector<double>{0.2, 0.6, 0.2};
      const auto bp = make_blueprint(f.model->config(), fp, request(structure, s, method, allocation));
      const auto importance = compute_importance(f.model, structure, method, &stats);
      auto sliced = apply_blueprint(f.model, fp, bp, importance);
      auto masked = mask_blueprint(f.model, bp, importance);
      const auto a = test::image_logits(sliced, f.ids, f.pixels), b = test::image_logits(masked, f.ids, f.pixels);
      EXPECT_TRUE(torch::allclose(a, b, 1e-4, 1e-5)) << (a - b).abs().max().item<float>();
      // And it really is smaller, with the blueprint's widths.
      const auto& widths = sliced->config().text.layers;
      for (size_t l = 0; l < bp.layers(); ++l) {
        if (structure == Structure::MlpChannels) {
          EXPECT_EQ(widths[l].intermediate_size, bp.kept[l]);
        } else {
          EXPECT_EQ(widths[l].num_key_value_heads, bp.kept[l]);
          EXPECT_EQ(widths[l].num_attention_heads, 2 * bp.kept[l]);
        }
      }
      EXPECT_LT(count_parameters(sliced).language_model, count_parameters(f.model).language_model);
      // Pruning changes the model's output (the test would pass vacuously otherwise).
      EXPECT_FALSE(torch::allclose(a, test::image_logits(f.model, f.ids, f.pixels), 1e-3, 1e-4));
    }
  }
}

TEST(Prune, SharedPrunedModelsHoldOnlyTheirSlicedTensors) {
  Fixture f;
  const auto fp = model_fingerprint(f.model);
  const auto importance = compute_importance(f.model, Structure::MlpChannels, ImportanceMethod::Magnitude, nullptr);
  const auto bp =
      make_blueprint(f.model->config(), fp, request(Structure::MlpChannels, 0.4, ImportanceMethod::Magnitude));
  auto dense = f.model->named_parameters();
  auto shared = apply_blueprint(f.model, fp, bp, importance, WeightSharing::ShareUnchanged);
  auto copied = apply_blueprint(f.model, fp, bp, importance, WeightSharing::Copy);
  int shared_count = 0, sliced_count = 0;
  auto copies = copied->named_parameters();
  for (const auto& p : shared->named_parameters()) {
    const bool sliced = p.key().rfind("language_model.", 0) == 0 && p.key().find(".mlp.") != std::string::npos;
    const bool same_storage = p.value().data_ptr() == dense[p.key()].data_ptr();
    EXPECT_EQ(same_storage, !sliced) << p.key();
    EXPECT_NE(copies[p.key()].data_ptr(), dense[p.key()].data_ptr()) << p.key();
    EXPECT_TRUE(torch::equal(copies[p.key()], p.value())) << p.key();
    EXPECT_EQ(p.value().device(), f.model->options().device());
    (sliced ? sliced_count : shared_count)++;
  }
  EXPECT_EQ(sliced_count, 9);  // gate, up, down of 3 layers
  EXPECT_GT(shared_count, 20);
  // Both give the sliced model's logits.
  const auto a = test::image_logits(shared, f.ids, f.pixels), b = test::image_logits(copied, f.ids, f.pixels);
  EXPECT_TRUE(torch::equal(a, b));
  // A copy can be written without touching the dense model.
  {
    torch::NoGradGuard no_grad;
    copies["language_model.model.embed_tokens.weight"].fill_(0);
  }
  EXPECT_FALSE(torch::equal(dense["language_model.model.embed_tokens.weight"],
                            torch::zeros_like(dense["language_model.model.embed_tokens.weight"])));
}

// prune_in_place: the plan's model is views of the dense model's reordered
// units, gives the sliced model's logits, leaves the dense model computing
// as before meanwhile, and puts its weights back bit for bit.
TEST(Prune, InPlacePrunedModelsAreViewsAndTheDenseModelComesBack) {
  Fixture f;
  const auto fp = model_fingerprint(f.model);
  auto stats = stats_from_batch(f.model, f.ids, f.pixels);
  const auto dense_logits = test::image_logits(f.model, f.ids, f.pixels);
  std::map<std::string, torch::Tensor> before;
  for (const auto& p : f.model->named_parameters()) before[p.key()] = p.value().clone();
  for (auto structure : {Structure::MlpChannels, Structure::AttentionHeads}) {
    for (auto method : {ImportanceMethod::WandaSp, ImportanceMethod::Flap}) {
      if (structure == Structure::AttentionHeads && method == ImportanceMethod::Flap) continue;
      SCOPED_TRACE(structure_name(structure) + " " + importance_name(method));
      const std::vector<double> allocation =
          structure == Structure::MlpChannels ? std::vector<double>{0.5, 0.2, 0.3} : std::vector<double>{0.2, 0.6, 0.2};
      const auto bp = make_blueprint(f.model->config(), fp, request(structure, 0.4, method, allocation));
      const auto importance = compute_importance(f.model, structure, method, &stats);
      auto sliced = apply_blueprint(f.model, fp, bp, importance, WeightSharing::ShareUnchanged);
      const auto expected = test::image_logits(sliced, f.ids, f.pixels);
      {
        auto in_place = prune_in_place(f.model, fp, bp, importance);
        EXPECT_TRUE(torch::allclose(test::image_logits(in_place.model, f.ids, f.pixels), expected, 1e-5, 1e-5));
        EXPECT_TRUE(torch::allclose(test::image_logits(f.model, f.ids, f.pixels), dense_logits, 1e-5, 1e-5));
        // No parameter of the plan's model has storage of its own but flap's bias.
        auto dense = f.model->named_parameters();
        int views = 0;
        for (const auto& p : in_place.model->named_parameters()) {
          if (p.key().find("down_proj.bias") != std::string::npos) continue;
          EXPECT_TRUE(p.value().is_alias_of(dense[p.key()])) << p.key();
          views += p.value().sizes() != dense[p.key()].sizes();
        }
        EXPECT_GT(views, 0);
        // Meanwhile the dense weights are reordered (where some layer keeps
        // other units than its first ones), not lost.
        bool reordered = false;
        for (const auto& units :
             kept_units(bp, structure == Structure::MlpChannels ? importance.mlp : importance.heads))
          for (size_t i = 0; i < units.size(); ++i) reordered = reordered || units[i] != static_cast<int64_t>(i);
        bool moved = false;
        for (const auto& p : dense) moved = moved || !torch::equal(p.value(), before[p.key()]);
        EXPECT_EQ(moved, reordered);
      }
      for (const auto& p : f.model->named_parameters())
        EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
    }
  }
  // A plan for another model is refused before anything moves.
  auto other = test::micro_model(3);
  const auto foreign = make_blueprint(other->config(), model_fingerprint(other),
                                      request(Structure::MlpChannels, 0.4, ImportanceMethod::Magnitude));
  const auto magnitude = compute_importance(f.model, Structure::MlpChannels, ImportanceMethod::Magnitude, nullptr);
  EXPECT_THROW(prune_in_place(f.model, fp, foreign, magnitude), Error);
  for (const auto& p : f.model->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), before[p.key()])) << p.key();
}

TEST(Prune, KeptUnitsAreTheMostImportant) {
  Blueprint bp;
  bp.units = {5};
  bp.kept = {3};
  const auto kept = kept_units(bp, {{0.5, 0.1, 0.9, 0.1, 0.7}});
  EXPECT_EQ(kept[0], (std::vector<int64_t>{0, 2, 4}));
}

TEST(Prune, CostCountsMatchTheModelBeforeAndAfterPruning) {
  Fixture f;
  const auto fp = model_fingerprint(f.model);
  auto check = [](LlavaModel& model) {
    const auto counts = count_parameters(model);
    const auto cost = model_cost(model->config(), 40);
    EXPECT_EQ(cost.language_params(), counts.language_model);
    EXPECT_EQ(cost.vision_params, counts.vision_tower);
    EXPECT_EQ(cost.projector_params, counts.projector);
    for (size_t l = 0; l < cost.layers.size(); ++l) EXPECT_EQ(cost.layers[l].params(), counts.decoder_layers[l]);
  };
  check(f.model);
  const auto bp =
      make_blueprint(f.model->config(), fp, request(Structure::MlpChannels, 0.5, ImportanceMethod::Magnitude));
  auto pruned =
      apply_blueprint(f.model, fp, bp, compute_importance(f.model, bp.structure, ImportanceMethod::Magnitude, nullptr));
  check(pruned);
  const auto before = model_cost(f.model->config(), 40), after = model_cost(pruned->config(), 40);
  EXPECT_LT(after.decoder_flops, before.decoder_flops);
  EXPECT_EQ(after.vision_flops, before.vision_flops);
  // The removed MLP parameters are the blueprint's achieved share of all MLP parameters.
  int64_t mlp_before = 0, mlp_after = 0;
  for (size_t l = 0; l < before.layers.size(); ++l) {
    mlp_before += before.layers[l].mlp_params;
    mlp_after += after.layers[l].mlp_params;
  }
  EXPECT_NEAR(1.0 - static_cast<double>(mlp_after) / static_cast<double>(mlp_before), bp.achieved_sparsity, 1e-12);
}

TEST(Prune, FlapBiasCompensationLowersTheLayerOutputError) {
  Fixture f;
  const auto fp = model_fingerprint(f.model);
  auto stats = stats_from_batch(f.model, f.ids, f.pixels);
  const auto bp = make_blueprint(f.model->config(), fp, request(Structure::MlpChannels, 0.5, ImportanceMethod::Flap));
  const auto importance = compute_importance(f.model, bp.structure, ImportanceMethod::Flap, &stats);
  auto pruned = apply_blueprint(f.model, fp, bp, importance);
  ASSERT_TRUE(pruned->config().text.mlp_down_bias);
  // The down_proj inputs of layer 1 on the calibration batch.
  torch::Tensor x;
  {
    torch::NoGradGuard no_grad;
    LlavaInputs inputs;
    inputs.input_ids = f.ids;
    inputs.image_features = f.model->encode_images(f.pixels);
    ForwardOptions forward;
    forward.tap = [&](const std::string& name, int64_t layer, const torch::Tensor& value) {
      if (name == "mlp.down_in" && layer == 1) x = value.reshape({-1, value.size(-1)}).clone();
    };
    f.model->forward(inputs, forward);
  }
  torch::NoGradGuard no_grad;
  const auto kept = kept_units(bp, importance.mlp)[1];
  auto idx = torch::tensor(kept, torch::kInt64);
  auto& dense_down = f.model->language_model->model->layers[1]->mlp->down_proj;
  auto& pruned_down = pruned->language_model->model->layers[1]->mlp->down_proj;
  auto reference = torch::matmul(x, dense_down->weight.t());
  auto without = torch::matmul(x.index_select(1, idx), pruned_down->weight.t());
  auto with = without + pruned_down->bias;
  const double error_without = (without - reference).square().mean().item<double>();
  const double error_with = (with - reference).square().mean().item<double>();
  EXPECT_LT(error_with, error_without);
}

TEST(Prune, RefusesABlueprintMadeForAnotherModel) {
  Fixture f;
  auto other = test::micro_model(22);
  const auto bp = make_blueprint(other->config(), model_fingerprint(other),
                                 request(Structure::MlpChannels, 0.3, ImportanceMethod::Magnitude));
  const auto importance = compute_importance(f.model, bp.structure, ImportanceMethod::Magnitude, nullptr);
  try {
    apply_blueprint(f.model, model_fingerprint(f.model), bp, importance);
    FAIL() << "applied a blueprint made for another model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("made for model"), std::string::npos) << e.what();
  }
}

TEST(Prune, CalibratedMethodsNeedStatistics) {
  Fixture f;
  EXPECT_THROW(compute_importance(f.model, Structure::MlpChannels, ImportanceMethod::WandaSp, nullptr), Error);
  EXPECT_THROW(parse_importance("nonsense"), Error);
  EXPECT_THROW(compute_importance(f.model, Structure::AttentionHeads, ImportanceMethod::Flap, nullptr), Error);
}

TEST(Prune, OwlAllocationPrunesOutlierLayersLess) {
  const auto a = owl_allocation({0.01, 0.05, 0.03}, 0.5);
  EXPECT_GT(a[0], a[2]);
  EXPECT_GT(a[2], a[1]);
  double total = 0;
  for (double x : a) total += x;
  EXPECT_NEAR(total, 1.0, 1e-12);
  const auto flat = owl_allocation({0.02, 0.02}, 0.5);
  EXPECT_NEAR(flat[0], 0.5, 1e-12);
}

// ---- blueprint files ----------------------------------------------------------

Blueprint sample_blueprint() {
  auto config = test::micro_config();
  return make_blueprint(config, "abc123",
                        request(Structure::MlpChannels, 0.4, ImportanceMethod::WandaSp, {0.2, 0.3, 0.5}));
}

TEST(Blueprint, RoundTripAndHashIgnoreKeyOrderAndWhitespace) {
  const auto bp = sample_blueprint();
  const auto json = blueprint_to_json(bp);
  const auto back = blueprint_from_json(nlohmann::json::parse(json.dump(4)), "test");
  EXPECT_EQ(blueprint_hash(back), blueprint_hash(bp));
  EXPECT_EQ(back.kept, bp.kept);
  EXPECT_EQ(back.allocation, bp.allocation);
  // A different plan hashes differently.
  auto other = bp;
  other.kept[0] -= 1;
  EXPECT_NE(blueprint_hash(other), blueprint_hash(bp));
  test::TempDir dir;
  write_blueprint(dir.file("b.json"), bp);
  EXPECT_EQ(blueprint_hash(read_blueprint(dir.file("b.json"))), blueprint_hash(bp));
}

TEST(Blueprint, MalformedFilesAreRejectedWithClearErrors) {
  const auto good = blueprint_to_json(sample_blueprint());
  auto expect_error = [](const nlohmann::json& j, const std::string& fragment) {
    try {
      blueprint_from_json(j, "plan.json");
      ADD_FAILURE() << "accepted: " << j.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("plan.json"), std::string::npos) << e.what();
    }
  };
  auto j = good;
  j["schema_version"] = 99;
  expect_error(j, "schema version 99");
  j = good;
  j["ratios"][1] = -0.2;
  expect_error(j, "ratio of layer 1");
  j = good;
  j["ratios"][0] = 1.5;
  expect_error(j, "ratio of layer 0");
  j = good;
  j["kept"].push_back(3);
  expect_error(j, "one entry per layer");
  j = good;
  j["allocation"] = {0.5, 0.5, 0.5};
  expect_error(j, "sum to 1");
  j = good;
  j["sparsity"] = 1.2;
  expect_error(j, "sparsity");
  j = good;
  j["structure"] = "rows";
  expect_error(j, "structure");
  j = good;
  j.erase("kept");
  expect_error(j, "kept");
  j = good;
  j["kept"][0] = 100000;
  expect_error(j, "keeps");
  test::TempDir dir;
  test::write_bytes(dir.file("bad.json"), "{ not json");
  EXPECT_THROW(read_blueprint(dir.file("bad.json")), Error);
}

// ---- export and the whole job ---------------------------------------------------

class PruneExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    write_random_model("micro", dir_->file("model"), 9);
    test::write_micro_benchmark(dir_->file("bench"), 2, 12, 4);
  }
  static void TearDownTestSuite() { delete dir_; }
  static test::TempDir* dir_;
};
test::TempDir* PruneExport::dir_ = nullptr;

TEST_F(PruneExport, ExportReloadsWithTheSameLogitsAndCanBePrunedAgain) {
  auto folder = load_model_folder(dir_->file("model"));
  const auto fp = model_fingerprint(folder.model);
  const auto bp = make_blueprint(folder.model->config(), fp,
                                 request(Structure::MlpChannels, 0.5, ImportanceMethod::Magnitude, {0.4, 0.4, 0.2}));
  auto pruned = apply_blueprint(folder.model, fp, bp,
                                compute_importance(folder.model, bp.structure, ImportanceMethod::Magnitude, nullptr));
  const std::string out = dir_->file("pruned");
  export_pruned_model(pruned, bp, dir_->file("model"), out);
  EXPECT_TRUE(fs::exists(out + "/tokenizer.model"));
  EXPECT_TRUE(fs::exists(out + "/preprocessor_config.json"));
  EXPECT_EQ(blueprint_hash(read_blueprint(out + "/blueprint.json")), blueprint_hash(bp));
  auto reloaded = load_model_folder(out);
  Fixture f;
  f.ids.masked_fill_(f.ids == 3, reloaded.model->config().image_token_index);
  EXPECT_TRUE(
      torch::equal(test::image_logits(reloaded.model, f.ids, f.pixels), test::image_logits(pruned, f.ids, f.pixels)));
  // info reads the per-layer widths from the folder alone.
  const auto summary = summarize_model_folder(out);
  for (size_t l = 0; l < bp.layers(); ++l) EXPECT_EQ(summary.config.text.layers[l].intermediate_size, bp.kept[l]);
  // A second pruning of the exported folder works on its new widths.
  PruneJob job;
  job.model_dir = out;
  job.out_dir = dir_->file("pruned-twice");
  job.sparsity = 0.3;
  job.importance = ImportanceMethod::Magnitude;
  const auto again = run_prune_job(job);
  EXPECT_EQ(again.blueprint.units, bp.kept);
  EXPECT_LT(again.after.language_params(), again.before.language_params());
  // An existing non-empty output folder is refused and left alone.
  EXPECT_THROW(run_prune_job(job), Error);
  EXPECT_TRUE(fs::exists(job.out_dir + "/config.json"));
}

TEST_F(PruneExport, CalibratedJobWithOwlAllocationAndFlap) {
  PruneJob job;
  job.model_dir = dir_->file("model");
  job.out_dir = dir_->file("owl-flap");
  job.calibration_dir = dir_->file("bench");
  job.sparsity = 0.5;
  job.allocation = "owl";
  job.importance = ImportanceMethod::Flap;
  job.calibration.samples = 8;
  const auto result = run_prune_job(job);
  EXPECT_EQ(result.blueprint.source, "owl");
  EXPECT_FALSE(result.blueprint.calibration_fingerprint.empty());
  EXPECT_NEAR(result.blueprint.achieved_sparsity, 0.5, 0.02);
  auto reloaded = load_model_folder(job.out_dir);
  EXPECT_TRUE(reloaded.model->config().text.mlp_down_bias);
  // Replaying the written blueprint gives the same plan.
  PruneJob replay = job;
  replay.out_dir = dir_->file("owl-flap-replay");
  replay.sparsity.reset();
  replay.allocation = job.out_dir + "/blueprint.json";
  const auto again = run_prune_job(replay);
  EXPECT_EQ(blueprint_hash(again.blueprint), blueprint_hash(result.blueprint));
}

TEST_F(PruneExport, JobErrorsComeBeforeAnyWrite) {
  PruneJob job;
  job.model_dir = dir_->file("model");
  job.out_dir = dir_->file("never");
  job.sparsity = 0.5;
  job.importance = ImportanceMethod::WandaSp;  // needs --calibration
  EXPECT_THROW(run_prune_job(job), Error);
  job.importance = ImportanceMethod::Magnitude;
  job.sparsity.reset();
  EXPECT_THROW(run_prune_job(job), Error);  // no sparsity
  job.sparsity = 0.5;
  job.allocation = dir_->file("missing.json");
  EXPECT_THROW(run_prune_job(job), Error);
  EXPECT_FALSE(fs::exists(job.out_dir));
}

}  // namespace
}  // namespace hipp
