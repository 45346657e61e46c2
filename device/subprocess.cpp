#include "device/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "core/error.hpp"
#include "device/paho_environment.hpp"

extern char** environ;

namespace azhub::device {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a wait looks at the interrupt flag (device/subprocess.hpp says why).
constexpr milliseconds k_interrupt_check{50};

struct Fd {
  int fd = -1;
  Fd() = default;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

[[noreturn]] void fail(std::string_view what, int error) {
  throw core::Error(core::ExitCode::failure, fmt::format("{}: {}", what, std::strerror(error)));
}

// A close-on-exec descriptor numbered 3 or above: were stdin or stdout closed, a pipe end could
// otherwise be 0 or 1 and be overwritten by the child's dup2 of another one.
int above_standard(int fd) {
  if (fd > STDERR_FILENO) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  const int error = errno;
  ::close(fd);
  if (moved < 0) fail("pipe", error);
  return moved;
}

void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail("pipe", errno);
  read_end.fd = above_standard(fds[0]);
  write_end.fd = above_standard(fds[1]);
}

// The environment of the child: this process's, with the proxy variables kept from Paho given
// back (device/paho_environment.hpp), and `env` added or replacing.
std::vector<std::string> child_environment(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::pair<std::string, std::string>> extra = withheld_proxy_environment();
  std::erase_if(extra, [&](const auto& kv) {
    return std::any_of(env.begin(), env.end(), [&](const auto& e) { return e.first == kv.first; });
  });
  extra.insert(extra.end(), env.begin(), env.end());
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const auto& kv) {
      const std::string& k = kv.first;
      return entry.size() > k.size() && entry.substr(0, k.size()) == k && entry[k.size()] == '=';
    });
    if (!overridden) out.emplace_back(entry);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

// write() to a pipe whose reader may have gone, without a SIGPIPE to this process (azhub ignores
// SIGPIPE, but a test program may not): the signal is blocked on this thread for the call, and a
// SIGPIPE it raised is taken off the thread's pending set before unblocking.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  const ssize_t n = ::write(fd, data, size);
  const int error = errno;
  if (n < 0 && error == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = error;
  return n;
}

// The running shell: its pid, a pidfd to poll for its exit (-1 when the kernel has none), and its
// pipes.
class Child {
 public:
  Child(const std::string& command, const ShellRequest& request) : m_request(request) {
    // Everything is prepared before the spawn; posix_spawn runs no code of ours in the child.
    std::vector<std::string> env_strings = child_environment(request.env);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};

    Fd in_r, out_w, err_w;
    make_pipe(in_r, m_in);
    make_pipe(m_out, out_w);
    if (request.capture_err) make_pipe(m_err, err_w);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_r.fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_w.fd, STDOUT_FILENO);
    if (request.capture_err) posix_spawn_file_actions_adddup2(&actions, err_w.fd, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group (so that the group can be signalled, and the terminal's Ctrl-C goes
    // to azhub, which decides), no blocked signals, and the default action for the signals azhub
    // handles or ignores (an ignored SIGPIPE would survive exec).
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP}) sigaddset(&defaults, sig);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    const int rc = ::posix_spawn(&m_pid, "/bin/sh", &actions, &attr, const_cast<char* const*>(argv),
                                 envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) fail("cannot run /bin/sh", rc);

    m_pidfd.fd = static_cast<int>(::syscall(SYS_pidfd_open, m_pid, 0));
    ::fcntl(m_in.fd, F_SETFL, O_NONBLOCK);
    if (request.input.empty()) m_in.reset();
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    // Only reached by an exception (out of memory) before finish(): never leave the group running.
    if (!m_reaped) {
      ::kill(-m_pid, SIGKILL);
      int status = 0;
      while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  // True once the shell has exited. It is not reaped (WNOWAIT): the zombie keeps its pid, and so
  // the process group id, from being reused until finish().
  bool exited() {
    if (m_exited) return true;
    siginfo_t info{};
    const int rc = ::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT);
    // ECHILD: someone else reaped it (SIGCHLD ignored); it is gone either way.
    if ((rc == 0 && info.si_pid == m_pid) || (rc < 0 && errno == ECHILD)) m_exited = true;
    return m_exited;
  }

  [[nodiscard]] bool pipes_open() const { return m_out.fd >= 0 || m_err.fd >= 0; }

  // One poll() of at most `wait`: feeds stdin, collects stdout/stderr, wakes on the shell's exit.
  void poll_once(milliseconds wait) {
    pollfd fds[4];
    nfds_t n = 0;
    if (m_out.fd >= 0) fds[n++] = pollfd{m_out.fd, POLLIN, 0};
    if (m_err.fd >= 0) fds[n++] = pollfd{m_err.fd, POLLIN, 0};
    if (m_in.fd >= 0) fds[n++] = pollfd{m_in.fd, POLLOUT, 0};
    const bool with_pidfd = m_pidfd.fd >= 0 && !m_exited;
    if (with_pidfd) fds[n++] = pollfd{m_pidfd.fd, POLLIN, 0};
    if (!with_pidfd && !pipes_open() && !m_exited) {
      // No pidfd: look again after a short, growing wait rather than spinning.
      wait = std::min(wait, m_backoff);
      m_backoff = std::min(m_backoff * 2, k_interrupt_check);
    }
    wait = std::clamp(wait, milliseconds(0), milliseconds(1000));
    const int rc = ::poll(fds, n, static_cast<int>(wait.count()));
    if (rc <= 0) return;  // timeout, or EINTR: the caller looks at the flag and the clock
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      if (fd == m_in.fd) {
        feed_stdin();
      } else if (fd == m_out.fd) {
        drain(m_out, m_result.out);
      } else if (fd == m_err.fd) {
        drain(m_err, m_result.err);
      }
    }
  }

  // SIGTERM to the group; SIGKILL once the shell has gone and its pipes are closed (whoever held
  // them has gone too), or after the grace period: to whatever of the group still runs, e.g. a
  // child that ignores SIGTERM.
  void terminate_group() {
    ::kill(-m_pid, SIGTERM);
    const auto grace_end = Clock::now() + m_request.kill_grace;
    while (!exited() || pipes_open()) {
      const auto left = std::chrono::duration_cast<milliseconds>(grace_end - Clock::now());
      if (left.count() <= 0) break;
      poll_once(std::min(left, k_interrupt_check));
    }
    ::kill(-m_pid, SIGKILL);
  }

  ProcessResult finish() {
    m_in.reset();
    int status = 0;
    pid_t rc = -1;
    while ((rc = ::waitpid(m_pid, &status, 0)) < 0 && errno == EINTR) {
    }
    m_reaped = true;
    if (rc != m_pid) {
      // Reaped elsewhere: the status is unknown (exit_code stays -1).
    } else if (WIFEXITED(status)) {
      m_result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      m_result.signal = WTERMSIG(status);
      m_result.exit_code = 128 + m_result.signal;
    }
    return std::move(m_result);
  }

  ProcessResult& result() { return m_result; }

 private:
  void feed_stdin() {
    const std::string& input = m_request.input;
    const ssize_t w = write_without_sigpipe(m_in.fd, input.data() + m_written, input.size() - m_written);
    if (w > 0) m_written += static_cast<std::size_t>(w);
    if ((w < 0 && errno != EAGAIN && errno != EINTR) || m_written >= input.size()) m_in.reset();
  }

  static void drain(Fd& src, std::string& dst) {
    char buffer[16384];
    const ssize_t r = ::read(src.fd, buffer, sizeof buffer);
    if (r > 0) dst.append(buffer, static_cast<std::size_t>(r));
    else if (r == 0 || (errno != EINTR && errno != EAGAIN)) src.reset();
  }

  const ShellRequest& m_request;
  pid_t m_pid = -1;
  Fd m_pidfd, m_in, m_out, m_err;
  std::size_t m_written = 0;
  bool m_exited = false;
  bool m_reaped = false;
  milliseconds m_backoff{1};
  ProcessResult m_result;
};

}  // namespace

ProcessResult run_shell(const std::string& command, const ShellRequest& request) {
  Child child(command, request);
  const auto deadline = Clock::now() + request.timeout;
  for (;;) {
    // Done when the shell has exited and its output is closed (a background child that keeps a
    // pipe open is waited for, up to the time limit).
    if (child.exited() && !child.pipes_open()) break;
    if (request.interrupted != nullptr && request.interrupted->load()) {
      child.result().interrupted = true;
      child.terminate_group();
      break;
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      child.result().timed_out = true;
      child.terminate_group();
      break;
    }
    child.poll_once(request.interrupted != nullptr ? std::min(left, k_interrupt_check) : left);
  }
  return child.finish();
}

}  // namespace azhub::device
