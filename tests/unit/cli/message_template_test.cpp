#include "cli/message_template.hpp"

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub;

TEST_CASE("cli::render_template") {
  const std::int64_t now = 1'700'000'000'123;
  CHECK(cli::render_template("t={{seq}}", 42, now) == "t=42");
  CHECK(cli::render_template("{{seq}}{{seq}}", 7, now) == "77");
  CHECK(cli::render_template("at {{now}}", 1, now) == "at 2023-11-14T22:13:20.123Z");
  CHECK(cli::render_template("{{now_ms}}", 1, now) == "1700000000123");
  CHECK(cli::render_template("{{other}} {{seq", 1, now) == "{{other}} {{seq");
  CHECK(cli::render_template("", 1, now) == "");
  CHECK(cli::render_template("{{{seq}}}", 5, now) == "{5}");
  CHECK(cli::has_placeholder("a{{seq}}"));
  CHECK_FALSE(cli::has_placeholder("a{{sequence}}"));
}


TEST_CASE("cli::make_uuid_v4") {
  std::array<std::uint8_t, 16> zero{};
  CHECK(cli::make_uuid_v4(zero) == "00000000-0000-4000-8000-000000000000");
  std::array<std::uint8_t, 16> ones;
  ones.fill(0xFF);
  CHECK(cli::make_uuid_v4(ones) == "ffffffff-ffff-4fff-bfff-ffffffffffff");
}
