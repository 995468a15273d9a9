#pragma once
// A pruning plan as data (docs/pruning.md): which model it is for, what is
// pruned, the global sparsity and its layer allocation, and the per-layer
// counts they give. A blueprint is not a pruned model: applying it to the
// same model with the same importance scores is deterministic. Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hipp {

inline constexpr int kBlueprintSchemaVersion = 1;

enum class Structure { MlpChannels, AttentionHeads };
std::string structure_name(Structure s);             // "mlp_channels", "attention_heads"
Structure parse_structure(const std::string& name);  // throws hipp::Error

// Importance methods (docs/pruning.md): "magnitude", "wanda-sp" (the
// default), "flap". Strings only at the edges (files, options).
enum class ImportanceMethod { Magnitude, WandaSp, Flap };
std::string importance_name(ImportanceMethod method);
ImportanceMethod parse_importance(const std::string& name);  // throws hipp::Error
const std::vector<std::string>& importance_methods();        // the names, for option checks
bool importance_needs_calibration(ImportanceMethod method);

struct Blueprint {
  std::string model_fingerprint;
  Structure structure = Structure::MlpChannels;
  double sparsity = 0;             // requested global sparsity s
  std::vector<double> allocation;  // one entry per decoder layer, sums to 1
  double r_max = 0.9;
  int64_t align = 1;
  std::vector<int64_t> units;  // prunable units per layer before pruning
  std::vector<int64_t> kept;   // units kept per layer
  ImportanceMethod importance = ImportanceMethod::WandaSp;
  std::string calibration_fingerprint;  // empty when the method needs none
  double achieved_sparsity = 0;         // removed / all prunable parameters
  std::string source;                   // how the allocation was made: "uniform", "owl", "file", "policy", ...

  size_t layers() const { return units.size(); }
  // Share of units removed in layer l.
  double ratio(size_t l) const;
};

nlohmann::json blueprint_to_json(const Blueprint& b);
// `where` names the file in errors. Checks the schema version, the fields'
// types and ranges, and that the per-layer lists agree in length.
Blueprint blueprint_from_json(const nlohmann::json& json, const std::string& where);
Blueprint read_blueprint(const std::string& path);
void write_blueprint(const std::string& path, const Blueprint& b);

// The canonical serialisation (sorted keys, compact) and its hash: two equal
// plans hash equally, whatever key order or whitespace their files had.
std::string canonical_blueprint(const Blueprint& b);
std::string blueprint_hash(const Blueprint& b);

// Throws a clear hipp::Error unless `b` was made for the model with
// fingerprint `fingerprint`.
void check_blueprint_model(const Blueprint& b, const std::string& fingerprint);

}  // namespace hipp
