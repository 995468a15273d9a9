#include "search/study_session.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"
#include "model/fingerprint.h"
#include "prune/cost.h"
#include "search/grpo.h"
#include "study/pg_store.h"

namespace hipp {
namespace fs = std::filesystem;

nlohmann::json settings_to_json(const StudySettings& s) {
  return {{"subset",
           {{"pope_per_split", s.subset.pope_per_split},
            {"sqa", s.subset.sqa},
            {"seed", s.subset.seed},
            {"sqa_proportional", s.subset.proportional}}},
          {"calibration",
           {{"samples", s.calibration.samples}, {"seed", s.calibration.seed}, {"split", s.calibration.split}}},
          {"importance", importance_name(s.importance)},
          {"structure", structure_name(s.structure)},
          {"r_max", s.r_max},
          {"align", s.align},
          {"sparsity_range", {s.s_min, s.s_max}},
          {"eval_batch", s.eval_batch}};
}

StudySettings settings_from_json(const nlohmann::json& j, const std::string& where) {
  StudySettings s;
  if (!j.is_object()) throw Error(where + ": study settings must be an object");
  if (j.contains("subset")) {
    const auto& sub = j["subset"];
    s.subset.pope_per_split =
        static_cast<int>(optional_field<int64_t>(sub, "pope_per_split", s.subset.pope_per_split, where));
    s.subset.sqa = static_cast<int>(optional_field<int64_t>(sub, "sqa", s.subset.sqa, where));
    s.subset.seed =
        static_cast<uint64_t>(optional_field<int64_t>(sub, "seed", static_cast<int64_t>(s.subset.seed), where));
    // Absent in studies made before the subset kept ScienceQA's proportion.
    s.subset.proportional = optional_field<bool>(sub, "sqa_proportional", false, where);
  }
  if (j.contains("calibration")) {
    const auto& c = j["calibration"];
    s.calibration.samples = static_cast<int>(optional_field<int64_t>(c, "samples", s.calibration.samples, where));
    s.calibration.seed =
        static_cast<uint64_t>(optional_field<int64_t>(c, "seed", static_cast<int64_t>(s.calibration.seed), where));
    s.calibration.split = optional_field<std::string>(c, "split", s.calibration.split, where);
  }
  try {
    s.importance = parse_importance(optional_field<std::string>(j, "importance", importance_name(s.importance), where));
    s.structure = parse_structure(optional_field<std::string>(j, "structure", structure_name(s.structure), where));
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  s.r_max = optional_field<double>(j, "r_max", s.r_max, where);
  s.align = optional_field<int64_t>(j, "align", s.align, where);
  if (j.contains("sparsity_range")) {
    const auto range = required_field<std::vector<double>>(j, "sparsity_range", where);
    if (range.size() != 2 || !(range[0] >= 0 && range[0] <= range[1] && range[1] < 1))
      throw Error(where + ": sparsity_range must be [s_min, s_max] with 0 <= s_min <= s_max < 1");
    s.s_min = range[0];
    s.s_max = range[1];
  }
  s.eval_batch = static_cast<int>(optional_field<int64_t>(j, "eval_batch", s.eval_batch, where));
  return s;
}

std::string benchmark_fingerprint(const std::string& bench_dir) {
  ContentHash hash;
  std::vector<fs::path> files;
  const fs::path pope = fs::path(bench_dir) / "pope";
  if (fs::is_directory(pope))
    for (const auto& e : fs::directory_iterator(pope))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  files.push_back(fs::path(bench_dir) / "scienceqa" / "problems.json");
  files.push_back(fs::path(bench_dir) / "scienceqa" / "pid_splits.json");
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) throw Error(f.string() + ": cannot read benchmark file");
    hash.add(f.filename().string());
    hash.add(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  return hash.hex();
}

namespace {

// The dense model's scores with its size and cost, the reference every plan's
// row is shown beside.
nlohmann::json dense_record(const BenchmarkResult& result, const LlavaConfig& config) {
  auto record = result_to_json(result);
  const auto cost = model_cost(config, config.nominal_image_tokens() + 64);
  record["language_params"] = cost.language_params();
  record["decoder_flops"] = cost.decoder_flops;
  return record;
}

void say(const std::function<void(const std::string&)>& log, const std::string& line) {
  if (log) log(line);
}

}  // namespace

void create_study(const std::string& path, const std::string& model_dir, const std::string& bench_dir,
                  const StudySettings& settings, const LoadOptions& load, const std::string& cache_dir,
                  std::function<void(const std::string&)> log) {
  if (study_store_exists(path))
    throw Error(redacted_url(path) + ": already exists; open it, or choose another " +
                (is_postgresql_url(path) ? "study name" : "file"));
  say(log, "reading " + bench_dir);
  const auto full = load_benchmark(bench_dir);
  say(log, "loading " + model_dir);
  auto folder = load_model_folder(model_dir, load);
  folder.model->eval();
  StudyRecord record;
  record.model_dir = fs::absolute(model_dir).string();
  record.bench_dir = fs::absolute(bench_dir).string();
  record.model_fingerprint = model_fingerprint(folder.model);
  record.bench_fingerprint = benchmark_fingerprint(bench_dir);
  record.settings = settings_to_json(settings);
  say(log, "scoring the dense model on the search subset");
  Evaluator evaluator(folder.model, folder.tokenizer, folder.preprocessor, cache_dir);
  EvalOptions options;
  options.batch_size = settings.eval_batch;
  const auto dense = evaluator.evaluate(search_subset(full, settings.subset), options);
  record.dense[subset_name(Subset::Search)] = dense_record(dense, folder.model->config());
  create_study_store(path, record);
}

StudySession::StudySession(StudyStore& store, const LoadOptions& load, const std::string& cache_dir,
                           std::function<void(const std::string&)> log, const StudyPlaces& places)
    : store_(store), log_(std::move(log)) {
  auto study = store_.study();
  // Another machine may keep the same files elsewhere: the fingerprints
  // below still decide whether they are the study's.
  if (!places.model_dir.empty()) study.model_dir = places.model_dir;
  if (!places.bench_dir.empty()) study.bench_dir = places.bench_dir;
  settings_ = settings_from_json(study.settings, "study settings");
  say(log_, "reading " + study.bench_dir);
  if (benchmark_fingerprint(study.bench_dir) != study.bench_fingerprint)
    throw Error(study.bench_dir + ": the benchmark files changed since the study was created");
  full_ = load_benchmark(study.bench_dir);
  subset_ = search_subset(full_, settings_.subset);
  say(log_, "loading " + study.model_dir);
  folder_ = std::make_unique<ModelFolder>(load_model_folder(study.model_dir, load));
  folder_->model->eval();
  fingerprint_ = model_fingerprint(folder_->model);
  if (fingerprint_ != study.model_fingerprint)
    throw Error(study.model_dir + ": the model's weights changed since the study was created");
  evaluator_ = std::make_unique<Evaluator>(folder_->model, folder_->tokenizer, folder_->preprocessor, cache_dir);
  // Calibration serves the importance scores and the OWL baseline's outlier ratios.
  say(log_, "calibrating (" + std::to_string(settings_.calibration.samples) + " problems)");
  stats_ = collect_calibration(*evaluator_, folder_->model, folder_->tokenizer, full_.sqa, settings_.calibration);
  importance_ = compute_importance(folder_->model, settings_.structure, settings_.importance, &stats_);
  outliers_ = layer_outlier_ratios(folder_->model, stats_);
  for (auto& layer : folder_->model->language_model->model->layers)
    channel_flow_.push_back(synflow_channel_flow(layer->mlp));
  dense_ = study.dense;
}

StudySession::~StudySession() = default;

std::vector<LayerState> StudySession::layer_states() {
  const std::string key = fingerprint_ + ":" + stats_.fingerprint;
  if (auto stored = store_.layer_states(key)) return layer_states_from_json(*stored, "study layer states");
  const auto scores = unit_importance(folder_->model, Structure::MlpChannels, ImportanceMethod::WandaSp, &stats_);
  auto states = compute_layer_states(folder_->model, stats_, scores, settings_.structure);
  store_.put_layer_states(key, layer_states_to_json(states));
  return states;
}

std::vector<double> StudySession::retained_flow(const Blueprint& b) const {
  if (b.structure != Structure::MlpChannels) return std::vector<double>(channel_flow_.size(), 1.0);
  return hipp::retained_flow(channel_flow_, kept_units(b, importance_.mlp));
}

size_t StudySession::layers() const { return folder_->model->config().text.layers.size(); }

Blueprint StudySession::plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const {
  PlanRequest r;
  r.structure = settings_.structure;
  r.sparsity = sparsity;
  r.allocation = allocation;
  r.budget.r_max = settings_.r_max;
  r.budget.align = settings_.align;
  r.importance = settings_.importance;
  r.calibration_fingerprint = importance_.calibration_fingerprint;
  r.source = source;
  return make_blueprint(folder_->model->config(), fingerprint_, r);
}

LlavaModel StudySession::pruned_model(const Blueprint& blueprint) const {
  return apply_blueprint(folder_->model, fingerprint_, blueprint, importance_);
}

const Benchmark& StudySession::benchmark(Subset subset) const { return subset == Subset::Full ? full_ : subset_; }

BenchmarkResult StudySession::dense_result(Subset subset, const EvalOptions& options) {
  const char* name = subset_name(subset);
  if (!dense_.contains(name)) {
    // The dense reference on the full sets, computed once when first needed.
    const auto dense = evaluator_->evaluate(benchmark(subset), options);
    store_.set_dense_metrics(subset, dense_record(dense, folder_->model->config()));
    dense_ = store_.study().dense;
  }
  return result_from_json(dense_[name]);
}

}  // namespace hipp
