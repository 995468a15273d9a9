// A sentencepiece tokenizer.model: parsed, then used on a fixed text and on
// the input itself, and every id decoded.
#include <string>

#include "core/error.h"
#include "fuzz_support.h"
#include "model/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto tokenizer = hipp::Tokenizer::parse(bytes, "fuzz tokenizer.model");
    hipp::fuzz::check_encodings(tokenizer,
                                {"USER: <image>\nIs there a dog in the image? ASSISTANT: Yes", bytes.substr(0, 256)});
  } catch (const hipp::Error&) {
  }
  return 0;
}
