#pragma once
// A model's fingerprint: its architecture (config JSON) and every weight,
// hashed. Caches and blueprints key on it.
#include <string>

#include "model/llava.h"

namespace hipp {

std::string model_fingerprint(LlavaModel& model);

}  // namespace hipp
