#pragma once
// What every fuzz target shares: the input written to a file in a private
// folder (the parsers under test read files, as the tool does), and the
// rule that a parser may only fail with hipp::Error. Any other exception
// escapes to libFuzzer, which reports it as a crash.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace hipp::fuzz {

// A folder of this process's own, created once, under $TMPDIR or /tmp.
const std::string& work_dir();
// Writes bytes to work_dir()/name and returns the path.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);
std::string write_input(const std::string& name, const std::string& bytes);

// Encodes each text with a parsed tokenizer (either kind), traps on an id
// outside its vocabulary, and decodes the ids.
template <typename Tokenizer>
void check_encodings(const Tokenizer& tokenizer, std::initializer_list<std::string> texts) {
  for (const auto& text : texts) {
    const auto ids = tokenizer.encode(text);
    for (auto id : ids)
      if (id < 0 || id >= tokenizer.vocab_size()) __builtin_trap();  // an id outside the vocabulary
    (void)tokenizer.decode(ids);
  }
}

}  // namespace hipp::fuzz
