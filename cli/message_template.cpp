#include "cli/message_template.hpp"

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/properties.hpp"

namespace azhub::cli {

std::string render_template(std::string_view text, std::uint64_t seq, std::int64_t now_unix_ms) {
  std::string out;
  out.reserve(text.size() + 16);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    out.append(text.substr(pos, open - pos));
    const std::string_view rest = text.substr(open);
    if (rest.starts_with("{{seq}}")) {
      out += std::to_string(seq);
      pos = open + 7;
    } else if (rest.starts_with("{{now}}")) {
      out += core::format_iso8601(now_unix_ms, true);
      pos = open + 7;
    } else if (rest.starts_with("{{now_ms}}")) {
      out += std::to_string(now_unix_ms);
      pos = open + 10;
    } else {
      out += '{';
      pos = open + 1;
    }
  }
  out.append(text.substr(pos));
  return out;
}

bool has_placeholder(std::string_view text) {
  return text.find("{{seq}}") != std::string_view::npos ||
         text.find("{{now}}") != std::string_view::npos ||
         text.find("{{now_ms}}") != std::string_view::npos;
}

std::string make_uuid_v4(std::array<std::uint8_t, 16> r) {
  r[6] = static_cast<std::uint8_t>((r[6] & 0x0F) | 0x40);
  r[8] = static_cast<std::uint8_t>((r[8] & 0x3F) | 0x80);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                     "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
                     r[12], r[13], r[14], r[15]);
}

}  // namespace azhub::cli
