#include <gtest/gtest.h>

#include "prune/importance.h"
#include "state/layer_state.h"
#include "support.h"

namespace hipp {
namespace {

// A 6-token sequence: BOS, two image tokens, a separator, two text queries.
struct Pattern {
  torch::Tensor image = torch::tensor({0, 1, 1, 0, 0, 0}, torch::kBool);
  torch::Tensor text = torch::tensor({0, 0, 0, 0, 1, 1}, torch::kBool);
};

// Causal attention where text queries put `on_image` of their mass on the two
// image keys (split evenly) and the rest on themselves; other rows attend to
// themselves.
torch::Tensor attention(double on_image, int64_t heads = 2) {
  auto a = torch::eye(6, torch::kFloat64);
  for (int64_t q : {4, 5}) {
    a[q].zero_();
    a[q][1] = on_image / 2;
    a[q][2] = on_image / 2;
    a[q][q] = 1 - on_image;
  }
  return a.unsqueeze(0).expand({heads, 6, 6}).clone();
}

TEST(VisualSensitivity, AttentionMassPointsAtTheFusionLayer) {
  Pattern p;
  const std::vector<double> per_layer{0.0, 0.05, 0.8, 0.1};  // layer 2 fuses
  std::vector<double> mass, gain;
  auto rollout = torch::eye(6, torch::kFloat64);
  double previous = 0;
  for (double on_image : per_layer) {
    const auto probs = attention(on_image);
    mass.push_back(vision_attention_mass(probs, p.image, p.text));
    rollout = rollout_step(probs.mean(0), rollout);
    const double flow = rollout_vision_flow(rollout, p.image, p.text);
    gain.push_back(flow - previous);
    previous = flow;
  }
  EXPECT_NEAR(mass[2], 0.8, 1e-12);
  EXPECT_NEAR(mass[0], 0.0, 1e-12);
  EXPECT_EQ(std::max_element(mass.begin(), mass.end()) - mass.begin(), 2);
  EXPECT_EQ(std::max_element(gain.begin(), gain.end()) - gain.begin(), 2);
  // The rollout of one layer by hand: R = 0.5 A + 0.5 I, so a text query's
  // flow from the image is half its attention mass on it.
  auto one = rollout_step(attention(0.8).mean(0), torch::eye(6, torch::kFloat64));
  EXPECT_NEAR(rollout_vision_flow(one, p.image, p.text), 0.4, 1e-12);
}

TEST(LayerState, SynFlowChannelFlowMatchesTheFormula) {
  LlamaMlp mlp(2, 3, false, torch::TensorOptions().dtype(torch::kFloat32));
  torch::NoGradGuard no_grad;
  mlp->gate_proj->weight.copy_(torch::tensor({{1.0, -2.0}, {0.5, 0.5}, {0.0, 3.0}}));
  mlp->up_proj->weight.copy_(torch::tensor({{-1.0, 1.0}, {2.0, 0.0}, {1.0, 1.0}}));
  mlp->down_proj->weight.copy_(torch::tensor({{1.0, -1.0, 0.5}, {2.0, 0.0, -0.5}}));
  const auto flow = synflow_channel_flow(mlp);
  ASSERT_EQ(flow.size(), 3u);
  EXPECT_NEAR(flow[0], 3.0 * 2.0 * 3.0, 1e-6);  // (1+2) (1+1) (1+2)
  EXPECT_NEAR(flow[1], 1.0 * 2.0 * 1.0, 1e-6);  // (0.5+0.5) (2+0) (1+0)
  EXPECT_NEAR(flow[2], 3.0 * 2.0 * 1.0, 1e-6);  // (0+3) (1+1) (0.5+0.5)
}

TEST(LayerState, LowImportanceMassByHand) {
  const std::vector<double> imp{4, 1, 3, 2, 10, 0, 0, 0, 0, 0};  // total 20
  EXPECT_NEAR(low_importance_mass(imp, 0.5), 0.0, 1e-12);        // five zeros
  EXPECT_NEAR(low_importance_mass(imp, 0.7), 3.0 / 20, 1e-12);   // 0 0 0 0 0 1 2
  EXPECT_NEAR(low_importance_mass(imp, 0.9), 10.0 / 20, 1e-12);
}

TEST(LayerState, StatesOfAMicroModelAndTheirFeatures) {
  auto model = test::micro_model(4);
  CalibrationStats stats;
  stats.tokens = 10;
  stats.vision_samples = 2;
  const size_t L = 3;
  std::vector<std::vector<double>> importance;
  for (size_t l = 0; l < L; ++l) {
    LayerActivations a;
    a.token_norm_sum = 10.0 * static_cast<double>(l + 1);
    a.token_norm_sum_sq = 10.0 * static_cast<double>((l + 1) * (l + 1)) + 10.0;  // std 1
    a.vision_mass_sum = l == 1 ? 1.2 : 0.2;
    a.vision_flow_sum = 0.2 * static_cast<double>(l + 1) + (l >= 1 ? 0.6 : 0.0);
    stats.layers.push_back(a);
    std::vector<double> imp(128, 1.0);
    imp[0] = 100.0;  // one outlier channel
    importance.push_back(imp);
  }
  const auto states = compute_layer_states(model, stats, importance);
  ASSERT_EQ(states.size(), L);
  EXPECT_NEAR(states[2].position, 1.0, 1e-12);
  EXPECT_NEAR(states[1].token_norm_mean, 2.0, 1e-12);
  EXPECT_NEAR(states[0].token_norm_std, 1.0, 1e-9);
  EXPECT_NEAR(states[1].vision_mass, 0.6, 1e-12);
  EXPECT_NEAR(states[1].vision_flow_gain, (0.4 + 0.6 - 0.2) / 2, 1e-12);
  EXPECT_NEAR(states[0].outlier_ratio, 1.0 / 128, 1e-12);
  double share = 0;
  for (const auto& s : states) share += s.synflow_share;
  EXPECT_NEAR(share, 1.0, 1e-12);
  const auto back = layer_states_from_json(layer_states_to_json(states), "test");
  EXPECT_NEAR(back[1].vision_flow_gain, states[1].vision_flow_gain, 1e-15);
  const auto features = layer_features(states);
  EXPECT_EQ(features[0].size(), layer_feature_names().size());
  EXPECT_EQ(layer_features(states, false)[0].size(), layer_feature_names(false).size());
  EXPECT_EQ(layer_feature_names().size(), layer_feature_names(false).size() + 2);
}

}  // namespace
}  // namespace hipp
