#include "core/threads.h"

#include <thread>

#include <torch/torch.h>

namespace hipp {

int use_threads(int requested) {
  int count = requested;
  if (count <= 0) count = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(count);
  return torch::get_num_threads();
}

}  // namespace hipp
