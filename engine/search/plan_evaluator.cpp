#include "search/plan_evaluator.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

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
  const int64_t tokens = c.nominal_image_tokens() + 64;
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
  run_trial(out, blueprint, subset, [&] { return session_.pruned_in_place(blueprint); });
  return out;
}

EvalOutcome PlanEvaluator::evaluate_child(LlavaModel& model, const Blueprint& blueprint, int64_t parent,
                                          const std::string& origin, const nlohmann::json& details, Subset subset) {
  EvalOutcome out;
  out.trial_id = session_.store().start_child_trial(parent, origin, subset, details);
  run_trial(out, blueprint, subset, [&] { return InPlacePruned{model, nullptr}; });
  return out;
}

TrialMetrics PlanEvaluator::measure(const Blueprint& blueprint, Subset subset,
                                    const std::function<InPlacePruned()>& make_model) {
  auto& evaluator = session_.evaluator();
  auto& dense_model = session_.model();
  try {
    if (cancel && cancel->load()) throw Cancelled();
    auto pruned = make_model();
    evaluator.set_model(pruned.model);
    EvalOptions options;
    options.batch_size = session_.settings().eval_batch;
    options.cancel = cancel;
    const auto result = evaluator.evaluate(session_.benchmark(subset), options);
    // Measured latency of one prompt-length forward pass, paired with the
    // dense model's measured right after it (same process, same moment).
    const double latency = forward_latency_ms(pruned.model);
    const auto config = pruned.model->config();
    evaluator.set_model(dense_model);
    pruned = {};  // the dense model's units back in their order
    const auto dense = session_.dense_result(subset, options);
    TrialMetrics metrics;
    metrics.subset = subset;
    metrics.objectives = objectives_from(result, dense, blueprint.achieved_sparsity);
    const auto cost = model_cost(config, config.nominal_image_tokens() + 64);
    metrics.raw = result_to_json(result);
    metrics.raw["language_params"] = cost.language_params();
    metrics.raw["decoder_flops"] = cost.decoder_flops;
    metrics.raw["latency_ms"] = latency;
    metrics.raw["dense_latency_ms"] = forward_latency_ms(dense_model);
    return metrics;
  } catch (...) {
    evaluator.set_model(dense_model);
    throw;
  }
}

namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

void PlanEvaluator::run_trial(EvalOutcome& out, const Blueprint& blueprint, Subset subset,
                              const std::function<InPlacePruned()>& make_model) {
  auto& store = session_.store();
  try {
    out.metrics = measure(blueprint, subset, make_model);
    store.finish_trial(out.trial_id, out.metrics);
  } catch (const Cancelled&) {
    store.fail_trial(out.trial_id, "cancelled");
    throw;
  } catch (const std::exception& e) {
    const std::string message = first_line(e.what());
    store.fail_trial(out.trial_id, message);
    out.failed = true;
    out.error = message;
  }
}

std::vector<EvalOutcome> PlanEvaluator::evaluate_batch(const std::vector<PlanJob>& jobs,
                                                       const std::function<void(size_t, const EvalOutcome&)>& done) {
  if (remote && remote->queue) return evaluate_remotely(jobs, done);
  std::vector<EvalOutcome> out;
  for (size_t i = 0; i < jobs.size(); ++i) {
    out.push_back(evaluate(jobs[i].blueprint, jobs[i].origin, jobs[i].preference, jobs[i].subset));
    if (done) done(i, out.back());
  }
  return out;
}

std::vector<EvalOutcome> PlanEvaluator::evaluate_remotely(const std::vector<PlanJob>& jobs,
                                                          const std::function<void(size_t, const EvalOutcome&)>& done) {
  auto& store = session_.store();
  auto& queue = *remote->queue;
  std::vector<EvalOutcome> out(jobs.size());
  // Every trial starts now, as evaluate() would start it; plans the study
  // has scored are cache hits, a plan repeated in the batch follows its
  // first occurrence, and the rest go to the queue.
  std::map<std::pair<std::string, Subset>, size_t> first;
  std::vector<std::optional<size_t>> follows(jobs.size());
  std::vector<int64_t> queued_trials;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const auto& job = jobs[i];
    const std::string hash = blueprint_hash(job.blueprint);
    const int64_t plan_id = store.add_plan(hash, blueprint_to_json(job.blueprint));
    out[i].trial_id = store.start_trial(plan_id, job.origin, job.preference, job.subset);
    if (auto cached = store.cached_metrics(hash, job.subset)) {
      out[i].cached = true;
      out[i].metrics = *cached;
      store.finish_trial(out[i].trial_id, out[i].metrics);
    } else if (auto it = first.find({hash, job.subset}); it != first.end()) {
      follows[i] = it->second;
    } else {
      first.emplace(std::make_pair(hash, job.subset), i);
      queued_trials.push_back(out[i].trial_id);
    }
  }
  const auto entries = queued_trials.empty() ? std::vector<int64_t>{} : queue.enqueue(queued_trials);
  std::optional<QueueProgress> shown;
  while (!entries.empty()) {
    if (cancel && cancel->load()) {
      queue.withdraw(entries);
      for (const auto& o : out) {
        try {
          if (auto t = store.trial(o.trial_id); t && t->state == TrialState::Running)
            store.fail_trial(o.trial_id, "cancelled");
        } catch (const Error&) {
          // A worker finished it meanwhile: its result stays.
        }
      }
      throw Cancelled();
    }
    const auto p = queue.progress(entries);
    const bool changed = !shown || p.queued != shown->queued || p.running != shown->running ||
                         p.finished() != shown->finished() || p.workers != shown->workers;
    if (changed && remote->progress) remote->progress(p);
    shown = p;
    if (p.finished() == static_cast<int>(entries.size())) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(remote->poll_seconds));
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (out[i].cached) continue;
    if (follows[i]) {
      const auto& lead = out[*follows[i]];
      if (lead.failed) {
        store.fail_trial(out[i].trial_id, lead.error);
        out[i].failed = true;
        out[i].error = lead.error;
      } else {
        out[i].cached = true;
        out[i].metrics = lead.metrics;
        store.finish_trial(out[i].trial_id, out[i].metrics);
      }
      continue;
    }
    const auto trial = store.trial(out[i].trial_id);
    if (trial && trial->state == TrialState::Complete && trial->metrics) {
      out[i].metrics = *trial->metrics;
    } else {
      out[i].failed = true;
      out[i].error = !trial                                ? "the trial was removed"
                     : trial->state == TrialState::Running ? "withdrawn from the queue"
                                                           : trial->error;
      if (trial && trial->state == TrialState::Running) store.fail_trial(out[i].trial_id, out[i].error);
    }
  }
  if (done)
    for (size_t i = 0; i < out.size(); ++i) done(i, out[i]);
  return out;
}

EvalOutcome PlanEvaluator::evaluate_claimed(EvaluationQueue& queue, const QueuedEvaluation& entry, bool* recorded) {
  EvalOutcome out;
  out.trial_id = entry.trial_id;
  bool ok = false;
  try {
    const auto blueprint = blueprint_from_json(entry.blueprint, "plan " + std::to_string(entry.plan_id));
    out.metrics = measure(blueprint, entry.subset, [&] { return session_.pruned_in_place(blueprint); });
    ok = queue.complete(entry, out.metrics);
  } catch (const Cancelled&) {
    queue.give_back(entry);
    throw;
  } catch (const std::exception& e) {
    out.failed = true;
    out.error = first_line(e.what());
    ok = queue.fail(entry, out.error);
  }
  if (recorded) *recorded = ok;
  return out;
}

}  // namespace hipp
