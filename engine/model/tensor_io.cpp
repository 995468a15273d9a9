#include "model/tensor_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace hipp {

torch::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::F64:
      return torch::kFloat64;
    case DType::F32:
      return torch::kFloat32;
    case DType::F16:
      return torch::kFloat16;
    case DType::BF16:
      return torch::kBFloat16;
    case DType::I64:
      return torch::kInt64;
    case DType::I32:
      return torch::kInt32;
    case DType::I16:
      return torch::kInt16;
    case DType::I8:
      return torch::kInt8;
    case DType::U8:
      return torch::kUInt8;
    case DType::BOOL:
      return torch::kBool;
  }
  return torch::kFloat32;
}

DType from_scalar_type(torch::ScalarType type, const std::string& where) {
  switch (type) {
    case torch::kFloat64:
      return DType::F64;
    case torch::kFloat32:
      return DType::F32;
    case torch::kFloat16:
      return DType::F16;
    case torch::kBFloat16:
      return DType::BF16;
    case torch::kInt64:
      return DType::I64;
    case torch::kInt32:
      return DType::I32;
    case torch::kInt16:
      return DType::I16;
    case torch::kInt8:
      return DType::I8;
    case torch::kUInt8:
      return DType::U8;
    case torch::kBool:
      return DType::BOOL;
    default:
      throw Error(where + ": tensor dtype cannot be stored in safetensors");
  }
}

torch::Tensor read_tensor(const SafetensorsHeader& header, const TensorEntry& entry) {
  auto tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(to_scalar_type(entry.dtype)));
  const auto bytes = static_cast<std::streamsize>(entry.end - entry.begin);
  if (bytes == 0) return tensor;
  std::ifstream in(header.path, std::ios::binary);
  if (!in) throw Error(header.path + ": cannot open file");
  in.seekg(static_cast<std::streamoff>(header.data_start + entry.begin));
  in.read(static_cast<char*>(tensor.data_ptr()), bytes);
  if (in.gcount() != bytes) throw Error(header.path + ": tensor '" + entry.name + "' could not be read in full");
  return tensor;
}

uint64_t TensorSource::bytes() const {
  uint64_t n = 1;
  for (auto d : shape) n *= static_cast<uint64_t>(d);
  return n * static_cast<uint64_t>(c10::elementSize(dtype));
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSource> sources;
  sources.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors)
    sources.push_back({name, tensor.sizes().vec(), tensor.scalar_type(), [t = tensor] { return t; }});
  write_safetensors_streaming(path, sources, metadata);
}

void write_safetensors_streaming(const std::string& path, const std::vector<TensorSource>& sources,
                                 const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& source : sources) {
    const uint64_t bytes = source.bytes();
    header[source.name] = {{"dtype", dtype_name(from_scalar_type(source.dtype, path + " " + source.name))},
                           {"shape", source.shape},
                           {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  // Named by process: processes writing one file at once (workers filling
  // a shared feature cache) never write into each other's temporary file;
  // the last complete one is renamed into place.
  const std::string temp = path + "." + std::to_string(::getpid()) + ".tmp";
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path + ": cannot write file");
  unsigned char length_bytes[8];
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(length >> (8 * i));
  out.write(reinterpret_cast<const char*>(length_bytes), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  try {
    for (const auto& source : sources) {
      if (!out) break;
      auto cpu = source.make().detach().to(torch::kCPU).to(source.dtype).contiguous();
      if (cpu.sizes().vec() != source.shape)
        throw Error(path + ": tensor '" + source.name + "' was made in another shape than its header says");
      out.write(static_cast<const char*>(cpu.data_ptr()),
                static_cast<std::streamsize>(cpu.numel() * cpu.element_size()));
    }
  } catch (...) {
    out.close();
    std::remove(temp.c_str());
    throw;
  }
  out.close();
  if (!out) {
    const int error = errno;  // EFBIG under a file-size limit, ENOSPC on a full disk
    std::remove(temp.c_str());
    throw Error(path + ": write failed" + (error ? std::string(" (") + std::strerror(error) + ")" : std::string()));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    throw Error(path + ": cannot rename temporary file into place");
  }
}

}  // namespace hipp
