// config.json of a LLaVA checkpoint: read, then validated as loading does.
#include "core/error.h"
#include "fuzz_support.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = hipp::fuzz::write_input("config.json", data, size);
  try {
    const auto config = hipp::read_llava_config(path);
    hipp::validate_llava_config(config, path);
    (void)hipp::parameter_estimate(config);
    (void)hipp::llava_config_to_json(config).dump();
  } catch (const hipp::Error&) {
  }
  return 0;
}
