#include "core/paths.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace hipp {

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/hipp-prune";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/hipp-prune";
  return (std::filesystem::temp_directory_path() / "hipp-prune").string();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

}  // namespace hipp
