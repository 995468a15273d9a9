#pragma once
// Where hipp-prune keeps what it can rebuild (the demo, image features):
// $XDG_CACHE_HOME/hipp-prune, else ~/.cache/hipp-prune, else the system
// temporary folder. The CLI and the app use the same places. Torch-free.
#include <string>

namespace hipp {

std::string default_cache_dir();

// This machine's host name ("unknown" when the system will not say), as
// study owners and evaluation workers name themselves.
std::string host_name();

}  // namespace hipp
