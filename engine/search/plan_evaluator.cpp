#include "search/plan_evaluator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "prune/cost.h"

namespace hipp {

Objectives objectives_from(const BenchmarkResult& r, const BenchmarkResult& dense, double achieved_sparsity) {
  Objectives o;
  o.robustness = dense.pope_mean_f1 > 0 ? r.pope_mean_f1 / dense.pope_mean_f1 : r.pope_mean_f1;
  o.utility = dense.sqa.accuracy > 0 ? r.sqa.accuracy / dense.sqa.accuracy : r.sqa.accuracy;
  o.compression = achieved_sparsity;
  return o;
}

namespace {

// Median wall time of a forward pass over one text sequence as long as a
// typical prompt (image positions plus 64 tokens), after one warm-up.
double forward_latency_ms(LlavaModel& model) {
  torch::NoGradGuard no_grad;
  const auto& c = model->config();
  const int64_t tokens = c.num_image_features() + 64;
  LlavaInputs inputs;
  inputs.input_ids = torch::full({1, tokens}, int64_t{1},
                                 torch::TensorOptions().dtype(torch::kInt64).device(model->options().device()));
  std::vector<double> ms;
  for (int i = 0; i < 4; ++i) {
    const auto start = std::chrono::steady_clock::now();
    model->final_hidden(inputs);
    if (i > 0)
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

EvalOutcome PlanEvaluator::evaluate(const Blueprint& blueprint, const std::string& origin,
                                    const std::optional<Preference>& preference, Subset subset) {
  EvalOutcome out;
  const std::string hash = blueprint_hash(blueprint);
  auto& store = session_.store();
  const int64_t plan_id = store.add_plan(hash, blueprint_to_json(blueprint));
  out.trial_id = store.start_trial(plan_id, origin, preference, subset);
  if (auto cached = store.cached_metrics(hash, subset)) {
    out.cached = true;
    out.metrics = *cached;
    store.finish_trial(out.trial_id, out.metrics);
    return out;
  }
  run_trial(out, blueprint, subset, [&] { return session_.pruned_model(blueprint); });
  return out;
}

EvalOutcome PlanEvaluator::evaluate_child(LlavaModel& model, const Blueprint& blueprint, int64_t parent,
                                          const std::string& origin, const nlohmann::json& details, Subset subset) {
  EvalOutcome out;
  out.trial_id = session_.store().start_child_trial(parent, origin, subset, details);
  run_trial(out, blueprint, subset, [&] { return model; });
  return out;
}

void PlanEvaluator::run_trial(EvalOutcome& out, const Blueprint& blueprint, Subset subset,
                              const std::function<LlavaModel()>& make_model) {
  auto& store = session_.store();
  auto& evaluator = session_.evaluator();
  auto& dense_model = session_.model();
  try {
    if (cancel && cancel->load()) throw Cancelled();
    auto pruned = make_model();
    evaluator.set_model(pruned);
    EvalOptions options;
    options.batch_size = session_.settings().eval_batch;
    options.cancel = cancel;
    const auto result = evaluator.evaluate(session_.benchmark(subset), options);
    evaluator.set_model(dense_model);
    const auto dense = session_.dense_result(subset, options);
    out.metrics.subset = subset;
    out.metrics.objectives = objectives_from(result, dense, blueprint.achieved_sparsity);
    const auto cost = model_cost(pruned->config(), pruned->config().num_image_features() + 64);
    out.metrics.raw = result_to_json(result);
    out.metrics.raw["language_params"] = cost.language_params();
    out.metrics.raw["decoder_flops"] = cost.decoder_flops;
    // Measured latency of one prompt-length forward pass, paired with the
    // dense model's measured right after it (same process, same moment).
    out.metrics.raw["latency_ms"] = forward_latency_ms(pruned);
    out.metrics.raw["dense_latency_ms"] = forward_latency_ms(dense_model);
    store.finish_trial(out.trial_id, out.metrics);
  } catch (const Cancelled&) {
    evaluator.set_model(dense_model);
    store.fail_trial(out.trial_id, "cancelled");
    throw;
  } catch (const std::exception& e) {
    evaluator.set_model(dense_model);
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    store.fail_trial(out.trial_id, message);
    out.failed = true;
    out.error = message;
  }
}

}  // namespace hipp
