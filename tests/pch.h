#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>
