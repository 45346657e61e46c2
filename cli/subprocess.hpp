#pragma once
// Runs a shell command with input on stdin, extra environment variables and a time limit,
// collecting stdout and stderr (`method serve --handler`).
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace azhub::cli {

struct ProcessResult {
  int exit_code = -1;      // the exit status, or 128 + signal
  bool timed_out = false;  // killed after the time limit
  std::string out;
  std::string err;
};

// Runs `/bin/sh -c command` in its own process group with `input` on stdin and `env` added to
// this process's environment. After `timeout` the whole group is killed (SIGKILL). Throws
// Error(failure) if the process cannot be started.
[[nodiscard]] ProcessResult run_shell(const std::string& command, const std::string& input,
                                      const std::vector<std::pair<std::string, std::string>>& env,
                                      std::chrono::milliseconds timeout);

}  // namespace azhub::cli
