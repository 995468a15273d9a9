#pragma once
// Typed access to JSON fields with errors that say which file and field.
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace hipp {

// Reads a whole JSON file; a missing file or a syntax error names the path.
nlohmann::json read_json_file(const std::string& path);
// Throws hipp::Error when `path` exists but is not a regular file (a FIFO
// would block the reader forever, a folder reads as garbage).
void require_regular_file(const std::string& path);

// Refuses a path, read from a data file, that could leave the folder it is
// relative to: an absolute path or one with a ".." component. `where` names
// the file and entry for the error.
void require_path_inside(const std::string& relative, const std::string& where);

// Writes JSON to `path` through a temporary file renamed into place.
void write_json_file(const std::string& path, const nlohmann::json& value);

// Writes `bytes` to `path` through a temporary file renamed into place.
void write_file_atomically(const std::string& path, const std::string& bytes);

// Returns object[key] converted to T. `where` names the file or object in the
// error: "config.json: field text_config.hidden_size must be an integer".
template <typename T>
T required_field(const nlohmann::json& object, const std::string& key, const std::string& where);

// Same, but returns `fallback` when the key is absent or null.
template <typename T>
T optional_field(const nlohmann::json& object, const std::string& key, const T& fallback, const std::string& where);

}  // namespace hipp
