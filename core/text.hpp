#pragma once
// ASCII text helpers shared by every library: IoT Hub compares host names, connection-string
// keys, HTTP header names and hex thumbprints without regard to ASCII case.
#include <algorithm>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace azhub::core {

[[nodiscard]] constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// True when `a` and `b` are equal ignoring ASCII case.
[[nodiscard]] constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

// True when `text` starts with `prefix`, ignoring ASCII case.
[[nodiscard]] constexpr bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// How an error message shows one byte of user input: "'x'", "' ' (space)" or "byte 0x1F".
// `text` without leading and trailing whitespace (std::isspace in the C locale).
[[nodiscard]] constexpr std::string_view trim(std::string_view text) noexcept {
  constexpr auto is_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

[[nodiscard]] inline std::string describe_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (c == ' ') return "' ' (space)";
  if (u < 0x20 || u >= 0x7F) return fmt::format("byte 0x{:02X}", u);
  return fmt::format("'{}'", c);
}

// `text` with ASCII letters lowered.
[[nodiscard]] inline std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace azhub::core
