// A pruning blueprint (blueprint.json): read, then written back canonically.
#include "core/error.h"
#include "fuzz_support.h"
#include "prune/blueprint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = hipp::fuzz::write_input("blueprint.json", data, size);
  try {
    const auto blueprint = hipp::read_blueprint(path);
    (void)hipp::blueprint_hash(blueprint);
    (void)hipp::blueprint_to_json(blueprint).dump();
  } catch (const hipp::Error&) {
  }
  return 0;
}
