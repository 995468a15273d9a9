#include "core/threads.h"

#include <thread>

#include <torch/torch.h>

namespace hipp {

int use_threads(int requested) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int count = requested;
  // More threads than cores only makes the work wait on itself.
  if (count <= 0 || count > cores) count = cores;
  torch::set_num_threads(count);
  return torch::get_num_threads();
}

}  // namespace hipp
