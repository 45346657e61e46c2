#pragma once
// The one error type of azhub and its exit codes (documented in azhub(1), man/azhub.1).
#include <stdexcept>
#include <string>

namespace azhub::core {

enum class ExitCode : int {
  ok = 0,
  failure = 1,  // the operation failed: hub error status, handler failed, unacknowledged messages
  usage = 2,    // usage or input error: bad flag, bad connection string, invalid JSON, over a limit
  connect = 3,  // could not connect or authenticate
  timeout = 4,  // timed out waiting (--timeout, no response to a request)
  interrupted = 130  // SIGINT
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), m_code(code) {}
  [[nodiscard]] ExitCode code() const noexcept { return m_code; }

 private:
  ExitCode m_code;
};

// Shorthand for the most common case: bad input, exit 2.
[[nodiscard]] inline Error usage_error(const std::string& message) {
  return Error(ExitCode::usage, message);
}

}  // namespace azhub::core
