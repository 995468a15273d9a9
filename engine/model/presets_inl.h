#pragma once
#include <filesystem>
#include <system_error>
#include <unistd.h>

#include "core/error.h"

namespace hipp {

template <typename Write>
void write_folder_atomically(const std::string& out_dir, Write&& write) {
  namespace fs = std::filesystem;
  const fs::path target = fs::absolute(out_dir).lexically_normal();
  if (fs::exists(target) && !(fs::is_directory(target) && fs::is_empty(target)))
    throw Error(out_dir + ": already exists and is not an empty folder");
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path temp = target.string() + ".partial-" + std::to_string(::getpid());
  fs::remove_all(temp);
  fs::create_directories(temp);
  try {
    write(temp.string());
    std::error_code ignored;
    fs::remove(target, ignored);  // an empty folder may stand there
    fs::rename(temp, target);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temp, ignored);
    throw;
  }
}

}  // namespace hipp
