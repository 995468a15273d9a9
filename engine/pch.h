// Precompiled for every engine source: torch's headers dominate build time.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
