#pragma once
// Errors the engine reports to its users. Every failure that bad input can
// cause is an hipp::Error with a message that names the file, field or tensor.
#include <stdexcept>
#include <string>

namespace hipp {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Raised when a long operation stops because the user asked it to.
class Cancelled : public Error {
 public:
  Cancelled() : Error("cancelled") {}
};

}  // namespace hipp
