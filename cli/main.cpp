// azhub: Azure IoT Hub device operations as commands, with a local emulator.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string_view>
#include <thread>
#include <utility>

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>

#include "azhub/version.hpp"
#include "cli/commands.hpp"
#include "cli/io.hpp"
#include "core/error.hpp"

namespace {

std::atomic<bool> g_interrupted{false};    // written by the signal handler and the pipe watcher
std::atomic<bool> g_stdout_broken{false};  // the reader of a stdout pipe has gone
bool g_stdout_closed = false;              // azhub was started with stdout closed (>&-)

extern "C" void on_signal(int) { g_interrupted.store(true); }

// SIGINT and SIGTERM without SA_RESTART: a blocking call on the thread the signal lands on
// returns EINTR at once. The signal may land on any thread (Paho's too), so the waits that must
// end on Ctrl-C (send --lines reading stdin, cli/line_reader.cpp; a handler or token command,
// device/subprocess.cpp; DeviceClient's pump) also look at the flag at short intervals.
void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGPIPE, &ignore, nullptr);  // a write to a closed pipe fails with EPIPE instead
}

// A closed standard descriptor would be handed to the next socket or file azhub opens (Paho
// then takes its socket 0 for "no socket"): each closed one is opened on /dev/null. A closed
// stdout is remembered, so that output to it fails instead of vanishing.
void reserve_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // A closed stdout becomes /dev/full, so that the first write fails (reported as closed).
    const char* path = fd == 0 ? "/dev/null" : fd == STDOUT_FILENO ? "/dev/full" : "/dev/null";
    const int opened = ::open(path, fd == 0 ? O_RDONLY : O_WRONLY);
    if (opened != fd && opened >= 0) {
      ::dup2(opened, fd);
      ::close(opened);
    }
    if (fd == STDOUT_FILENO) g_stdout_closed = true;
  }
}

// When stdout is a pipe, a thread waits for its reader to go away (POLLERR on the write end)
// and stops the command as Ctrl-C would: `azhub -o json service monitor | head -1` ends as soon
// as head does, not at the next message.
void watch_stdout_pipe() {
  struct stat st {};
  if (fstat(STDOUT_FILENO, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) return;
  std::thread([] {
    pollfd fd{STDOUT_FILENO, 0, 0};
    while (::poll(&fd, 1, -1) < 0 && errno == EINTR) {
    }
    if ((fd.revents & (POLLERR | POLLHUP)) != 0) {
      g_stdout_broken.store(true);
      g_interrupted.store(true);
    }
  }).detach();
}

// Flushes stdout after an error, without throwing; false when that write failed too.
bool flush_stdout() {
  try {
    std::cout.flush();
    return true;
  } catch (const std::ios_base::failure&) {
    return false;
  }
}

// The message for a failed write to stdout; `error` is errno right after it.
std::string stdout_failure(int error) {
  if (g_stdout_closed) return "writing to stdout: stdout is closed";
  if (g_stdout_broken.load() || error == EPIPE) return "writing to stdout: the reader closed the pipe";
  return std::string("writing to stdout: ") + (error != 0 ? std::strerror(error) : "write failed");
}

// The top-level command argv names: its first argument that is neither an option nor the value of
// -o/--output; empty when there is none (azhub --help, azhub -v) or after "--". `after_globals`:
// only azhub's own options (-o, --output, -v, --verbose) come before it.
struct NamedCommand {
  std::string_view name;
  bool after_globals = true;
};
NamedCommand named_command(int argc, char** argv) {
  NamedCommand out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return {};
    if (arg == "-o" || arg == "--output") {
      ++i;
      continue;
    }
    if (!arg.empty() && arg.front() == '-') {
      const bool global = arg.starts_with("--output=") || arg == "--verbose" || arg.starts_with("-o") ||
                          arg.find_first_not_of('v', 1) == std::string_view::npos;
      out.after_globals = out.after_globals && global;
      continue;
    }
    out.name = arg;
    return out;
  }
  return {};
}

bool smart_terminal(int fd) {
  if (isatty(fd) == 0) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

}  // namespace

int main(int argc, char** argv) {
  reserve_standard_descriptors();
  const NamedCommand named = named_command(argc, argv);
  const std::string_view command = named.name;
  // Paho's worker threads can still be exiting, and freeing their per-thread OpenSSL state,
  // when OpenSSL's atexit cleanup frees the same state from the main thread: a double free at
  // exit. azhub never needs that cleanup (the process is ending), so it is not registered.
  // `sas` only computes an HMAC: it skips reading the system's OpenSSL configuration (its TLS
  // policy), a few milliseconds of a command scripts call in loops. Every other command loads
  // it, as OpenSSL does by default (once skipped, it could not be loaded later).
  std::uint64_t openssl_options = OPENSSL_INIT_NO_ATEXIT;
  if (command == "sas") openssl_options |= OPENSSL_INIT_NO_LOAD_CONFIG;
  OPENSSL_init_crypto(openssl_options, nullptr);
  using azhub::cli::Io;
  using azhub::core::Error;

  Io io{std::cout, std::cerr, std::cin, azhub::cli::process_env()};
  io.interrupted = &g_interrupted;
  io.in_fd = STDIN_FILENO;
  io.now_unix_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  io.stdout_is_terminal = smart_terminal(STDOUT_FILENO);
  io.stderr_is_terminal = smart_terminal(STDERR_FILENO);
  io.color = io.stdout_is_terminal && std::getenv("NO_COLOR") == nullptr;

  CLI::App app{"Azure IoT Hub device operations as scriptable commands, with a local IoT Hub "
               "emulator.",
               "azhub"};
  app.set_version_flag("--version", std::string("azhub ") + azhub::k_version);
  app.require_subcommand(1);
  app.fallthrough();
  app.option_defaults()->always_capture_default();
  std::string output = "text";
  app.add_option("-o,--output", output, "Output format: text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("AZHUB_OUTPUT");
  app.add_flag("-v,--verbose", io.verbosity, "Trace what azhub does on stderr (repeat for more)");
  app.parse_complete_callback([&] {
    io.format = output == "json" ? azhub::cli::OutputFormat::json : azhub::cli::OutputFormat::text;
  });
  app.footer("Exit codes: 0 ok, 1 operation failed, 2 usage or input error, 3 could not connect\n"
             "or authenticate, 4 timed out, 130 interrupted. See azhub(1).");

  // One line per subcommand, in the order `azhub --help` lists them. Building every command's
  // options is a noticeable part of a short command's run, so when argv names one of them only
  // that one is built; otherwise (no command, an unknown one: help and errors list them all)
  // every one is.
  using AddCommand = void (*)(CLI::App&, Io&);
  const std::pair<std::string_view, AddCommand> commands[] = {
      {"sas", azhub::cli::add_sas_command},         {"send", azhub::cli::add_send_command},
      {"listen", azhub::cli::add_listen_command},   {"twin", azhub::cli::add_twin_command},
      {"method", azhub::cli::add_method_command},   {"service", azhub::cli::add_service_command},
      {"emulate", azhub::cli::add_emulate_command},
  };
  const bool known = std::any_of(std::begin(commands), std::end(commands), [&](const auto& c) { return c.first == command; });
  for (const auto& [name, add] : commands) {
    if (!known || name == command) add(app, io);
  }
  if (!known && !command.empty() && named.after_globals) {
    std::string names;
    for (const auto& [name, add] : commands) names += (names.empty() ? "" : ", ") + std::string(name);
    std::cerr << "azhub: error: unknown command '" << command << "' (commands: " << names << "; see 'azhub --help')\n";
    return static_cast<int>(azhub::core::ExitCode::usage);
  }

  install_signal_handlers();
  watch_stdout_pipe();
  // Every write to stdout is checked: a failed one (closed pipe, full disk, closed stdout)
  // throws where it happens and ends the command with exit 1, so no output is lost silently.
  std::cout.exceptions(std::ios::badbit | std::ios::failbit);

  const auto failed_output = [](int error) {
    // Reported once: the flush at exit must neither throw nor report it again.
    std::cout.exceptions(std::ios::goodbit);
    std::cout.clear();
    std::cerr << "azhub: error: " << stdout_failure(error) << '\n';
    return static_cast<int>(azhub::core::ExitCode::failure);
  };
  const auto help_exit = [&](const CLI::Error& e) {
    try {
      const int code = app.exit(e);
      std::cout.flush();
      return code;
    } catch (const std::ios_base::failure&) {
      return failed_output(errno);
    }
  };
  try {
    app.parse(argc, argv);
    std::cout.flush();
  } catch (const std::ios_base::failure&) {
    return failed_output(errno);
  } catch (const CLI::CallForHelp& e) {
    return help_exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return help_exit(e);
  } catch (const CLI::CallForVersion& e) {
    return help_exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "azhub: error: " << e.what() << " (see 'azhub --help')\n";
    return static_cast<int>(azhub::core::ExitCode::usage);
  } catch (const Error& e) {
    if (g_stdout_broken.load()) return failed_output(EPIPE);
    if (!flush_stdout()) return failed_output(errno);
    std::cerr << "azhub: error: " << e.what() << '\n';
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    if (!flush_stdout()) return failed_output(errno);
    std::cerr << "azhub: error: " << e.what() << '\n';
    return static_cast<int>(azhub::core::ExitCode::failure);
  }
  if (g_stdout_broken.load()) return failed_output(EPIPE);
  return g_interrupted.load() ? static_cast<int>(azhub::core::ExitCode::interrupted) : 0;
}
