#pragma once
// Durations as users type them: "250ms", "5s", "2m", "1h", or a bare number of seconds.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace azhub::core {

// Throws Error(usage) "<what>: ..." for anything else, negative values included.
[[nodiscard]] std::chrono::milliseconds parse_duration(std::string_view text,
                                                       std::string_view what);

// "2026-11-26T14:35:50Z" (or with `.fff` when `with_millis`) for a Unix time in milliseconds.
[[nodiscard]] std::string format_iso8601(std::int64_t unix_millis, bool with_millis = false);

// Parses ISO 8601 UTC ("...Z", optional fraction); throws Error(usage) "<what>: ...".
[[nodiscard]] std::int64_t parse_iso8601_millis(std::string_view text, std::string_view what);

}  // namespace azhub::core
