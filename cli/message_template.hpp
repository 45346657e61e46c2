#pragma once
// What `azhub send` builds per message: {{seq}} / {{now}} templating, --prop parsing, generated
// message ids. Pure functions: the clock and the random bytes come in as arguments.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace azhub::cli {

// Replaces every "{{seq}}" with `seq`, "{{now}}" with `now_unix_ms` as ISO 8601 UTC with
// milliseconds and "{{now_ms}}" with `now_unix_ms` as a number. Other text is copied as is.
[[nodiscard]] std::string render_template(std::string_view text, std::uint64_t seq,
                                          std::int64_t now_unix_ms);

// True when `text` contains a placeholder render_template replaces.
[[nodiscard]] bool has_placeholder(std::string_view text);

// A random (version 4, RFC 4122 variant) UUID, lower-case, from 16 random bytes.
[[nodiscard]] std::string make_uuid_v4(std::array<std::uint8_t, 16> random);

}  // namespace azhub::cli
