#pragma once
// LibTorch's CPU thread count. Debian's LibTorch starts with one intra-op
// thread; the engine uses every core unless told otherwise.

namespace hipp {

// Sets LibTorch's intra-op threads: `requested` > 0 as given, 0 = all cores.
// Returns the count in force.
int use_threads(int requested);

}  // namespace hipp
