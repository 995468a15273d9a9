// A byte-level BPE tokenizer.json (Qwen2's kind): parsed, then used on a
// fixed chat prompt and on the input itself, and every id decoded.
#include <string>

#include "core/error.h"
#include "fuzz_support.h"
#include "model/byte_bpe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto tokenizer = hipp::ByteLevelBpe::parse(bytes, "", "fuzz tokenizer.json");
    hipp::fuzz::check_encodings(tokenizer, {"<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is "
                                            "there a dog? It's 42.<|im_end|>\n",
                                            bytes.substr(0, 256)});
  } catch (const hipp::Error&) {
  }
  return 0;
}
