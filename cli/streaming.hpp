#pragma once
// --count N and --timeout DURATION for streaming commands (listen, twin watch, method serve,
// service monitor), defined once (mosquitto_sub -C / -W).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace azhub::cli {

struct StreamOptions {
  std::optional<std::int64_t> count;  // --count (signed, so that -1 is refused, not wrapped)
  std::optional<std::string> timeout;  // --timeout, parsed by StopAfter
};

// Adds --count and --timeout to `cmd`; `what` names the items ("messages").
void add_stream_options(CLI::App& cmd, StreamOptions& opt, const std::string& what);

// Counts items and keeps the deadline. Time is passed in so that it can be tested.
class StopAfter {
 public:
  using Clock = std::chrono::steady_clock;
  // Throws Error(usage) for a bad --timeout or a --count below 1.
  StopAfter(const StreamOptions& opt, Clock::time_point start);

  // The point to stop waiting at, nullopt without --timeout.
  [[nodiscard]] std::optional<Clock::time_point> deadline() const noexcept { return m_deadline; }
  void count_one() noexcept { ++m_seen; }
  [[nodiscard]] std::uint64_t seen() const noexcept { return m_seen; }
  // True once --count items were seen.
  [[nodiscard]] bool done() const noexcept { return m_count && m_seen >= *m_count; }
  [[nodiscard]] bool timed_out(Clock::time_point now) const noexcept {
    return m_deadline && now >= *m_deadline && !done();
  }
  // "no message before --timeout 5s" / "only 2 of 3 messages before --timeout 5s" /
  // "--timeout 5s reached after 2 messages" (without --count).
  [[nodiscard]] std::string timeout_message(const std::string& what_singular,
                                            const std::string& what_plural) const;

 private:
  std::optional<std::uint64_t> m_count;
  std::optional<Clock::time_point> m_deadline;
  std::string m_timeout_text;
  std::uint64_t m_seen = 0;
};

}  // namespace azhub::cli
