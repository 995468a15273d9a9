#pragma once
// Reading and writing tensor data in safetensors files (torch side).
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

}  // namespace hipp
