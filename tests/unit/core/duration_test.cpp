#include "core/duration.hpp"

#include <string>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;
using std::chrono::milliseconds;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST_CASE("core::parse_duration") {
  CHECK(parse_duration("250ms", "--interval") == milliseconds(250));
  CHECK(parse_duration("5s", "--interval") == milliseconds(5000));
  CHECK(parse_duration("2m", "--interval") == milliseconds(120000));
  CHECK(parse_duration("1h", "--interval") == milliseconds(3600000));
  CHECK(parse_duration("7", "--interval") == milliseconds(7000));
  CHECK(parse_duration("0", "--interval") == milliseconds(0));
  CHECK(parse_duration("0ms", "--interval") == milliseconds(0));
  CHECK(parse_duration("007s", "--interval") == milliseconds(7000));

  struct Row {
    const char* text;
    const char* message;
  };
  const Row rows[] = {
      {"", "--timeout: '' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"abc", "--timeout: 'abc' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"5x", "--timeout: '5x' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"5 s", "--timeout: '5 s' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"1.5s", "--timeout: '1.5s' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"s", "--timeout: 's' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"5S", "--timeout: '5S' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"+5s", "--timeout: '+5s' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"-5s", "--timeout: '-5s' is negative; durations are 0 or more"},
      {"99999999999999999999",
       "--timeout: '99999999999999999999' is not a duration (use e.g. 500ms, 5s, 2m, 1h)"},
      {"9999999999999999h", "--timeout: '9999999999999999h' is too large"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CHECK(error_of([&] { (void)parse_duration(row.text, "--timeout"); }) == row.message);
  }
}

TEST_CASE("core::format_iso8601") {
  CHECK(format_iso8601(0) == "1970-01-01T00:00:00Z");
  CHECK(format_iso8601(1700000000000) == "2023-11-14T22:13:20Z");
  CHECK(format_iso8601(1700000000123, true) == "2023-11-14T22:13:20.123Z");
  CHECK(format_iso8601(1700000000123) == "2023-11-14T22:13:20Z");
  CHECK(format_iso8601(951782400000) == "2000-02-29T00:00:00Z");
  CHECK(format_iso8601(253402300799000) == "9999-12-31T23:59:59Z");
  CHECK(format_iso8601(-1, true) == "1969-12-31T23:59:59.999Z");
  CHECK(format_iso8601(-62135596800000) == "0001-01-01T00:00:00Z");
}

TEST_CASE("core::parse_iso8601_millis") {
  CHECK(parse_iso8601_millis("1970-01-01T00:00:00Z", "x") == 0);
  CHECK(parse_iso8601_millis("2023-11-14T22:13:20Z", "x") == 1700000000000);
  CHECK(parse_iso8601_millis("2023-11-14T22:13:20.5Z", "x") == 1700000000500);
  CHECK(parse_iso8601_millis("2023-11-14T22:13:20.123Z", "x") == 1700000000123);
  // The real service prints 7 fractional digits (§8.2); extra digits are truncated.
  CHECK(parse_iso8601_millis("2020-07-17T06:12:26.8402249Z", "x") == 1594966346840);
  CHECK(parse_iso8601_millis("2023-11-14T22:13:20+00:00", "x") == 1700000000000);
  CHECK(parse_iso8601_millis("2000-02-29T00:00:00Z", "x") == 951782400000);
  CHECK(parse_iso8601_millis("0001-01-01T00:00:00Z", "x") == -62135596800000);

  SUBCASE("round trip") {
    for (std::int64_t ms : {0LL, 1LL, 999LL, 1700000000123LL, 4102444799999LL, -86400001LL}) {
      CAPTURE(ms);
      CHECK(parse_iso8601_millis(format_iso8601(ms, true), "x") == ms);
    }
  }
  SUBCASE("refused") {
    for (const char* text :
         {"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-13-01T00:00:00Z",
          "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2023-00-10T00:00:00Z",
          "2023-01-32T00:00:00Z", "2023-01-01T24:00:00Z", "2023-01-01T00:60:00Z",
          "2023-01-01T00:00:60Z", "2023-01-01T00:00:00.Z", "2023-01-01T00:00:00+01:00",
          "23-01-01T00:00:00Z", "2023-1-01T00:00:00Z", "2023-01-01T00:00:00ZZ"}) {
      CAPTURE(text);
      CHECK(error_of([&] { (void)parse_iso8601_millis(text, "--expiry"); }) ==
            std::string("--expiry: '") + text +
                "' is not an ISO 8601 UTC time (e.g. 2026-01-31T12:00:00Z)");
    }
  }
}
