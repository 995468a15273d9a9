#pragma once
// A fast, stable 64-bit content hash (not cryptographic) for cache keys and
// fingerprints. The same bytes give the same hash on every run and machine.
#include <cstddef>
#include <cstdint>
#include <string>

namespace hipp {

class ContentHash {
 public:
  void add(const void* data, size_t size);
  void add(const std::string& text) { add(text.data(), text.size()); }
  uint64_t value() const;
  std::string hex() const;  // 16 lowercase hex digits

 private:
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
  uint64_t length_ = 0;
};

std::string hash_hex(const std::string& bytes);

}  // namespace hipp
