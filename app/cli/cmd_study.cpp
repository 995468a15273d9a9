// Subcommands about studies: study create|list|show, baseline, front.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "cli_common.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "search/baselines.h"
#include "search/plan_evaluator.h"
#include "search/trial_export.h"
#include "study/copy.h"
#include "study/pareto.h"
#include "study/pg_store.h"
#include "study/selection.h"
#include "study/store.h"

namespace hipp::cli {
namespace fs = std::filesystem;

namespace {

struct CreateArgs {
  std::string model, bench, out;
  StudySettings settings;
  std::string importance = importance_name(StudySettings{}.importance);
};

struct StudyArgs {
  std::string study;
  std::vector<int64_t> trial_ids;
  bool front_only = false;
  std::string folder = ".";
  std::string method;
  int evals = 10;
  std::string origin;
  std::string subset = "search";
  std::string format = "table";
  std::string cache_dir;
  std::string blueprint_out, model_out;
  std::string copy_to;
  bool workers = false;
  // worker
  int max_evals = 0;
  double idle_exit = 0;
  std::string model_dir, bench_dir;
};

std::string when(double seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M", std::localtime(&t));
  return text;
}

void run_create(const CreateArgs& args, const CommonOptions& common) {
  apply_common(common);
  create_study(args.out, args.model, args.bench, args.settings, load_options(common), feature_cache_dir(""),
               [](const std::string& line) { progress_line("study: " + line); });
  auto store = open_study_store(args.out);
  const auto study = store->study();
  const auto dense = result_from_json(study.dense[subset_name(Subset::Search)]);
  if (common.json) {
    std::cout << nlohmann::json({{"study", args.out}, {"dense", study.dense}}).dump(2) << "\n";
    return;
  }
  std::printf("created %s\ndense model on the search subset: POPE mean F1 %.3f, ScienceQA %.3f\n", args.out.c_str(),
              dense.pope_mean_f1, dense.sqa.accuracy);
}

struct Counts {
  int complete = 0, failed = 0, running = 0;
};

std::map<std::string, Counts> count_by_origin(const std::vector<Trial>& trials) {
  std::map<std::string, Counts> out;
  for (const auto& t : trials) {
    auto& c = out[t.origin];
    (t.state == TrialState::Complete ? c.complete : t.state == TrialState::Fail ? c.failed : c.running) += 1;
  }
  return out;
}

void run_list(const StudyArgs& args, const CommonOptions& common) {
  // (where to open, name shown)
  std::vector<std::pair<std::string, std::string>> studies;
  if (is_postgresql_url(args.folder)) {
    for (const auto& name : pg_study_names(args.folder)) studies.emplace_back(pg_study_url(args.folder, name), name);
  } else {
    if (!fs::is_directory(args.folder)) throw Error(args.folder + ": not a folder");
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(args.folder))
      if (e.is_regular_file() && (e.path().extension() == ".sqlite" || e.path().extension() == ".db"))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) studies.emplace_back(f.string(), f.filename().string());
  }
  nlohmann::json rows = nlohmann::json::array();
  if (!common.json) std::printf("%-32s %8s %8s  %s\n", "study", "trials", "plans", "model");
  for (const auto& [where, name] : studies) {
    try {
      auto store = open_study_store(where, /*read_only=*/true);
      const auto trials = store->trials();
      std::map<int64_t, int> plans;
      for (const auto& t : trials) plans[t.plan_id] += 1;
      const auto study = store->study();
      rows.push_back({{"study", redacted_url(where)},
                      {"trials", trials.size()},
                      {"plans", plans.size()},
                      {"model", study.model_dir}});
      if (!common.json)
        std::printf("%-32s %8zu %8zu  %s\n", name.c_str(), trials.size(), plans.size(), study.model_dir.c_str());
    } catch (const Error& e) {
      if (!common.json) std::printf("%-32s  (not readable: %s)\n", name.c_str(), e.what());
    }
  }
  if (common.json) std::cout << rows.dump(2) << "\n";
}

void run_copy(const StudyArgs& args, const CommonOptions& common) {
  const auto counts = copy_study(args.study, args.copy_to, [&](int done, int total) {
    if (total > 0 && done > 0 && (done % 500 == 0 || done == total))
      progress_line("copy: " + std::to_string(done) + "/" + std::to_string(total) + " trials");
  });
  if (common.json) {
    std::cout << nlohmann::json({{"from", redacted_url(args.study)},
                                 {"to", redacted_url(args.copy_to)},
                                 {"plans", counts.plans},
                                 {"trials", counts.trials},
                                 {"layer_states", counts.layer_states},
                                 {"blobs", counts.blobs},
                                 {"running_left_out", counts.running_left_out}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("copied %s -> %s: %d plans, %d trials, %d layer-state entries, %d blobs\n",
              redacted_url(args.study).c_str(), redacted_url(args.copy_to).c_str(), counts.plans, counts.trials,
              counts.layer_states, counts.blobs);
  if (counts.running_left_out > 0)
    std::printf("%d trials still running in the source were left out\n", counts.running_left_out);
}

void run_show(const StudyArgs& args, const CommonOptions& common) {
  auto store = open_study_store(args.study, /*read_only=*/true);
  const auto study = store->study();
  const auto trials = store->trials();
  const auto counts = count_by_origin(trials);
  if (common.json) {
    nlohmann::json origins = nlohmann::json::object();
    for (const auto& [origin, c] : counts)
      origins[origin] = {{"complete", c.complete}, {"failed", c.failed}, {"running", c.running}};
    std::cout << nlohmann::json({{"model_dir", study.model_dir},
                                 {"model_fingerprint", study.model_fingerprint},
                                 {"bench_dir", study.bench_dir},
                                 {"bench_fingerprint", study.bench_fingerprint},
                                 {"settings", study.settings},
                                 {"dense", study.dense},
                                 {"created", study.created},
                                 {"trials", origins}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("study      %s (created %s)\nmodel      %s (%s)\nbenchmark  %s (%s)\nsettings   %s\n", args.study.c_str(),
              when(study.created).c_str(), study.model_dir.c_str(), study.model_fingerprint.c_str(),
              study.bench_dir.c_str(), study.bench_fingerprint.c_str(), study.settings.dump().c_str());
  for (const auto& [subset, metrics] : study.dense.items()) {
    const auto dense = result_from_json(metrics);
    std::printf("dense (%s) POPE mean F1 %.3f, ScienceQA %.3f\n", subset.c_str(), dense.pope_mean_f1,
                dense.sqa.accuracy);
  }
  std::printf("\n%-14s %9s %7s %8s\n", "origin", "complete", "failed", "running");
  for (const auto& [origin, c] : counts)
    std::printf("%-14s %9d %7d %8d\n", origin.c_str(), c.complete, c.failed, c.running);
  if (counts.empty()) std::printf("(no trials yet)\n");
}

void run_baseline_command(const StudyArgs& args, const CommonOptions& common) {
  apply_common(common);
  auto store = open_study_store(args.study);
  std::optional<RemoteEvaluation> remote;
  if (args.workers) remote = workers_for(*store, args.study, "baseline");
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir),
                       [](const std::string& line) { progress_line("baseline: " + line); });
  PlanEvaluator evaluator(session);
  evaluator.cancel = install_cancel_handler();
  evaluator.remote = remote;
  BaselineOptions options;
  options.method = args.method;
  options.evaluations = args.evals;
  options.seed = common.seed ? common.seed : 1;
  options.progress = [&](int done, int total, const EvalOutcome& o) {
    char line[200];
    if (o.failed) {
      std::snprintf(line, sizeof line, "baseline: %d/%d trial %lld failed: %s", done, total,
                    static_cast<long long>(o.trial_id), o.error.c_str());
    } else {
      std::snprintf(line, sizeof line, "baseline: %d/%d trial %lld%s  rob %.3f  util %.3f  comp %.3f", done, total,
                    static_cast<long long>(o.trial_id), o.cached ? " (cached)" : "", o.metrics.objectives.robustness,
                    o.metrics.objectives.utility, o.metrics.objectives.compression);
    }
    progress_line(line);
  };
  const auto outcomes = run_baseline(evaluator, options);
  int cached = 0, failed = 0;
  for (const auto& o : outcomes) {
    cached += o.cached;
    failed += o.failed;
  }
  const double hv = hypervolume(objectives_of(select_trials(store->trials(), {Subset::Search, {args.method}})));
  if (common.json) {
    std::cout << nlohmann::json({{"method", args.method},
                                 {"evaluations", outcomes.size()},
                                 {"cached", cached},
                                 {"failed", failed},
                                 {"hypervolume", hv}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("%s: %zu evaluations (%d from the cache, %d failed); hypervolume of all %s trials %.4f\n",
              args.method.c_str(), outcomes.size(), cached, failed, args.method.c_str(), hv);
}

// Sleeps up to `seconds`, waking early for Ctrl-C.
void nap(double seconds, const std::atomic<bool>* cancel) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until && !(cancel && cancel->load()))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void run_worker(const StudyArgs& args, const CommonOptions& common) {
  apply_common(common);
  if (!is_postgresql_url(args.study))
    throw Error(args.study +
                ": a worker serves a PostgreSQL study (postgresql://user@host:port/db?study=NAME); a study file is "
                "evaluated by the command that searches it");
  auto store = open_study_store(args.study);
  auto* queue = store->evaluation_queue();
  if (!queue) throw Error(redacted_url(args.study) + ": this study has no evaluation queue");
  const auto* cancel = install_cancel_handler();
  StudySession session(
      *store, load_options(common), feature_cache_dir(args.cache_dir),
      [](const std::string& line) { progress_line("worker: " + line); }, StudyPlaces{args.model_dir, args.bench_dir});
  PlanEvaluator evaluator(session);
  evaluator.cancel = cancel;
  const std::string name = host_name() + ":" + std::to_string(::getpid()) + " (" + common.device + ")";
  queue->become_worker(name);
  progress_line("worker: " + name + " serves " + redacted_url(args.study) + "; waiting for plans");
  const auto start = std::chrono::steady_clock::now();
  auto idle_since = start;
  int evaluated = 0, recorded = 0;
  while (args.max_evals == 0 || evaluated < args.max_evals) {
    if (cancel->load()) throw Cancelled();
    const auto entry = queue->claim_next();
    if (!entry) {
      const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count();
      if (args.idle_exit > 0 && idle >= args.idle_exit) {
        progress_line("worker: nothing to do for " + std::to_string(static_cast<int>(idle)) + " s; stopping");
        break;
      }
      nap(0.25, cancel);
      continue;
    }
    const auto began = std::chrono::steady_clock::now();
    bool ok = false;
    const auto outcome = evaluator.evaluate_claimed(*queue, *entry, &ok);
    ++evaluated;
    recorded += ok;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    char line[300];
    const std::string again = entry->attempt > 1 ? " (attempt " + std::to_string(entry->attempt) + ")" : "";
    if (!ok) {
      std::snprintf(line, sizeof line,
                    "worker: trial %lld (%s)%s not recorded: its search gave it up or another "
                    "worker took it over",
                    static_cast<long long>(entry->trial_id), entry->origin.c_str(), again.c_str());
    } else if (outcome.failed) {
      std::snprintf(line, sizeof line, "worker: trial %lld (%s)%s failed: %s", static_cast<long long>(entry->trial_id),
                    entry->origin.c_str(), again.c_str(), outcome.error.c_str());
    } else {
      const auto& o = outcome.metrics.objectives;
      std::snprintf(line, sizeof line, "worker: trial %lld (%s)%s  rob %.3f  util %.3f  comp %.3f  %.1f s",
                    static_cast<long long>(entry->trial_id), entry->origin.c_str(), again.c_str(), o.robustness,
                    o.utility, o.compression, seconds);
    }
    progress_line(line);
    idle_since = std::chrono::steady_clock::now();
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (common.json) {
    std::cout << nlohmann::json(
                     {{"worker", name}, {"evaluations", evaluated}, {"recorded", recorded}, {"seconds", total}})
                     .dump(2)
              << "\n";
    return;
  }
  std::printf("worker %s: %d evaluations (%d recorded) in %.0f s\n", name.c_str(), evaluated, recorded, total);
}

}  // namespace

RemoteEvaluation workers_for(StudyStore& store, const std::string& study, const std::string& who) {
  auto* queue = store.evaluation_queue();
  if (!queue)
    throw Error("--workers: " + study +
                " is a study file, which this process evaluates itself; workers share a PostgreSQL study "
                "(study copy " +
                study + " postgresql://user@host:port/db?study=NAME moves it there)");
  RemoteEvaluation remote;
  remote.queue = queue;
  auto hinted = std::make_shared<bool>(false);
  remote.progress = [who, study, hinted](const QueueProgress& p) {
    char line[200];
    std::snprintf(line, sizeof line, "%s: queue %d waiting, %d running, %d done, %d failed; %d worker%s", who.c_str(),
                  p.queued, p.running, p.done, p.failed + p.cancelled, p.workers, p.workers == 1 ? "" : "s");
    progress_line(line);
    if (p.workers == 0 && !*hinted) {
      progress_line(who + ": no worker serves this study; start some: hipp-prune worker --study '" +
                    redacted_url(study) + "'");
      *hinted = true;
    }
  };
  return remote;
}

namespace {

void run_states(const StudyArgs& args, const CommonOptions& common) {
  apply_common(common);
  auto store = open_study_store(args.study);
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir),
                       [](const std::string& line) { progress_line("states: " + line); });
  const auto states = session.layer_states();
  if (common.json) {
    std::cout << layer_states_to_json(states).dump(2) << "\n";
    return;
  }
  std::printf("%5s %6s %8s %8s %8s %9s %8s %7s %7s %7s %8s %8s %8s\n", "layer", "pos", "|Wg|", "|Wu|", "|Wd|",
              "tok norm", "tok std", "outlier", "low30", "low70", "vis mass", "vis gain", "synflow");
  for (const auto& s : states)
    std::printf("%5lld %6.3f %8.3f %8.3f %8.3f %9.3f %8.3f %7.3f %7.3f %7.3f %8.4f %8.4f %8.4f\n",
                static_cast<long long>(s.layer), s.position, s.gate_norm, s.up_norm, s.down_norm, s.token_norm_mean,
                s.token_norm_std, s.outlier_ratio, s.low_mass[1], s.low_mass[3], s.vision_mass, s.vision_flow_gain,
                s.synflow_share);
}

// Re-scores chosen plans on the full test set; each becomes a trial with the
// origin of the trial it re-scores and subset "full".
void run_rescore(const StudyArgs& args, const CommonOptions& common) {
  apply_common(common);
  auto store = open_study_store(args.study);
  std::vector<Trial> chosen;
  if (args.front_only) {
    const auto complete = select_trials(store->trials(), {Subset::Search, {}});
    for (size_t i : non_dominated(objectives_of(complete))) chosen.push_back(complete[i]);
  }
  for (int64_t id : args.trial_ids) {
    auto t = store->trial(id);
    if (!t) throw Error(args.study + ": no trial " + std::to_string(id));
    chosen.push_back(*t);
  }
  if (chosen.empty()) throw Error("nothing to re-score: give --trial IDs or --front");
  std::optional<RemoteEvaluation> remote;
  if (args.workers) remote = workers_for(*store, args.study, "rescore");
  StudySession session(*store, load_options(common), feature_cache_dir(args.cache_dir),
                       [](const std::string& line) { progress_line("rescore: " + line); });
  PlanEvaluator evaluator(session);
  evaluator.cancel = install_cancel_handler();
  evaluator.remote = remote;
  nlohmann::json rows = nlohmann::json::array();
  if (!common.json)
    std::printf("%7s %7s  %-10s %10s %8s %11s %8s %8s\n", "trial", "full", "origin", "robustness", "utility",
                "compression", "POPE F1", "SQA");
  std::vector<PlanJob> jobs;
  for (const auto& t : chosen) {
    const auto plan = store->plan(t.plan_id);
    jobs.push_back(
        {blueprint_from_json(plan->blueprint, "study plan " + plan->hash), t.origin, t.preference, Subset::Full});
  }
  evaluator.evaluate_batch(jobs, [&](size_t i, const EvalOutcome& o) {
    const auto& t = chosen[i];
    if (o.failed) throw Error("trial " + std::to_string(t.id) + ": " + o.error);
    const auto& m = o.metrics;
    const double f1 = m.raw.value("pope_mean_f1", 0.0);
    const double sqa = m.raw.contains("scienceqa") ? m.raw["scienceqa"].value("accuracy", 0.0) : 0.0;
    rows.push_back({{"trial", t.id},
                    {"full_trial", o.trial_id},
                    {"origin", t.origin},
                    {"robustness", m.objectives.robustness},
                    {"utility", m.objectives.utility},
                    {"compression", m.objectives.compression},
                    {"pope_mean_f1", f1},
                    {"sqa_accuracy", sqa}});
    if (!common.json)
      std::printf("%7lld %7lld  %-10s %10.3f %8.3f %11.3f %8.3f %8.3f\n", static_cast<long long>(t.id),
                  static_cast<long long>(o.trial_id), t.origin.c_str(), m.objectives.robustness, m.objectives.utility,
                  m.objectives.compression, f1, sqa);
  });
  if (common.json) std::cout << rows.dump(2) << "\n";
}

void run_front(const StudyArgs& args, const CommonOptions& common) {
  auto store = open_study_store(args.study, /*read_only=*/true);
  TrialSelection selection{parse_subset(args.subset), {}};
  if (!args.origin.empty()) selection.origins = {args.origin};
  const auto complete = select_trials(store->trials(), selection);
  const auto points = objectives_of(complete);
  const auto front = non_dominated(points);
  const double hv = hypervolume(points);
  const std::string format = common.json ? "json" : args.format;
  if (format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i : front) {
      const auto& t = complete[i];
      const auto& o = t.metrics->objectives;
      rows.push_back(
          {{"trial", t.id},
           {"plan", t.plan_hash},
           {"origin", t.origin},
           {"robustness", o.robustness},
           {"utility", o.utility},
           {"compression", o.compression},
           {"pope_mean_f1", t.metrics->raw.value("pope_mean_f1", 0.0)},
           {"sqa_accuracy",
            t.metrics->raw.contains("scienceqa") ? t.metrics->raw["scienceqa"].value("accuracy", 0.0) : 0.0}});
    }
    std::cout << nlohmann::json({{"origin", args.origin.empty() ? "all" : args.origin},
                                 {"subset", args.subset},
                                 {"trials", complete.size()},
                                 {"front", rows},
                                 {"hypervolume", hv},
                                 {"reference_point", {0, 0, 0}}})
                     .dump(2)
              << "\n";
    return;
  }
  if (format == "csv") {
    std::printf("trial,origin,robustness,utility,compression,plan\n");
    for (size_t i : front) {
      const auto& t = complete[i];
      const auto& o = t.metrics->objectives;
      std::printf("%lld,%s,%.6f,%.6f,%.6f,%s\n", static_cast<long long>(t.id), t.origin.c_str(), o.robustness,
                  o.utility, o.compression, t.plan_hash.c_str());
    }
    return;
  }
  std::printf("%zu complete trials%s (%s), %zu on the Pareto front, hypervolume %.4f (reference point 0, 0, 0)\n\n",
              complete.size(), args.origin.empty() ? "" : (" from " + args.origin).c_str(),
              args.subset == "full" ? "full test sets" : "search subset", front.size(), hv);
  std::printf("%7s  %-10s %10s %8s %11s\n", "trial", "origin", "robustness", "utility", "compression");
  std::vector<size_t> order = front;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return points[a].compression < points[b].compression; });
  for (size_t i : order) {
    const auto& t = complete[i];
    std::printf("%7lld  %-10s %10.3f %8.3f %11.3f\n", static_cast<long long>(t.id), t.origin.c_str(),
                points[i].robustness, points[i].utility, points[i].compression);
  }
}

void run_export(const StudyArgs& args, const CommonOptions& common) {
  apply_common(common);
  if (args.trial_ids.size() != 1) throw Error("export takes one --trial");
  if (args.blueprint_out.empty() && args.model_out.empty())
    throw Error("export needs --blueprint FILE, --model DIR or both");
  const int64_t trial = args.trial_ids.front();
  // Like --model, --blueprint never replaces what is there.
  if (!args.blueprint_out.empty() && fs::exists(fs::symlink_status(args.blueprint_out)))
    throw Error(args.blueprint_out + " already exists; choose another file or remove it");
  if (!args.model_out.empty() && fs::exists(fs::symlink_status(args.model_out)))
    throw Error(args.model_out + " already exists; choose another folder");
  auto store = open_study_store(args.study, /*read_only=*/true);
  if (!args.blueprint_out.empty()) {
    export_trial_blueprint(*store, trial, args.blueprint_out);
    std::printf("blueprint of trial %lld: %s\n", static_cast<long long>(trial), args.blueprint_out.c_str());
  }
  if (!args.model_out.empty()) {
    TrialModelExport options;
    options.load = load_options(common);
    options.cache_dir = feature_cache_dir(args.cache_dir);
    options.cancel = install_cancel_handler();
    options.log = [](const std::string& line) { progress_line("export: " + line); };
    export_trial_model(*store, trial, args.model_out, options);
    std::printf("pruned model of trial %lld: %s\n", static_cast<long long>(trial), args.model_out.c_str());
  }
}

}  // namespace

void add_study_commands(CLI::App& app, CommonOptions& common) {
  auto* study =
      app.add_subcommand("study", "create, list, show and copy studies (a SQLite file or a PostgreSQL study each)");
  study->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  auto* create = study->add_subcommand("create", "create a study: fingerprints, settings, the dense model's scores");
  create->add_option("--model", create_args->model, "model folder")->required();
  create->add_option("--bench", create_args->bench, "benchmark folder")->required();
  create
      ->add_option("--out", create_args->out,
                   "study to create: a file (.sqlite) or postgresql://user@host:port/db?study=NAME")
      ->required();
  auto& st = create_args->settings;
  create->add_option("--pope-per-split", st.subset.pope_per_split, "search subset: POPE questions per split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  create->add_option("--sqa", st.subset.sqa, "search subset: ScienceQA problems")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  create->add_option("--calibration-samples", st.calibration.samples, "calibration problems")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  create->add_option("--importance", create_args->importance, "magnitude, wanda-sp or flap")
      ->check(CLI::IsMember(importance_methods()))
      ->capture_default_str();
  create->add_option("--s-min", st.s_min, "smallest sparsity searched")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  create->add_option("--s-max", st.s_max, "largest sparsity searched")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  create->callback([create_args, &common] {
    if (create_args->settings.s_min > create_args->settings.s_max)
      throw CLI::ValidationError("--s-min", "must not exceed --s-max");
    create_args->settings.importance = parse_importance(create_args->importance);
    run_create(*create_args, common);
  });

  auto args = std::make_shared<StudyArgs>();
  auto* list = study->add_subcommand("list", "the studies in a folder, or in a PostgreSQL database");
  list->add_option("FOLDER", args->folder, "folder to look in, or postgresql://user@host:port/db")
      ->capture_default_str();
  list->callback([args, &common] { run_list(*args, common); });

  auto* copy = study->add_subcommand("copy", "copy a study into a new file or PostgreSQL study (either way)");
  copy->add_option("SRC", args->study, "study to copy (file or postgresql://...?study=NAME)")->required();
  copy->add_option("DST", args->copy_to, "new study (file or postgresql://...?study=NAME)")->required();
  copy->callback([args, &common] { run_copy(*args, common); });

  auto* show = study->add_subcommand("show", "a study's settings, dense scores and trials by origin");
  show->add_option("STUDY", args->study, kStudyOptionHelp)->required();
  show->callback([args, &common] { run_show(*args, common); });

  auto* baseline = app.add_subcommand("baseline", "run a baseline search with an evaluation budget");
  baseline->add_option("--study", args->study, kStudyOptionHelp)->required();
  baseline->add_option("--method", args->method, "uniform, owl, random or nsga2")
      ->required()
      ->check(CLI::IsMember(baseline_methods()));
  baseline->add_option("--evals", args->evals, "plan evaluations to spend")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  baseline->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  baseline->add_flag("--workers", args->workers, kWorkersHelp);
  baseline->callback([args, &common] { run_baseline_command(*args, common); });

  auto* worker = app.add_subcommand(
      "worker", "evaluate the plans that searches with --workers queue on a PostgreSQL study, until Ctrl-C");
  worker->add_option("--study", args->study, "postgresql://user@host:port/db?study=NAME")->required();
  worker->add_option("--max-evals", args->max_evals, "stop after this many evaluations (0 = no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  worker->add_option("--idle-exit", args->idle_exit, "stop after this many seconds with nothing to do (0 = never)")
      ->check(finite_non_negative())
      ->capture_default_str();
  worker->add_option("--model", args->model_dir,
                     "the study's model folder on this machine, when not where the study was created");
  worker->add_option("--bench", args->bench_dir,
                     "the study's benchmark folder on this machine, when not where the study was created");
  worker->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  worker->callback([args, &common] { run_worker(*args, common); });

  auto* states = app.add_subcommand("states", "the per-layer state table the HiPP policy reads");
  states->add_option("--study", args->study, kStudyOptionHelp)->required();
  states->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  states->callback([args, &common] { run_states(*args, common); });

  auto* rescore = app.add_subcommand("rescore", "re-score chosen plans on the full test set");
  rescore->add_option("--study", args->study, kStudyOptionHelp)->required();
  rescore->add_option("--trial", args->trial_ids, "trial ids whose plans to re-score");
  rescore->add_flag("--front", args->front_only, "re-score every plan on the search-subset Pareto front");
  rescore->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  rescore->add_flag("--workers", args->workers, kWorkersHelp);
  rescore->callback([args, &common] { run_rescore(*args, common); });

  auto* front = app.add_subcommand("front", "the Pareto front of a study's trials and its hypervolume");
  front->add_option("--study", args->study, kStudyOptionHelp)->required();
  front->add_option("--origin", args->origin,
                    "only trials of this origin: a baseline's name, grpo (every iteration), grpo:3, query, curve, ...");
  front
      ->add_option("--subset", args->subset, "search (the search subset's scores) or full (re-scored on the full sets)")
      ->check(CLI::IsMember({"search", "full"}))
      ->capture_default_str();
  front->add_option("--format", args->format, "table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  front->callback([args, &common] { run_front(*args, common); });

  auto* exp = app.add_subcommand("export", "write a trial's blueprint or its pruned model");
  exp->add_option("--study", args->study, kStudyOptionHelp)->required();
  exp->add_option("--trial", args->trial_ids, "the trial")->required()->expected(1);
  exp->add_option("--blueprint", args->blueprint_out, "blueprint JSON file to write");
  exp->add_option("--model", args->model_out, "model folder to create (HF layout)");
  exp->add_option("--cache-dir", args->cache_dir, "image-feature cache folder ('none' = memory only)");
  exp->callback([args, &common] { run_export(*args, common); });
}

}  // namespace hipp::cli
