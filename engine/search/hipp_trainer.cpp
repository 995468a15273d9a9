#include "search/hipp_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "prune/budget.h"
#include "study/cloud.h"
#include "study/pareto.h"
#include "study/selection.h"

namespace hipp {

namespace {

std::string blob_name(const std::string& run, const std::string& what) { return run + "/" + what; }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

bool study_has_policy(const StudyStore& store, const std::string& run) {
  return store.blob(blob_name(run, "checkpoint")).has_value();
}

HippTrainer::HippTrainer(PlanEvaluator& evaluator, StudyStore& store, const GrpoSettings& settings, std::string run)
    : evaluator_(&evaluator), context_(evaluator.session()), store_(store), settings_(settings), run_(std::move(run)) {
  setup();
}

HippTrainer::HippTrainer(PlanContext& context, StudyStore& store, const GrpoSettings& settings, std::string run)
    : context_(context), store_(store), settings_(settings), run_(std::move(run)) {
  setup();
}

PlanEvaluator& HippTrainer::evaluator() {
  if (!evaluator_) throw Error("this policy was opened for queries only (no model loaded)");
  return *evaluator_;
}

void HippTrainer::setup() {
  if (auto stored = store_.blob(blob_name(run_, "settings"))) {
    const int iterations = settings_.iterations;
    settings_ = grpo_settings_from_json(nlohmann::json::parse(*stored), "study run " + run_);
    settings_.iterations = iterations;  // a resumed run may be asked to go further
  }
  const auto& study = context_.settings();
  const auto features = layer_features(context_.layer_states(), settings_.vision_state);
  std::vector<double> flat;
  for (const auto& row : features) flat.insert(flat.end(), row.begin(), row.end());
  states_ = torch::tensor(flat, torch::kFloat64).reshape({static_cast<int64_t>(features.size()), -1});
  PolicyConfig config;
  config.state_dim = states_.size(1);
  config.hidden = settings_.hidden;
  config.s_min = study.s_min;
  config.s_max = study.s_max;
  config.r_max = study.r_max;
  config.hierarchical = settings_.hierarchical;
  config.preference_products = settings_.preference_products;
  config.compression_head =
      settings_.hierarchical && settings_.budget_polish > 0 && settings_.polish == PolishTarget::Plan;
  torch::manual_seed(settings_.seed);
  policy_ = HippPolicy(config);
  torch::manual_seed(settings_.seed);
  initial_ = HippPolicy(config);  // the same initial weights, for the KL term
  // GRPO steps every part but the compression head, which only the plan polish fits.
  std::vector<torch::Tensor> trained;
  for (const auto& p : policy_->named_parameters())
    if (p.key().rfind("compression_head.", 0) != 0) trained.push_back(p.value());
  optimizer_ = std::make_unique<torch::optim::Adam>(trained, torch::optim::AdamOptions(settings_.lr));
  load_checkpoint();
}

void HippTrainer::save_checkpoint(bool snapshot) {
  torch::serialize::OutputArchive archive, policy_archive, optimizer_archive;
  policy_->save(policy_archive);
  optimizer_->save(optimizer_archive);
  archive.write("policy", policy_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("completed", torch::tensor(static_cast<int64_t>(completed_)));
  archive.write("evaluations", torch::tensor(static_cast<int64_t>(evaluations_)));
  archive.write("polished_after", torch::tensor(static_cast<int64_t>(polished_after_)));
  std::ostringstream bytes;
  archive.save_to(bytes);
  store_.put_blob(blob_name(run_, "settings"), grpo_settings_to_json(settings_).dump());
  if (snapshot) store_.put_blob(blob_name(run_, "iteration-" + std::to_string(completed_)), bytes.str());
  store_.put_blob(blob_name(run_, "checkpoint"), bytes.str());
}

bool HippTrainer::load_checkpoint() {
  const auto bytes = store_.blob(blob_name(run_, "checkpoint"));
  if (!bytes) return false;
  std::istringstream in(*bytes);
  torch::serialize::InputArchive archive, policy_archive, optimizer_archive;
  archive.load_from(in);
  archive.read("policy", policy_archive);
  archive.read("optimizer", optimizer_archive);
  policy_->load(policy_archive);
  optimizer_->load(optimizer_archive);
  torch::Tensor completed, evaluations;
  archive.read("completed", completed);
  archive.read("evaluations", evaluations);
  completed_ = static_cast<int>(completed.item<int64_t>());
  evaluations_ = static_cast<int>(evaluations.item<int64_t>());
  torch::Tensor polished;  // absent from checkpoints stored before the budget polish existed
  polished_after_ = archive.try_read("polished_after", polished) ? static_cast<int>(polished.item<int64_t>()) : 0;
  return true;
}

std::vector<ReplayPlan> HippTrainer::replay_pool() {
  std::vector<ReplayPlan> pool;
  std::set<int64_t> seen;
  for (const auto& t : select_trials(store_.trials(), {Subset::Search, {}})) {
    if (t.parent || !seen.insert(t.plan_id).second) continue;
    auto it = replay_cache_.find(t.plan_id);
    if (it == replay_cache_.end()) {
      const auto record = store_.plan(t.plan_id);
      if (!record) continue;
      const auto b = blueprint_from_json(record->blueprint, "study plan " + std::to_string(t.plan_id));
      if (static_cast<int64_t>(b.layers()) != states_.size(0) || b.allocation.size() != b.layers()) continue;
      ReplayPlan p;
      p.sparsity = b.sparsity;
      p.allocation = b.allocation;
      for (size_t l = 0; l < b.layers(); ++l) p.ratios.push_back(b.ratio(l));
      p.score = stability(b);
      p.score.objectives = t.metrics->objectives;
      it = replay_cache_.emplace(t.plan_id, std::move(p)).first;
    }
    pool.push_back(it->second);
  }
  return pool;
}

void HippTrainer::train(const std::function<void(const HippIterationReport&)>& progress,
                        const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  // Two processes training one run would both run every iteration.
  StudyClaim claim(store_, "run:" + run_, "training run '" + run_ + "'");
  load_checkpoint();  // where another process may have left the run
  if (completed_ == 0) store_.put_blob(blob_name(run_, "settings"), grpo_settings_to_json(settings_).dump());
  for (int iteration = completed_ + 1; iteration <= settings_.iterations; ++iteration) {
    // Reseeded per iteration: a resumed run draws what an uninterrupted one would.
    torch::manual_seed(settings_.seed * 1000003ull + static_cast<uint64_t>(iteration));
    std::vector<Episode> episodes;
    double return_sum = 0;
    size_t own_episodes = 0;  // the sampled ones, without the relabelled copies
    const std::string origin = "grpo:" + std::to_string(iteration);
    // Every group is sampled and evaluated first (one batch, which workers
    // can share); the returns follow, once the objectives' spreads can
    // include this iteration's plans.
    std::vector<std::vector<Episode>> groups;
    std::vector<PlanJob> jobs;
    for (int b = 0; b < settings_.prefs_per_iter; ++b) {
      const Preference w = draw_preference(settings_.corner_prob);
      const auto& study = context_.settings();
      // The flat ablation draws per-layer ratios, so its sparsity is never fixed.
      const auto fixed =
          settings_.hierarchical ? draw_group_sparsity(settings_.fixed_share, study.s_min, study.s_max) : std::nullopt;
      std::vector<Episode> group;
      for (int g = 0; g < settings_.group; ++g) {
        if (cancel && cancel->load()) throw Cancelled();
        Episode e = sample_episode(policy_, states_, w, fixed);
        jobs.push_back({context_.plan(e.plan.sparsity, e.plan.allocation, "policy"), origin, w, Subset::Search});
        group.push_back(std::move(e));
      }
      groups.push_back(std::move(group));
    }
    const auto outcomes = evaluator().evaluate_batch(jobs);
    evaluations_ += static_cast<int>(outcomes.size());
    std::vector<std::vector<ScoredPlan>> scores;
    for (size_t b = 0, k = 0; b < groups.size(); ++b) {
      std::vector<ScoredPlan> scored;
      for (size_t g = 0; g < groups[b].size(); ++g, ++k) {
        const auto& outcome = outcomes[k];
        ScoredPlan score;
        score.failed = outcome.failed;
        if (!outcome.failed) {
          score = stability(jobs[k].blueprint);
          score.objectives = outcome.metrics.objectives;
        }
        scored.push_back(score);
      }
      scores.push_back(std::move(scored));
    }
    // The spreads come from the study's search-subset plans so far (every
    // origin, this iteration's included): what a resumed run reads too.
    const auto spread = objective_spreads();
    for (size_t b = 0; b < groups.size(); ++b) {
      std::vector<Preference> relabels;
      for (int k = 0; k < settings_.relabel; ++k) relabels.push_back(draw_preference(settings_.corner_prob));
      auto more =
          group_episodes(policy_, states_, std::move(groups[b]), scores[b], settings_, spread, relabels, &return_sum);
      own_episodes += scores[b].size();
      for (auto& e : more) episodes.push_back(std::move(e));
    }
    if (settings_.replay > 0)
      for (auto& e : replay_episodes(policy_, states_, replay_pool(), settings_, spread, settings_.replay))
        episodes.push_back(std::move(e));
    grpo_update(policy_, *optimizer_, states_, episodes, settings_, settings_.kl_coef > 0 ? &initial_ : nullptr);
    completed_ = iteration;
    save_checkpoint();
    if (progress) {
      HippIterationReport report;
      report.iteration = iteration;
      report.iterations = settings_.iterations;
      report.evaluations = evaluations_;
      report.mean_return = return_sum / static_cast<double>(std::max<size_t>(own_episodes, 1));
      report.hypervolume =
          hypervolume(objectives_of(select_trials(store_.trials(), {Subset::Search, policy_origins()})));
      report.seconds = seconds_since(start);
      progress(report);
    }
  }
  if (settings_.budget_polish > 0 && settings_.hierarchical && completed_ > polished_after_) {
    if (progress) {
      HippIterationReport report;
      report.iteration = report.iterations = completed_;
      report.evaluations = evaluations_;
      report.seconds = seconds_since(start);
      report.polish_steps = settings_.budget_polish;
      progress(report);
    }
    polish(cancel);
  }
}

std::array<double, 3> HippTrainer::objective_spreads() const {
  if (!settings_.spread_scaled) return {1, 1, 1};
  return objective_spread(objectives_of(select_trials(store_.trials(), {Subset::Search, {}})));
}

void HippTrainer::polish(const std::atomic<bool>* cancel) {
  const auto spread = objective_spreads();
  // The plans a sparsity can be learnt from: scored, and not collapsed
  // (the gate would all but silence them in an update).
  std::vector<ReplayPlan> pool;
  for (auto& p : replay_pool())
    if (!p.score.failed &&
        (!settings_.gate || stability_gate(p.score.rho_min, settings_.tau, settings_.temperature) >= 0.5))
      pool.push_back(std::move(p));
  if (pool.size() < 2) return;
  const bool whole_plan = settings_.polish == PolishTarget::Plan;
  std::vector<torch::Tensor> heads, compression;
  for (const auto& p : policy_->named_parameters()) {
    if (p.key().rfind("budget_head.", 0) == 0) heads.push_back(p.value());
    if (p.key().rfind("compression_head.", 0) == 0) compression.push_back(p.value());
  }
  if (heads.empty()) throw Error("the policy has no budget head to polish");
  if (whole_plan && compression.empty()) throw Error("the policy has no compression head to polish");
  if (whole_plan) heads.insert(heads.end(), compression.begin(), compression.end());
  const auto& study = context_.settings();
  {
    // The compression head learns here alone (GRPO leaves it out): it takes
    // gradients only within this block, whatever ends it.
    struct Learning {
      std::vector<torch::Tensor> params;
      explicit Learning(std::vector<torch::Tensor> p) : params(std::move(p)) {
        for (auto& t : params) t.set_requires_grad(true);
      }
      ~Learning() {
        for (auto& t : params) t.set_requires_grad(false);
      }
    } learning(whole_plan ? compression : std::vector<torch::Tensor>{});
    torch::optim::Adam optimizer(heads, torch::optim::AdamOptions(settings_.lr));
    constexpr int kPreferencesPerStep = 32;
    for (int step = 1; step <= settings_.budget_polish; ++step) {
      if (cancel && cancel->load()) throw Cancelled();
      // Seeded by the iteration it follows and the step: a resumed run polishes alike.
      torch::manual_seed(settings_.seed * 1000003ull + 7919ull * static_cast<uint64_t>(completed_) +
                         static_cast<uint64_t>(step) + 500009ull);
      optimizer.zero_grad();
      auto loss = torch::zeros({}, torch::kFloat64);
      for (int k = 0; k < kPreferencesPerStep; ++k) {
        const Preference w = draw_preference(settings_.corner_prob);
        const Preference weights = settings_.spread_scaled ? spread_weights(w, spread) : w;
        // The study's best plan for w: by w' . o (plan polish), or by the
        // return with the stability term over the uniform plan's at the same
        // sparsity (budget polish).
        const ReplayPlan* best = &pool.front();
        double best_return = -1e300;
        for (const auto& p : pool) {
          const double r =
              whole_plan ? plan_return(weights, p.score.objectives, 1.0, 0.0)
                         : plan_return(weights, p.score.objectives, return_flow(p.score, true), settings_.lambda_stab);
          if (r > best_return) best_return = r, best = &p;
        }
        // Off the range's ends, where a Beta with both parameters above 1 has no density.
        const double margin = 1e-3 * (study.s_max - study.s_min);
        const double s = std::clamp(best->sparsity, study.s_min + margin, study.s_max - margin);
        loss = loss - policy_->budget_log_prob(states_, w, s) / kPreferencesPerStep;
        if (whole_plan) {
          // Its allocation at its own sparsity; an untouched layer is raised
          // to 1e-6 so that log(0) does not rule the step.
          PlanDraw target;
          target.sparsity = best->sparsity;
          target.allocation = best->allocation;
          double total = 0;
          for (double& a : target.allocation) total += (a = std::max(a, 1e-6));
          for (double& a : target.allocation) a /= total;
          loss = loss - policy_->log_prob(states_, w, target, target.sparsity) / kPreferencesPerStep;
        }
      }
      loss.backward();
      torch::nn::utils::clip_grad_norm_(heads, 1.0);
      optimizer.step();
    }
  }
  // Only the heads were stepped; no gradient is left for the next iteration's update.
  for (auto& p : policy_->parameters()) p.mutable_grad() = torch::Tensor();
  polished_after_ = completed_;
  save_checkpoint(false);  // RUN/iteration-N keeps the policy as the iteration left it
}

ScoredPlan HippTrainer::stability(const Blueprint& plan) {
  auto& session = evaluator().session();
  const FlowKept flow = summarise_flow(session.retained_flow(plan));
  ScoredPlan out;
  out.rho_geo = flow.geo;
  out.rho_min = flow.min;
  if (!reads_uniform_flow(settings_)) return out;
  auto it = uniform_flow_.find(plan.sparsity);
  if (it == uniform_flow_.end()) {
    const auto uniform = session.plan(plan.sparsity, uniform_allocation(session.layers()), "uniform");
    it = uniform_flow_.emplace(plan.sparsity, summarise_flow(session.retained_flow(uniform)).geo).first;
  }
  out.rho_uniform = it->second;
  return out;
}

Blueprint HippTrainer::query(const Preference& w, std::optional<double> sparsity) {
  const auto plan = policy_->query(states_, w, sparsity);
  return context_.plan(plan.sparsity, plan.allocation, "policy");
}

std::vector<EvalOutcome> HippTrainer::evaluate_query_grid(int count, const std::vector<double>& sparsities) {
  std::vector<PlanJob> jobs;
  for (const auto& w : preference_grid(count)) {
    if (sparsities.empty()) {
      jobs.push_back({query(w), "query", w, Subset::Search});
    } else {
      for (double s : sparsities) jobs.push_back({query(w, s), "query", w, Subset::Search});
    }
  }
  return evaluator().evaluate_batch(jobs);
}

int64_t HippTrainer::evaluate_curve(const Preference& from, const Preference& to, int points, double sparsity,
                                    Subset subset, const std::function<void(const CurvePoint&)>& point,
                                    const std::atomic<bool>* cancel) {
  int64_t id = 1;
  for (const auto& t : store_.trials())
    if (const auto c = curve_origin(t.origin)) id = std::max(id, c->first + 1);
  const auto path = preference_path(from, to, points);
  for (size_t k = 0; k < path.size(); ++k) {
    if (cancel && cancel->load()) throw Cancelled();
    CurvePoint p;
    p.index = k;
    p.count = path.size();
    p.preference = path[k];
    p.plan = query(path[k], sparsity);
    p.outcome = evaluator().evaluate(p.plan, curve_origin_name(id, static_cast<int>(k)), path[k], subset);
    if (p.outcome.failed) throw Error("curve point " + std::to_string(k + 1) + ": " + p.outcome.error);
    if (point) point(p);
  }
  return id;
}

}  // namespace hipp
