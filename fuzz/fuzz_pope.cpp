// A POPE question file (coco_pope_<split>.json, one JSON object per line).
#include "core/error.h"
#include "data/pope.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = hipp::fuzz::write_input("coco_pope_random.json", data, size);
  try {
    for (const auto& q : hipp::read_pope_file(path, "random")) (void)hipp::pope_id_json(q.question_id).dump();
  } catch (const hipp::Error&) {
  }
  return 0;
}
