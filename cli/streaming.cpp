#include "cli/streaming.hpp"

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/error.hpp"

namespace azhub::cli {

void add_stream_options(CLI::App& cmd, StreamOptions& opt, const std::string& what) {
  cmd.add_option("--count", opt.count,
                 fmt::format("Stop after N {} and exit 0 (what already arrived is still handled: at least N)", what))
      ->type_name("N");
  cmd.add_option("--timeout", opt.timeout,
                 "Give up after DURATION (e.g. 30s, 2m); exit 4 if --count was not reached")
      ->type_name("DURATION");
}

StopAfter::StopAfter(const StreamOptions& opt, Clock::time_point start) {
  if (opt.count && *opt.count < 1)
    throw core::usage_error(fmt::format("--count {}: must be at least 1", *opt.count));
  if (opt.count) m_count = static_cast<std::uint64_t>(*opt.count);
  if (opt.timeout) {
    m_deadline = start + core::parse_duration(*opt.timeout, "--timeout");
    m_timeout_text = *opt.timeout;
  }
}

std::string StopAfter::timeout_message(const std::string& what_singular,
                                       const std::string& what_plural) const {
  if (m_seen == 0) return fmt::format("no {} before --timeout {}", what_singular, m_timeout_text);
  if (!m_count) {
    return fmt::format("--timeout {} reached after {} {}", m_timeout_text, m_seen,
                       m_seen == 1 ? what_singular : what_plural);
  }
  return fmt::format("only {} of {} {} before --timeout {}", m_seen, m_count.value_or(0),
                     what_plural, m_timeout_text);
}

}  // namespace azhub::cli
