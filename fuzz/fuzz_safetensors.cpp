// A safetensors file as a user might hand it over: the 8-byte header length,
// the header JSON, the data buffer. Reading the header must validate every
// entry against the file or fail with hipp::Error.
#include "core/error.h"
#include "fuzz_support.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = hipp::fuzz::write_input("model.safetensors", data, size);
  try {
    const auto header = hipp::read_safetensors_header(path);
    for (const auto& t : header.tensors) {
      if (t.end < t.begin || header.data_start + t.end > size) __builtin_trap();  // an entry outside the file
      (void)header.find(t.name);
    }
  } catch (const hipp::Error&) {
  }
  return 0;
}
