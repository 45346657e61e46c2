#pragma once
// What a command may touch of the outside world, passed down from main: streams, environment,
// output format, verbosity, the interrupt flag and the clock. Tests build their own.
#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace azhub::cli {

enum class OutputFormat { text, json };

// Environment lookup; the real one reads getenv, tests pass a map.
using Env = std::function<std::optional<std::string>(std::string_view name)>;
[[nodiscard]] Env process_env();

struct Io {
  std::ostream& out;
  std::ostream& err;
  std::istream& in;
  Env env;
  int in_fd = -1;  // the descriptor behind `in` (main: 0), for reads that must see Ctrl-C
  OutputFormat format = OutputFormat::text;
  int verbosity = 0;                          // -v count
  bool stdout_is_terminal = false;
  bool stderr_is_terminal = false;            // and TERM is not "dumb"
  bool color = false;                         // stdout is a terminal and NO_COLOR is unset
  const std::atomic<bool>* interrupted = nullptr;  // set by the SIGINT/SIGTERM handler
  std::function<std::int64_t()> now_unix_ms{};  // wall clock, injectable

  [[nodiscard]] bool json() const noexcept { return format == OutputFormat::json; }
  [[nodiscard]] bool was_interrupted() const noexcept {
    return interrupted != nullptr && interrupted->load();
  }
  [[nodiscard]] std::int64_t now_unix_seconds() const { return now_unix_ms() / 1000; }
  // "azhub: <message>" on stderr when verbosity >= `level`. Never pass secrets.
  void trace(int level, std::string_view message) const;
};

// The whole content of the file a flag names (`send --file`, `twin patch --file`, ...). Throws
// Error(usage) "`what`: cannot read 'PATH': <reason>" when it does not exist, cannot be read or
// is a directory.
[[nodiscard]] std::string read_file_argument(const std::string& path, std::string_view what);

// The same checks without reading the content (a file another library opens later, such as
// --ca-file and --cert): opens it, refuses a directory, closes it.
void require_file_argument(const std::string& path, std::string_view what);

}  // namespace azhub::cli
