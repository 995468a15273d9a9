#include "core/hash.h"

#include <cstdio>
#include <cstring>

namespace hipp {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace

void ContentHash::add(const void* data, size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes + i, 8);
    state_ = (state_ ^ mix(word)) * 0x100000001b3ull + 0x632be59bd9b4e019ull;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < size; ++k) tail |= static_cast<uint64_t>(bytes[i + k]) << (8 * k);
  state_ = (state_ ^ mix(tail ^ (size - i))) * 0x100000001b3ull;
  length_ += size;
}

uint64_t ContentHash::value() const { return mix(state_ ^ length_); }

std::string ContentHash::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value()));
  return text;
}

std::string hash_hex(const std::string& bytes) {
  ContentHash h;
  h.add(bytes);
  return h.hex();
}

}  // namespace hipp
