// azhub: Azure IoT Hub device operations as commands, with a local emulator.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <openssl/crypto.h>

#include "azhub/version.hpp"
#include "cli/commands.hpp"
#include "cli/io.hpp"
#include "core/error.hpp"

namespace {

std::atomic<bool> g_interrupted{false};  // the one global: written by the signal handler

extern "C" void on_signal(int) { g_interrupted.store(true); }

bool smart_terminal(int fd) {
  if (isatty(fd) == 0) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string_view(term) != "dumb";
}

}  // namespace

int main(int argc, char** argv) {
  // Paho's worker threads can still be exiting, and freeing their per-thread OpenSSL state,
  // when OpenSSL's atexit cleanup frees the same state from the main thread: a double free at
  // exit. azhub never needs that cleanup (the process is ending), so it is not registered.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  using azhub::cli::Io;
  using azhub::core::Error;

  Io io{std::cout, std::cerr, std::cin, azhub::cli::process_env()};
  io.interrupted = &g_interrupted;
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

  // One line per subcommand, in the order `azhub --help` lists them.
  azhub::cli::add_sas_command(app, io);
  azhub::cli::add_send_command(app, io);
  azhub::cli::add_listen_command(app, io);
  azhub::cli::add_twin_command(app, io);
  azhub::cli::add_method_command(app, io);
  azhub::cli::add_service_command(app, io);
  azhub::cli::add_emulate_command(app, io);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "azhub: error: " << e.what() << " (see 'azhub --help')\n";
    return static_cast<int>(azhub::core::ExitCode::usage);
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "azhub: error: " << e.what() << '\n';
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "azhub: error: " << e.what() << '\n';
    return static_cast<int>(azhub::core::ExitCode::failure);
  }
  std::cout.flush();
  return g_interrupted.load() ? static_cast<int>(azhub::core::ExitCode::interrupted) : 0;
}
