#include "core/memory.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace hipp {

uint64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    uint64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return 0;
}

void require_memory(double bytes, const std::string& what) {
  const uint64_t available = available_memory_bytes();
  if (available == 0 || bytes <= static_cast<double>(available)) return;
  char text[160];
  std::snprintf(text, sizeof text, " needs %.1f GiB of memory but %.1f GiB are available", bytes / (1 << 30),
                static_cast<double>(available) / (1 << 30));
  throw Error(what + text);
}

}  // namespace hipp
