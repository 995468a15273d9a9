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

namespace {

const char* const kPlanContextBlob = "plan_context";

Blueprint study_plan(const StudySettings& settings, const LlavaConfig& config, const std::string& model_fingerprint,
                     const std::string& calibration_fingerprint, double sparsity, const std::vector<double>& allocation,
                     const std::string& source) {
  PlanRequest r;
  r.structure = settings.structure;
  r.sparsity = sparsity;
  r.allocation = allocation;
  r.budget.r_max = settings.r_max;
  r.budget.align = settings.align;
  r.importance = settings.importance;
  r.calibration_fingerprint = calibration_fingerprint;
  r.source = source;
  return make_blueprint(config, model_fingerprint, r);
}

}  // namespace

std::unique_ptr<StoredPlanContext> StoredPlanContext::open(StudyStore& store) {
  const auto blob = store.blob(kPlanContextBlob);
  if (!blob) return nullptr;
  const std::string where = "study plan context";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*blob);
  } catch (const std::exception&) {
    return nullptr;  // damaged: a StudySession writes it again
  }
  const auto study = store.study();
  std::unique_ptr<StoredPlanContext> c(new StoredPlanContext());
  c->settings_ = settings_from_json(study.settings, "study settings");
  if (!j.is_object() || !j.contains("config") || !j["config"].is_object()) return nullptr;
  c->config_ = parse_llava_config(j["config"], where + " config");
  c->model_fingerprint_ = required_field<std::string>(j, "model_fingerprint", where);
  c->calibration_fingerprint_ = required_field<std::string>(j, "calibration_fingerprint", where);
  // Only a context of the study's own model counts.
  if (c->model_fingerprint_ != study.model_fingerprint) return nullptr;
  const auto states = store.layer_states(required_field<std::string>(j, "states_key", where));
  if (!states) return nullptr;
  c->states_ = layer_states_from_json(*states, "study layer states");
  if (c->states_.size() != c->config_.text.layers.size()) return nullptr;
  return c;
}

Blueprint StoredPlanContext::plan(double sparsity, const std::vector<double>& allocation,
                                  const std::string& source) const {
  return study_plan(settings_, config_, model_fingerprint_, calibration_fingerprint_, sparsity, allocation, source);
}

std::vector<LayerState> StudySession::layer_states() {
  const std::string key = fingerprint_ + ":" + stats_.fingerprint;
  std::vector<LayerState> states;
  if (auto stored = store_.layer_states(key)) {
    states = layer_states_from_json(*stored, "study layer states");
  } else {
    const auto scores = unit_importance(folder_->model, Structure::MlpChannels, ImportanceMethod::WandaSp, &stats_);
    states = compute_layer_states(folder_->model, stats_, scores, settings_.structure);
    store_.put_layer_states(key, layer_states_to_json(states));
  }
  // What a query needs without the model, kept beside the states.
  const nlohmann::json context = {{"config", llava_config_to_json(folder_->model->config())},
                                  {"model_fingerprint", fingerprint_},
                                  {"calibration_fingerprint", importance_.calibration_fingerprint},
                                  {"states_key", key}};
  const std::string text = context.dump();
  if (store_.blob(kPlanContextBlob) != text) store_.put_blob(kPlanContextBlob, text);
  return states;
}

std::vector<double> StudySession::retained_flow(const Blueprint& b) const {
  if (b.structure != Structure::MlpChannels) return std::vector<double>(channel_flow_.size(), 1.0);
  return hipp::retained_flow(channel_flow_, kept_units(b, importance_.mlp));
}

size_t StudySession::layers() const { return folder_->model->config().text.layers.size(); }

Blueprint StudySession::plan(double sparsity, const std::vector<double>& allocation, const std::string& source) const {
  return study_plan(settings_, folder_->model->config(), fingerprint_, importance_.calibration_fingerprint, sparsity,
                    allocation, source);
}

LlavaModel StudySession::pruned_model(const Blueprint& blueprint, WeightSharing sharing) const {
  return apply_blueprint(folder_->model, fingerprint_, blueprint, importance_, sharing);
}

InPlacePruned StudySession::pruned_in_place(const Blueprint& blueprint) const {
  return prune_in_place(folder_->model, fingerprint_, blueprint, importance_);
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
