#include "prune/blueprint.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/hash.h"
#include "core/json_fields.h"

namespace hipp {

std::string structure_name(Structure s) { return s == Structure::MlpChannels ? "mlp_channels" : "attention_heads"; }

Structure parse_structure(const std::string& name) {
  if (name == "mlp_channels") return Structure::MlpChannels;
  if (name == "attention_heads") return Structure::AttentionHeads;
  throw Error("unknown structure type '" + name + "' (expected mlp_channels or attention_heads)");
}

const std::vector<std::string>& importance_methods() {
  static const std::vector<std::string> methods{"magnitude", "wanda-sp", "flap"};
  return methods;
}

std::string importance_name(ImportanceMethod method) {
  switch (method) {
    case ImportanceMethod::Magnitude:
      return "magnitude";
    case ImportanceMethod::WandaSp:
      return "wanda-sp";
    case ImportanceMethod::Flap:
      return "flap";
  }
  return "?";
}

ImportanceMethod parse_importance(const std::string& name) {
  for (auto method : {ImportanceMethod::Magnitude, ImportanceMethod::WandaSp, ImportanceMethod::Flap})
    if (importance_name(method) == name) return method;
  throw Error("unknown importance method '" + name + "' (magnitude, wanda-sp or flap)");
}

bool importance_needs_calibration(ImportanceMethod method) { return method != ImportanceMethod::Magnitude; }

double Blueprint::ratio(size_t l) const {
  return units[l] > 0 ? 1.0 - static_cast<double>(kept[l]) / static_cast<double>(units[l]) : 0.0;
}

nlohmann::json blueprint_to_json(const Blueprint& b) {
  std::vector<double> ratios;
  for (size_t l = 0; l < b.layers(); ++l) ratios.push_back(b.ratio(l));
  return {{"schema_version", kBlueprintSchemaVersion},
          {"model_fingerprint", b.model_fingerprint},
          {"structure", structure_name(b.structure)},
          {"sparsity", b.sparsity},
          {"achieved_sparsity", b.achieved_sparsity},
          {"allocation", b.allocation},
          {"r_max", b.r_max},
          {"align", b.align},
          {"units", b.units},
          {"kept", b.kept},
          {"ratios", ratios},
          {"importance", importance_name(b.importance)},
          {"calibration_fingerprint", b.calibration_fingerprint},
          {"source", b.source}};
}

Blueprint blueprint_from_json(const nlohmann::json& json, const std::string& where) {
  if (!json.is_object()) throw Error(where + ": a blueprint must be a JSON object");
  const auto version = required_field<int64_t>(json, "schema_version", where);
  if (version != kBlueprintSchemaVersion)
    throw Error(where + ": blueprint schema version " + std::to_string(version) +
                " is not supported (this build reads " + std::to_string(kBlueprintSchemaVersion) + ")");
  Blueprint b;
  b.model_fingerprint = required_field<std::string>(json, "model_fingerprint", where);
  try {
    b.structure = parse_structure(required_field<std::string>(json, "structure", where));
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  b.sparsity = required_field<double>(json, "sparsity", where);
  b.achieved_sparsity = optional_field<double>(json, "achieved_sparsity", 0.0, where);
  b.allocation = required_field<std::vector<double>>(json, "allocation", where);
  b.r_max = optional_field<double>(json, "r_max", 0.9, where);
  b.align = optional_field<int64_t>(json, "align", 1, where);
  b.units = required_field<std::vector<int64_t>>(json, "units", where);
  b.kept = required_field<std::vector<int64_t>>(json, "kept", where);
  try {
    b.importance = parse_importance(optional_field<std::string>(json, "importance", "wanda-sp", where));
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  b.calibration_fingerprint = optional_field<std::string>(json, "calibration_fingerprint", "", where);
  b.source = optional_field<std::string>(json, "source", "", where);

  if (!(b.sparsity >= 0 && b.sparsity < 1))
    throw Error(where + ": sparsity must be in [0, 1), got " + std::to_string(b.sparsity));
  if (!(b.r_max > 0 && b.r_max <= 1)) throw Error(where + ": r_max must be in (0, 1]");
  if (b.align < 1) throw Error(where + ": align must be at least 1");
  if (b.units.empty()) throw Error(where + ": the blueprint has no layers");
  if (b.allocation.size() != b.units.size() || b.kept.size() != b.units.size())
    throw Error(where + ": 'allocation', 'units' and 'kept' must have one entry per layer (" +
                std::to_string(b.allocation.size()) + ", " + std::to_string(b.units.size()) + ", " +
                std::to_string(b.kept.size()) + ")");
  double total = 0;
  for (double a : b.allocation) {
    if (!(a >= 0 && a <= 1)) throw Error(where + ": allocation entries must be in [0, 1]");
    total += a;
  }
  if (std::abs(total - 1) > 1e-6)
    throw Error(where + ": allocation entries must sum to 1, they sum to " + std::to_string(total));
  for (size_t l = 0; l < b.units.size(); ++l) {
    if (b.units[l] < 1) throw Error(where + ": layer " + std::to_string(l) + " has no units");
    if (b.kept[l] < 1 || b.kept[l] > b.units[l])
      throw Error(where + ": layer " + std::to_string(l) + " keeps " + std::to_string(b.kept[l]) + " of " +
                  std::to_string(b.units[l]) + " units (must be 1.." + std::to_string(b.units[l]) + ")");
  }
  if (json.contains("ratios")) {
    const auto ratios = required_field<std::vector<double>>(json, "ratios", where);
    if (ratios.size() != b.units.size()) throw Error(where + ": 'ratios' must have one entry per layer");
    for (size_t l = 0; l < ratios.size(); ++l) {
      if (!(ratios[l] >= 0 && ratios[l] <= 1))
        throw Error(where + ": ratio of layer " + std::to_string(l) + " must be in [0, 1]");
      if (std::abs(ratios[l] - b.ratio(l)) > 1e-6)
        throw Error(where + ": ratio of layer " + std::to_string(l) + " disagrees with its kept count");
    }
  }
  return b;
}

Blueprint read_blueprint(const std::string& path) { return blueprint_from_json(read_json_file(path), path); }

void write_blueprint(const std::string& path, const Blueprint& b) { write_json_file(path, blueprint_to_json(b)); }

std::string canonical_blueprint(const Blueprint& b) { return blueprint_to_json(b).dump(); }

std::string blueprint_hash(const Blueprint& b) { return hash_hex(canonical_blueprint(b)); }

void check_blueprint_model(const Blueprint& b, const std::string& fingerprint) {
  if (b.model_fingerprint != fingerprint)
    throw Error("this blueprint was made for model " + b.model_fingerprint + ", not for this model (" + fingerprint +
                "); plans apply only to the model they were made for");
}

}  // namespace hipp
