#include "model/safetensors.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_fields.h"

namespace hipp {
namespace fs = std::filesystem;

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  int64_t size;
};
constexpr DTypeInfo kDTypes[] = {{DType::F64, "F64", 8},   {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
                                 {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
                                 {DType::I16, "I16", 2},   {DType::I8, "I8", 1},   {DType::U8, "U8", 1},
                                 {DType::BOOL, "BOOL", 1}};

TensorEntry parse_entry(const std::string& name, const nlohmann::json& value, const std::string& where) {
  const std::string here = where + ": tensor '" + name + "'";
  if (!value.is_object()) throw Error(here + " entry is not an object");
  TensorEntry e;
  e.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) throw Error(here + " has no dtype");
  e.dtype = dtype_from_name(value["dtype"].get<std::string>(), here);
  if (!value.contains("shape") || !value["shape"].is_array()) throw Error(here + " has no shape");
  for (const auto& d : value["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) throw Error(here + " has an invalid shape entry " + d.dump());
    e.shape.push_back(d.get<int64_t>());
  }
  const auto& offsets = value.contains("data_offsets") ? value["data_offsets"] : nlohmann::json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw Error(here + " has no valid data_offsets [begin, end]");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin) throw Error(here + " has data_offsets with end before begin");
  // Overflow-safe: the byte count must equal numel * element size.
  uint64_t bytes = static_cast<uint64_t>(dtype_size(e.dtype));
  for (int64_t d : e.shape) {
    if (d != 0 && bytes > UINT64_MAX / static_cast<uint64_t>(d))
      throw Error(here + " has a shape too large to address");
    bytes *= static_cast<uint64_t>(d);
  }
  if (bytes != e.end - e.begin)
    throw Error(here + " shape needs " + std::to_string(bytes) + " bytes but data_offsets span " +
                std::to_string(e.end - e.begin));
  return e;
}

}  // namespace

DType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& info : kDTypes)
    if (name == info.name) return info.dtype;
  throw Error(where + ": unknown dtype '" + name + "'");
}

const char* dtype_name(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return info.name;
  return "?";
}

int64_t dtype_size(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return info.size;
  return 0;
}

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorEntry* SafetensorsHeader::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(const std::string& header_json, uint64_t data_size,
                                           const std::string& path) {
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_json);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number too large
    throw Error(path + ": safetensors header is not valid JSON (" + e.what() + ")");
  }
  if (!header.is_object()) throw Error(path + ": safetensors header is not a JSON object");
  SafetensorsHeader result;
  result.path = path;
  result.data_size = data_size;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw Error(path + ": __metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw Error(path + ": __metadata__ value '" + mk + "' is not a string");
        result.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    result.tensors.push_back(parse_entry(key, value, path));
  }
  std::sort(result.tensors.begin(), result.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (const auto& t : result.tensors) {
    if (t.end > data_size)
      throw Error(path + ": tensor '" + t.name + "' data_offsets end at " + std::to_string(t.end) +
                  " past the data buffer of " + std::to_string(data_size) + " bytes");
    if (t.begin < cursor) throw Error(path + ": tensor '" + t.name + "' overlaps the tensor before it");
    if (t.begin > cursor) throw Error(path + ": data buffer has a hole before tensor '" + t.name + "'");
    cursor = t.end;
  }
  if (cursor != data_size)
    throw Error(path + ": data buffer has " + std::to_string(data_size - cursor) + " bytes after the last tensor");
  return result;
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8) throw Error(path + ": file too short to be safetensors");
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  if (header_length > kMaxSafetensorsHeader)
    throw Error(path + ": safetensors header length " + std::to_string(header_length) + " exceeds the limit");
  if (header_length > file_size - 8)
    throw Error(path + ": safetensors header length " + std::to_string(header_length) +
                " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  std::string header_json(header_length, '\0');
  in.read(header_json.data(), static_cast<std::streamsize>(header_length));
  if (!in) throw Error(path + ": cannot read safetensors header");
  auto header = parse_safetensors_header(header_json, file_size - 8 - header_length, path);
  header.data_start = 8 + header_length;
  return header;
}

CheckpointFiles open_checkpoint_files(const std::string& dir) {
  CheckpointFiles files;
  const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single_path = fs::path(dir) / "model.safetensors";
  if (fs::exists(index_path)) {
    const auto index = read_json_file(index_path.string());
    if (!index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error(index_path.string() + ": missing field 'weight_map'");
    std::map<std::string, size_t> shard_of_file;
    for (const auto& [tensor, file] : index["weight_map"].items()) {
      if (!file.is_string())
        throw Error(index_path.string() + ": weight_map entry '" + tensor + "' is not a file name");
      const std::string name = file.get<std::string>();
      if (name.find('/') != std::string::npos || name.find("..") != std::string::npos)
        throw Error(index_path.string() + ": shard name '" + name + "' leaves the folder");
      auto [it, inserted] = shard_of_file.emplace(name, files.shards.size());
      if (inserted) files.shards.push_back(read_safetensors_header((fs::path(dir) / name).string()));
      const auto& shard = files.shards[it->second];
      if (!shard.find(tensor))
        throw Error(index_path.string() + ": tensor '" + tensor + "' is mapped to " + name +
                    " but that file does not hold it");
      files.tensor_shard[tensor] = it->second;
    }
    for (size_t s = 0; s < files.shards.size(); ++s)
      for (const auto& t : files.shards[s].tensors) {
        auto it = files.tensor_shard.find(t.name);
        if (it == files.tensor_shard.end() || it->second != s)
          throw Error(files.shards[s].path + ": tensor '" + t.name + "' is not mapped to this file by the index");
      }
  } else if (fs::exists(single_path)) {
    files.shards.push_back(read_safetensors_header(single_path.string()));
    for (const auto& t : files.shards[0].tensors) files.tensor_shard[t.name] = 0;
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  return files;
}

}  // namespace hipp
