#include "device/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace azhub;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// A process that no longer runs: no such pid, or a zombie waiting for a parent that is not us
// (an orphan whose reaper may be slow or absent in a container).
bool dead(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto paren = text.rfind(')');
  return paren == std::string::npos || (paren + 2 < text.size() && text[paren + 2] == 'Z');
}

// `pid` is dead, or dies within 5 s. The shell is reaped before run_shell returns, but a signal
// to the rest of its group is delivered asynchronously: a grandchild may still be on its way
// out for a moment.
bool gone(pid_t pid) {
  const auto deadline = Clock::now() + 5s;
  while (!dead(pid)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);  // polling interval of the check
  }
  return true;
}

// A fresh path in the temporary directory, removed with the object.
struct TempPath {
  std::filesystem::path path;
  TempPath() {
    char name[] = "/tmp/azhub-subprocess-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::filesystem::remove(name);
    path = name;
  }
  ~TempPath() { std::filesystem::remove(path); }
};

// The pids the command wrote to `file` (one a line), once it holds `count` of them and the
// command has renamed it into place. Waits on the file's appearance, up to 10 s.
std::vector<pid_t> wait_for_pids(const std::filesystem::path& file, std::size_t count) {
  const auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    if (std::filesystem::exists(file)) {
      std::ifstream in(file);
      std::vector<pid_t> pids;
      long pid = 0;
      while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
      if (pids.size() >= count) return pids;
    }
    std::this_thread::sleep_for(5ms);  // polling interval of the file check
  }
  FAIL("the command did not write its pids to " << file);
  return {};
}

// Sets `flag` once the command has written `count` pids to `file` (so the interrupt lands while
// it runs, not before it started).
std::thread interrupt_when_running(std::atomic<bool>& flag, const std::filesystem::path& file,
                                   std::size_t count, std::vector<pid_t>& pids) {
  return std::thread([&flag, file, count, &pids] {
    pids = wait_for_pids(file, count);
    flag.store(true);
  });
}

// Shell text that writes the shell's pid and that of a background `sleep 30` (same process
// group) to `file`, atomically, then waits.
std::string two_pids_then_wait(const std::filesystem::path& file, std::string_view prefix = "") {
  const std::string f = file.string();
  return std::string(prefix) + "sleep 30 & echo $$ > " + f + ".tmp; echo $! >> " + f + ".tmp; mv " + f +
         ".tmp " + f + "; wait";
}

}  // namespace

TEST_CASE("device::run_shell: exit status, stdout, stderr, stdin and environment") {
  device::ShellRequest request;
  request.input = "hello";
  request.env = {{"AZHUB_TEST_NAME", "value one"}};
  const auto result = device::run_shell(
      "read line; printf '%s|%s' \"$line\" \"$AZHUB_TEST_NAME\"; echo oops >&2; exit 7", request);
  CHECK(result.exit_code == 7);
  CHECK(result.signal == 0);
  CHECK_FALSE(result.timed_out);
  CHECK_FALSE(result.interrupted);
  CHECK(result.out == "hello|value one");
  CHECK(result.err == "oops\n");

  SUBCASE("input larger than a pipe, echoed back") {
    device::ShellRequest big;
    big.input.assign(1 << 20, 'x');
    const auto echoed = device::run_shell("cat", big);
    CHECK(echoed.exit_code == 0);
    CHECK(echoed.out == big.input);
  }
  SUBCASE("a command that does not read its input (no SIGPIPE here)") {
    device::ShellRequest big;
    big.input.assign(1 << 20, 'x');
    const auto ignored = device::run_shell("exec 0<&-; exit 0", big);
    CHECK(ignored.exit_code == 0);
  }
  SUBCASE("killed by a signal: 128 + N") {
    const auto killed = device::run_shell("kill -9 $$", device::ShellRequest{});
    CHECK(killed.signal == SIGKILL);
    CHECK(killed.exit_code == 128 + SIGKILL);
  }
}

TEST_CASE("device::run_shell: the time limit stops the whole process group") {
  TempPath pids_file;
  device::ShellRequest request;
  request.timeout = 1s;
  const auto started = Clock::now();
  const auto result = device::run_shell(two_pids_then_wait(pids_file.path), request);
  const auto elapsed = Clock::now() - started;
  CHECK(result.timed_out);
  CHECK_FALSE(result.interrupted);
  CHECK(result.signal == SIGTERM);
  CHECK(elapsed < 5s);
  for (pid_t pid : wait_for_pids(pids_file.path, 2)) CHECK(gone(pid));
}

TEST_CASE("device::run_shell: the interrupt flag stops the whole process group at once") {
  TempPath pids_file;
  std::atomic<bool> interrupted{false};
  std::vector<pid_t> pids;
  device::ShellRequest request;
  request.timeout = 30s;
  request.interrupted = &interrupted;
  std::thread setter = interrupt_when_running(interrupted, pids_file.path, 2, pids);
  const auto started = Clock::now();
  const auto result = device::run_shell(two_pids_then_wait(pids_file.path), request);
  const auto elapsed = Clock::now() - started;
  setter.join();
  CHECK(result.interrupted);
  CHECK_FALSE(result.timed_out);
  CHECK(result.signal == SIGTERM);
  CHECK(elapsed < 5s);  // not the 30 s limit
  REQUIRE(pids.size() == 2);
  for (pid_t pid : pids) CHECK(gone(pid));
}

TEST_CASE("device::run_shell: a group that ignores SIGTERM is killed after the grace period") {
  TempPath pids_file;
  std::atomic<bool> interrupted{false};
  std::vector<pid_t> pids;
  device::ShellRequest request;
  request.timeout = 30s;
  request.interrupted = &interrupted;
  request.kill_grace = 300ms;
  // The shell and its sleep both ignore SIGTERM (an ignored signal stays ignored across exec).
  std::thread setter = interrupt_when_running(interrupted, pids_file.path, 2, pids);
  const auto result = device::run_shell(two_pids_then_wait(pids_file.path, "trap '' TERM; "), request);
  setter.join();
  CHECK(result.interrupted);
  CHECK(result.signal == SIGKILL);
  CHECK(result.exit_code == 128 + SIGKILL);
  REQUIRE(pids.size() == 2);
  for (pid_t pid : pids) CHECK(gone(pid));
}

TEST_CASE("device::run_shell: what is left of the group after the shell gets the grace period") {
  // The shell has exited; a background child of it still holds stdout. On the interrupt it gets
  // SIGTERM, and its last words are still read before the group is killed.
  TempPath pids_file, script;
  {
    std::ofstream out(script.path);
    out << "trap 'echo bye; exit 0' TERM\n"
        << "echo $$ > " << pids_file.path.string() << ".tmp; mv " << pids_file.path.string() << ".tmp "
        << pids_file.path.string() << "\n"
        << "while :; do sleep 1; done\n";
  }
  std::atomic<bool> interrupted{false};
  std::vector<pid_t> pids;
  device::ShellRequest request;
  request.timeout = 30s;
  request.interrupted = &interrupted;
  request.kill_grace = 5s;
  std::thread setter = interrupt_when_running(interrupted, pids_file.path, 1, pids);
  const auto started = Clock::now();
  const auto result = device::run_shell("sh " + script.path.string() + " & exit 0", request);
  const auto elapsed = Clock::now() - started;
  setter.join();
  CHECK(result.interrupted);
  CHECK(result.exit_code == 0);  // the shell itself had exited
  CHECK(result.out == "bye\n");
  CHECK(elapsed < 4s);           // it went when asked: the 5 s grace was not waited out
  REQUIRE(pids.size() == 1);
  CHECK(gone(pids[0]));
}

TEST_CASE("device::run_shell: a finished command is not reported as stopped") {
  std::atomic<bool> interrupted{false};
  device::ShellRequest request;
  request.interrupted = &interrupted;
  request.timeout = 10s;
  const auto started = Clock::now();
  const auto result = device::run_shell("echo done", request);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "done\n");
  CHECK_FALSE(result.interrupted);
  CHECK_FALSE(result.timed_out);
  CHECK(Clock::now() - started < 5s);

  SUBCASE("stderr left to this process") {
    TempPath err_file;
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    REQUIRE(saved >= 0);
    {
      std::ofstream create(err_file.path);
    }
    const int fd = ::open(err_file.path.c_str(), O_WRONLY);
    REQUIRE(fd >= 0);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    device::ShellRequest inherit;
    inherit.capture_err = false;
    const auto r = device::run_shell("echo to-our-stderr >&2; echo out", inherit);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    CHECK(r.out == "out\n");
    CHECK(r.err.empty());
    std::ifstream in(err_file.path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text == "to-our-stderr\n");
  }
}
