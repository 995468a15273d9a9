#pragma once
// Reading and writing tensor data in safetensors files (torch side).
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "model/safetensors.h"

namespace hipp {

torch::ScalarType to_scalar_type(DType dtype);
DType from_scalar_type(torch::ScalarType type, const std::string& where);

// Reads one tensor's bytes from its file into a new CPU tensor of its stored dtype.
torch::Tensor read_tensor(const SafetensorsHeader& header, const TensorEntry& entry);

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes tensors (any device; copied to CPU one at a time) as one safetensors
// file, header padded to 8 bytes. Written to a temporary file renamed into place.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A tensor made when its bytes are due: `make` is called once, its result
// (any device and dtype, converted to `dtype` on the CPU) written and
// dropped, so a file of many large tensors holds one at a time in memory.
struct TensorSource {
  std::string name;
  std::vector<int64_t> shape;
  torch::ScalarType dtype = torch::kFloat32;
  std::function<torch::Tensor()> make;
  uint64_t bytes() const;
};
void write_safetensors_streaming(const std::string& path, const std::vector<TensorSource>& sources,
                                 const std::map<std::string, std::string>& metadata = {});

}  // namespace hipp
