#include "cli/streaming.hpp"

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

TEST_CASE("cli::StopAfter") {
  const auto t0 = Clock::time_point{} + seconds(100);
  SUBCASE("no options: runs forever") {
    cli::StopAfter stop(cli::StreamOptions{}, t0);
    CHECK_FALSE(stop.deadline());
    stop.count_one();
    CHECK_FALSE(stop.done());
    CHECK_FALSE(stop.timed_out(t0 + seconds(100000)));
  }
  SUBCASE("--count N is done after N") {
    cli::StopAfter stop(cli::StreamOptions{2, std::nullopt}, t0);
    stop.count_one();
    CHECK_FALSE(stop.done());
    stop.count_one();
    CHECK(stop.done());
  }
  SUBCASE("--timeout sets the deadline; reaching --count first is not a timeout") {
    cli::StopAfter stop(cli::StreamOptions{1, "5s"}, t0);
    REQUIRE(stop.deadline());
    CHECK(*stop.deadline() == t0 + seconds(5));
    CHECK_FALSE(stop.timed_out(t0 + seconds(4)));
    CHECK(stop.timed_out(t0 + seconds(5)));
    CHECK(stop.timeout_message("message", "messages") == "no message before --timeout 5s");
    stop.count_one();
    CHECK_FALSE(stop.timed_out(t0 + seconds(6)));
  }
  SUBCASE("partial count in the message") {
    cli::StopAfter stop(cli::StreamOptions{3, "2m"}, t0);
    stop.count_one();
    stop.count_one();
    CHECK(stop.timeout_message("message", "messages") == "only 2 of 3 messages before --timeout 2m");
  }
  SUBCASE("without --count the message says how many arrived") {
    cli::StopAfter stop(cli::StreamOptions{std::nullopt, "5s"}, t0);
    CHECK(stop.timed_out(t0 + seconds(5)));
    stop.count_one();
    CHECK(stop.timed_out(t0 + seconds(5)));
    CHECK(stop.timeout_message("message", "messages") == "--timeout 5s reached after 1 message");
    stop.count_one();
    CHECK(stop.timeout_message("message", "messages") == "--timeout 5s reached after 2 messages");
  }
  SUBCASE("bad values are usage errors") {
    CHECK_THROWS_AS(cli::StopAfter(cli::StreamOptions{0, std::nullopt}, t0), core::Error);
    CHECK_THROWS_AS(cli::StopAfter(cli::StreamOptions{-1, std::nullopt}, t0), core::Error);
    CHECK_THROWS_AS(cli::StopAfter(cli::StreamOptions{std::nullopt, "soon"}, t0), core::Error);
  }
}
