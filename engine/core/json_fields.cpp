#include "core/json_fields.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace hipp {
namespace {

template <typename T>
const char* kind_name() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  if constexpr (std::is_integral_v<T>) return "an integer";
  if constexpr (std::is_floating_point_v<T>) return "a number";
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of strings";
  return "a list of numbers";
}

template <typename T>
bool has_kind(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, bool>) return value.is_boolean();
  if constexpr (std::is_integral_v<T>) return value.is_number_integer();
  if constexpr (std::is_floating_point_v<T>) return value.is_number();
  if constexpr (std::is_same_v<T, std::string>) return value.is_string();
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    if (!value.is_array()) return false;
    for (const auto& v : value)
      if (!v.is_number_integer()) return false;
    return true;
  }
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!value.is_array()) return false;
    for (const auto& v : value)
      if (!v.is_string()) return false;
    return true;
  }
  if constexpr (std::is_same_v<T, std::vector<double>>) {
    if (!value.is_array()) return false;
    for (const auto& v : value)
      if (!v.is_number()) return false;
    return true;
  }
  return false;
}

template <typename T>
T convert(const nlohmann::json& value, const std::string& key, const std::string& where) {
  if (!has_kind<T>(value)) throw Error(where + ": field '" + key + "' must be " + kind_name<T>());
  return value.get<T>();
}

}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
    throw Error(path + ": invalid JSON (" + e.what() + ")");
  }
}

void require_regular_file(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  // A missing file is the opener's error to report; a FIFO, device or folder
  // would block or mislead the reader.
  if (!error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw Error(path + ": not a regular file");
}

void require_path_inside(const std::string& relative, const std::string& where) {
  const std::filesystem::path path(relative);
  bool escapes = relative.empty() || path.has_root_path();
  for (const auto& part : path) escapes = escapes || part == "..";
  if (escapes) throw Error(where + ": path '" + relative + "' must stay inside the benchmark folder");
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  // Named by process: processes writing one file at once (workers filling
  // a shared feature cache) never write into each other's temporary file;
  // the last complete one is renamed into place.
  const std::string temp = path + "." + std::to_string(::getpid()) + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path + ": cannot write file");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      const int error = errno;
      out.close();
      std::remove(temp.c_str());
      throw Error(path + ": write failed" + (error ? std::string(" (") + std::strerror(error) + ")" : std::string()));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  write_file_atomically(path, value.dump(2) + "\n");
}

template <typename T>
T required_field(const nlohmann::json& object, const std::string& key, const std::string& where) {
  if (!object.is_object()) throw Error(where + ": expected a JSON object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) throw Error(where + ": missing field '" + key + "'");
  return convert<T>(*it, key, where);
}

template <typename T>
T optional_field(const nlohmann::json& object, const std::string& key, const T& fallback, const std::string& where) {
  if (!object.is_object()) throw Error(where + ": expected a JSON object");
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return convert<T>(*it, key, where);
}

#define HIPP_INSTANTIATE_FIELD(T)                                                              \
  template T required_field<T>(const nlohmann::json&, const std::string&, const std::string&); \
  template T optional_field<T>(const nlohmann::json&, const std::string&, const T&, const std::string&);
HIPP_INSTANTIATE_FIELD(bool)
HIPP_INSTANTIATE_FIELD(int64_t)
HIPP_INSTANTIATE_FIELD(double)
HIPP_INSTANTIATE_FIELD(std::string)
HIPP_INSTANTIATE_FIELD(std::vector<int64_t>)
HIPP_INSTANTIATE_FIELD(std::vector<double>)
HIPP_INSTANTIATE_FIELD(std::vector<std::string>)
#undef HIPP_INSTANTIATE_FIELD

}  // namespace hipp
