#pragma once
// The one way azhub runs a shell command: `/bin/sh -c CMD` in its own process group, with input
// on stdin, extra environment variables, a time limit and the Ctrl-C flag, collecting its
// output. Two callers: `--token-command` (make_command_credentials, device/credentials.cpp, at
// every (re)connect) and `method serve --handler` (cli/method.cpp, once per call).
//
// Why it lives in device/: core/ is pure (no processes, ARCHITECTURE.md), and the token command
// runs inside the device library, below DeviceClient, at every reconnect. cli/ may use device/
// (cli -> device), so `method serve` calls this same runner from here; nothing else needs it.
// The other way round (cli/ owns the runner and hands a function to the credential source)
// would make device/ declare a runner interface that only it calls, and every other user of
// make_command_credentials would have to bring its own.
//
// Linux only: the exit of the shell is waited for with a pidfd (pidfd_open, Linux 5.3) in the
// same poll() as its pipes (with short, growing waits where the kernel has no pidfd), and that
// poll() never waits longer than 50 ms at a time while there is an interrupt flag to look at:
// the SIGINT handler may run on any thread (Paho's too), so a signal does not reliably
// interrupt this thread's poll().
#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace azhub::device {

struct ShellRequest {
  std::string input;                                        // written to stdin, then closed
  std::vector<std::pair<std::string, std::string>> env;     // added to (or replacing) this environment
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  const std::atomic<bool>* interrupted = nullptr;           // Ctrl-C: stop the command at once
  bool capture_err = true;                                  // false: stderr is azhub's stderr
  std::chrono::milliseconds kill_grace{300};                // SIGTERM -> SIGKILL
};

struct ProcessResult {
  int exit_code = -1;       // the exit status, or 128 + signal
  int signal = 0;           // the signal that ended the shell, 0 when it exited
  bool timed_out = false;   // stopped after `timeout`
  bool interrupted = false; // stopped because the interrupt flag was set
  std::string out;
  std::string err;          // empty unless capture_err
};

// Runs `/bin/sh -c command` in a new process group and returns once the shell has exited and
// its output is closed. On timeout or interrupt the whole group gets SIGTERM, then SIGKILL once
// the shell has exited and its pipes are closed or `kill_grace` has passed, whichever is first;
// the shell is reaped before this returns, only after the last signal, so that its process group
// id cannot have been reused. Output read before the stop is kept. Throws Error(failure) if the
// shell cannot be started.
[[nodiscard]] ProcessResult run_shell(const std::string& command, const ShellRequest& request);

}  // namespace azhub::device
