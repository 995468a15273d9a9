#pragma once
// The safetensors file format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the
// data buffer. This part is torch-free: it reads and validates headers and
// the sharded-checkpoint index. Tensor data is read by model/tensor_io.h.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hipp {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

// "F32" -> DType::F32; throws hipp::Error for names the format does not define.
DType dtype_from_name(const std::string& name, const std::string& where);
const char* dtype_name(DType dtype);
int64_t dtype_size(DType dtype);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data buffer
  uint64_t end = 0;

  int64_t numel() const;
};

struct SafetensorsHeader {
  std::string path;
  uint64_t data_start = 0;  // absolute file offset of the data buffer
  uint64_t data_size = 0;
  std::vector<TensorEntry> tensors;  // in file order (sorted by offset)
  std::map<std::string, std::string> metadata;

  const TensorEntry* find(const std::string& name) const;
};

// Largest header this reader accepts (the reference implementation's limit).
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// Parses and validates a header JSON against a data buffer of `data_size`
// bytes. Every entry is checked: known dtype, non-negative shape, offsets
// inside the buffer, byte range equal to shape x element size, no overlap and
// no hole. Errors name `path` and the tensor.
SafetensorsHeader parse_safetensors_header(const std::string& header_json, uint64_t data_size, const std::string& path);

// Reads and validates the header of a file on disk.
SafetensorsHeader read_safetensors_header(const std::string& path);

// Which file holds each tensor of a checkpoint folder: model.safetensors.index.json
// (sharded) or a single model.safetensors.
struct CheckpointFiles {
  std::vector<SafetensorsHeader> shards;
  std::map<std::string, size_t> tensor_shard;  // tensor name -> index into shards
};

// Opens every shard of the checkpoint in `dir` and validates that the index
// and the shards agree (each mapped tensor present in its shard, no tensor in
// two shards).
CheckpointFiles open_checkpoint_files(const std::string& dir);

}  // namespace hipp
