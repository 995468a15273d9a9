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
    for (const std::string& text :
         {std::string("USER: <image>\nIs there a dog in the image? ASSISTANT: Yes"), bytes.substr(0, 256)}) {
      const auto ids = tokenizer.encode(text);
      for (auto id : ids)
        if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();  // an id outside the vocabulary
      (void)tokenizer.decode(ids);
    }
  } catch (const hipp::Error&) {
  }
  return 0;
}
