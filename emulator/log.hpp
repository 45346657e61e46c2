#pragma once
// The emulator's log sink: a function that prints a line, and the highest level it prints.
// Messages of a higher level are never formatted (a per-packet line costs nothing unless -vvv
// asked for it). Messages never contain keys, signatures or tokens.
#include <functional>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace azhub::emulator {

class Log {
 public:
  using Sink = std::function<void(int level, std::string_view message)>;
  Log() = default;
  // Levels up to `verbosity` go to `sink`; by default every level (tests, or a caller that
  // filters itself). Implicit, so a lambda can be assigned to a Log.
  template <typename F, typename = std::enable_if_t<std::is_invocable_v<F&, int, std::string_view>>>
  Log(F sink, int verbosity = k_all) : m_sink(std::move(sink)), m_verbosity(verbosity) {}  // NOLINT

  // Level 1: connections, refusals, operations; 2: every delivery; 3: every packet.
  [[nodiscard]] bool enabled(int level) const noexcept { return m_sink && level <= m_verbosity; }
  explicit operator bool() const noexcept { return static_cast<bool>(m_sink); }

  void operator()(int level, std::string_view message) const {
    if (enabled(level)) m_sink(level, message);
  }
  template <typename... Args>
  void operator()(int level, fmt::format_string<Args...> format, Args&&... args) const {
    if (enabled(level)) m_sink(level, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  static constexpr int k_all = 1 << 20;
  Sink m_sink;
  int m_verbosity = 0;
};

}  // namespace azhub::emulator
