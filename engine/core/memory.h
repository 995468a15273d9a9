#pragma once
// What the machine's memory allows: checked before a large allocation so
// that a config or option that cannot fit is an error naming its cause, not
// an out-of-memory crash part-way.
#include <cstdint>
#include <string>

namespace hipp {

// Memory the kernel can give this process now (MemAvailable), in bytes;
// 0 when it cannot be read (then no check is made).
uint64_t available_memory_bytes();

// Throws hipp::Error("<what> needs N GiB of memory but M GiB are available")
// when `bytes` exceeds the available memory.
void require_memory(double bytes, const std::string& what);

}  // namespace hipp
