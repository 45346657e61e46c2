#include "core/duration.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::core {
namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2 ? 1 : 0), m, d};
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k_days[m - 1];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Reads exactly `n` digits at `pos`.
std::optional<unsigned> read_digits(std::string_view text, std::size_t& pos, std::size_t n) {
  if (pos + n > text.size()) return std::nullopt;
  unsigned value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return value;
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text, std::string_view what) {
  const auto bad = [&] {
    return usage_error(
        fmt::format("{}: '{}' is not a duration (use e.g. 500ms, 5s, 2m, 1h)", what, text));
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) {
    if (text.starts_with('-')) {
      throw usage_error(fmt::format("{}: '{}' is negative; durations are 0 or more", what, text));
    }
    throw bad();
  }
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc{} || ptr != text.data() + digits) throw bad();
  const std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1000;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "m") {
    scale = 60'000;
  } else if (unit == "h") {
    scale = 3'600'000;
  } else {
    throw bad();
  }
  if (value > std::numeric_limits<std::int64_t>::max() / scale) {
    throw usage_error(fmt::format("{}: '{}' is too large", what, text));
  }
  return std::chrono::milliseconds(value * scale);
}

std::string format_iso8601(std::int64_t unix_millis, bool with_millis) {
  const std::int64_t days = floor_div(unix_millis, 86'400'000);
  const std::int64_t ms_of_day = unix_millis - days * 86'400'000;
  const Civil c = civil_from_days(days);
  const std::int64_t secs = ms_of_day / 1000;
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", c.year, c.month, c.day,
                                secs / 3600, (secs / 60) % 60, secs % 60);
  if (with_millis) out += fmt::format(".{:03}", ms_of_day % 1000);
  out.push_back('Z');
  return out;
}

std::int64_t parse_iso8601_millis(std::string_view text, std::string_view what) {
  const auto bad = [&] {
    return usage_error(fmt::format(
        "{}: '{}' is not an ISO 8601 UTC time (e.g. 2026-01-31T12:00:00Z)", what, text));
  };
  std::size_t pos = 0;
  const auto expect = [&](char c) {
    if (pos >= text.size() || text[pos] != c) throw bad();
    ++pos;
  };
  const auto year = read_digits(text, pos, 4);
  if (!year) throw bad();
  expect('-');
  const auto month = read_digits(text, pos, 2);
  if (!month) throw bad();
  expect('-');
  const auto day = read_digits(text, pos, 2);
  if (!day) throw bad();
  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) throw bad();
  ++pos;
  const auto hour = read_digits(text, pos, 2);
  if (!hour) throw bad();
  expect(':');
  const auto minute = read_digits(text, pos, 2);
  if (!minute) throw bad();
  expect(':');
  const auto second = read_digits(text, pos, 2);
  if (!second) throw bad();
  std::int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    std::int64_t scale = 100;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      millis += (text[pos] - '0') * scale;  // digits past milliseconds are truncated
      scale /= 10;
      ++pos;
      ++n;
    }
    if (n == 0) throw bad();
  }
  if (text.substr(pos) != "Z" && text.substr(pos) != "z" && text.substr(pos) != "+00:00") {
    throw bad();
  }
  if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) || *hour > 23 ||
      *minute > 59 || *second > 59) {
    throw bad();
  }
  const std::int64_t days = days_from_civil(*year, *month, *day);
  return ((days * 24 + *hour) * 60 + *minute) * 60'000 + static_cast<std::int64_t>(*second) * 1000 +
         millis;
}

}  // namespace azhub::core
