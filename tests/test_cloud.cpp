// The operating-point cloud's data (front, hidden origins, links, CSV) and
// the preference simplex, apart from any drawing.
#include <gtest/gtest.h>

#include <cmath>

#include "study/cloud.h"
#include "trial_fixture.h"

namespace hipp {
namespace {

using test::complete_trial;

TEST(Cloud, FrontHiddenKindsLinksAndCsv) {
  std::vector<Trial> trials = {
      complete_trial(1, "uniform", 0.80, 0.60, 0.5),
      complete_trial(2, "grpo:1", 0.85, 0.55, 0.5, Preference{0.8, 0.1, 0.1}),
      complete_trial(3, "grpo:2", 0.70, 0.50, 0.5, Preference{0.2, 0.7, 0.1}),  // dominated by 1
      complete_trial(4, "query", 0.75, 0.65, 0.5, Preference{0.1, 0.8, 0.1}),
      complete_trial(5, "finetune", 0.82, 0.62, 0.5, std::nullopt, 1),
  };
  Trial running;
  running.id = 6;
  running.origin = "random";
  trials.push_back(running);  // not complete: never drawn
  CloudRequest r;
  auto data = cloud_data(trials, r);
  ASSERT_EQ(data.points.size(), 5u);
  EXPECT_EQ(data.points[1].kind, "grpo");
  EXPECT_DOUBLE_EQ(data.points[1].colour, 0.8);
  EXPECT_TRUE(std::isnan(data.points[0].colour));  // no preference
  // Front in (POPE F1, ScienceQA): 2 (best F1), 5, 4 (best SQA); 1 is dominated by 5, 3 by everyone.
  std::vector<int64_t> front;
  for (size_t i : data.front) front.push_back(data.points[i].trial);
  EXPECT_EQ(front, (std::vector<int64_t>{4, 5, 2}));  // sorted by x
  EXPECT_FALSE(data.points[0].on_front);
  ASSERT_EQ(data.links.size(), 1u);
  EXPECT_EQ(data.points[data.links[0].first].trial, 1);
  EXPECT_EQ(data.points[data.links[0].second].trial, 5);

  // Hiding fine-tunes brings trial 1 back to the front and drops the link.
  r.hidden_kinds = {"finetune"};
  data = cloud_data(trials, r);
  EXPECT_EQ(data.points.size(), 4u);
  EXPECT_TRUE(data.points[0].on_front);
  EXPECT_TRUE(data.links.empty());

  // Other axes and colours; the full subset holds none of these trials.
  r.x = CloudAxis::PopeF1Adversarial;
  r.y = CloudAxis::Compression;
  r.colour = CloudColour::Sparsity;
  data = cloud_data(trials, r);
  EXPECT_DOUBLE_EQ(data.points[1].x, 0.84);
  EXPECT_DOUBLE_EQ(data.points[1].colour, 0.5);
  EXPECT_FALSE(axis_value(trials[0], CloudAxis::PopeF1Popular));  // the split is missing
  EXPECT_DOUBLE_EQ(*axis_value(trials[0], CloudAxis::PopeYesRatio), 0.5);
  r.subset = Subset::Full;
  EXPECT_TRUE(cloud_data(trials, r).points.empty());

  // Latency: measured against the dense model's, lower is better on the front.
  EXPECT_FALSE(axis_value(trials[0], CloudAxis::Latency));  // not measured
  std::vector<Trial> timed = {complete_trial(1, "uniform", 0.80, 0.6, 0.3),
                              complete_trial(2, "uniform", 0.80, 0.6, 0.6)};
  timed[0].metrics->raw["latency_ms"] = 8.0;
  timed[1].metrics->raw["latency_ms"] = 5.0;
  for (auto& t : timed) t.metrics->raw["dense_latency_ms"] = 10.0;
  EXPECT_DOUBLE_EQ(*axis_value(timed[1], CloudAxis::Latency), 0.5);
  r = CloudRequest{};
  r.x = CloudAxis::Latency;
  data = cloud_data(timed, r);
  ASSERT_EQ(data.front.size(), 1u);
  EXPECT_EQ(data.points[data.front[0]].trial, 2);  // as accurate, faster

  r = CloudRequest{};
  const auto csv = cloud_csv(cloud_data(trials, r), r);
  EXPECT_EQ(csv.rfind("trial,origin,\"POPE mean F1\",\"ScienceQA accuracy\"", 0), 0u) << csv;
  EXPECT_NE(csv.find("\n4,query,0.75,0.65,0.1,0.8,0.1,1\n"), std::string::npos) << csv;  // front first
  EXPECT_NE(csv.find("\n3,grpo,0.7,0.5,0.2,0.7,0.1,0\n"), std::string::npos) << csv;

  // With the trials and their plans: sparsity, metrics and per-layer ratios.
  const auto full = cloud_csv(cloud_data(trials, r), r, trials, [](int64_t) { return std::vector<double>{0.25, 0.5}; });
  const auto header = full.substr(0, full.find('\n'));
  for (const char* column : {",subset,sparsity,robustness,utility,pope_mean_f1", ",scienceqa_no_image,parent",
                             ",removed_layer_0,removed_layer_1"})
    EXPECT_NE(header.find(column), std::string::npos) << header;
  const auto start = full.find("\n4,query,") + 1;
  const auto row = full.substr(start, full.find('\n', start) - start);
  EXPECT_NE(row.find(",search,0.5,"), std::string::npos) << row;
  EXPECT_EQ(row.substr(row.size() - 9), ",0.25,0.5") << row;
}

TEST(Cloud, PreferenceCurves) {
  EXPECT_EQ(curve_origin_name(3, 7), "curve:3:7");
  EXPECT_EQ(curve_origin("curve:3:7"), std::make_optional(std::make_pair(int64_t{3}, 7)));
  for (const char* other : {"grpo:3", "curve", "curve:", "curve:x:1", "curve:3:", "curve:3:1x", "curve:0:1", "query"})
    EXPECT_FALSE(curve_origin(other)) << other;

  const auto path = preference_path({1, 0, 0}, {0, 1, 0}, 5);
  ASSERT_EQ(path.size(), 5u);
  EXPECT_DOUBLE_EQ(path[0][0], 1.0);
  EXPECT_DOUBLE_EQ(path[2][0], 0.5);
  EXPECT_DOUBLE_EQ(path[2][1], 0.5);
  EXPECT_DOUBLE_EQ(path[4][1], 1.0);
  for (const auto& w : preference_path({0.2, 0.2, 0.6}, {0.5, 0.5, 0}, 4)) EXPECT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-12);

  // The newest curve's points, in path order, whatever the trial order.
  std::vector<Trial> trials = {
      complete_trial(1, "uniform", 0.8, 0.6, 0.5),     complete_trial(2, "curve:1:0", 0.9, 0.5, 0.5),
      complete_trial(3, "curve:2:1", 0.85, 0.55, 0.5), complete_trial(4, "curve:2:0", 0.9, 0.5, 0.5),
      complete_trial(5, "curve:2:2", 0.8, 0.6, 0.5),   complete_trial(6, "curve:1:1", 0.7, 0.7, 0.5)};
  const auto data = cloud_data(trials, CloudRequest{});
  EXPECT_EQ(data.curve_id, 2);
  ASSERT_EQ(data.curve.size(), 3u);
  EXPECT_EQ(data.points[data.curve[0]].trial, 4);
  EXPECT_EQ(data.points[data.curve[1]].trial, 3);
  EXPECT_EQ(data.points[data.curve[2]].trial, 5);
  EXPECT_EQ(data.points[data.curve[0]].kind, "curve");
  EXPECT_TRUE(cloud_data({trials[0]}, CloudRequest{}).curve.empty());
}

TEST(Cloud, RebalanceStaysOnTheSimplex) {
  const Preference w{0.5, 0.3, 0.2};
  auto r = rebalance(w, 0, 0.8);
  EXPECT_DOUBLE_EQ(r[0], 0.8);
  EXPECT_NEAR(r[1], 0.12, 1e-12);  // the others keep their 3:2 ratio
  EXPECT_NEAR(r[2], 0.08, 1e-12);
  r = rebalance(Preference{1, 0, 0}, 0, 0.4);  // both others at zero: equal shares
  EXPECT_NEAR(r[1], 0.3, 1e-12);
  EXPECT_NEAR(r[2], 0.3, 1e-12);
  for (double v : {-0.5, 0.0, 0.37, 1.0, 2.0, std::nan("")}) {
    for (int i = 0; i < 3; ++i) {
      r = rebalance(w, i, v);
      EXPECT_NEAR(r[0] + r[1] + r[2], 1.0, 1e-12);
      for (double x : r) EXPECT_GE(x, 0.0);
    }
  }
  EXPECT_DOUBLE_EQ(rebalance(w, 2, 2.0)[2], 1.0);
}

TEST(Cloud, LegendGoesWhereItHidesTheFewestPoints) {
  auto point = [](double x, double y) {
    CloudPoint p;
    p.x = x, p.y = y;
    return p;
  };
  CloudData data;
  // View [0, 1] x [0, 1]; an empty view keeps the top left.
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 1), LegendCorner::TopLeft);
  // A curve from bottom right to top left, as a robustness-utility curve runs.
  data.points = {point(0.9, 0.1), point(0.6, 0.4), point(0.1, 0.9)};
  data.curve = {0, 1, 2};
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 1), LegendCorner::TopRight);
  // Two plain points top right: the bottom left is now the emptiest.
  data.points.push_back(point(0.95, 0.95));
  data.points.push_back(point(0.9, 0.85));
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 1), LegendCorner::BottomLeft);
  // Dominated points not drawn do not count: the top right is empty again.
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 1, /*dominated_drawn=*/false), LegendCorner::TopRight);
  data.points.push_back(point(0.05, 0.05));
  data.points.back().on_front = true;
  data.front = {5};
  // Top left 3, top right 2, bottom left 3, bottom right 3.
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 1), LegendCorner::TopRight);
  // Points outside the view do not count: zoomed into the lower half, the
  // curve's end at (0.1, 0.9) is off screen, (0.6, 0.4) is not in a corner.
  EXPECT_EQ(legend_corner(data, 0, 1, 0, 0.5), LegendCorner::TopLeft);
}

}  // namespace
}  // namespace hipp
