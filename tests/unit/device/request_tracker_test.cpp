#include "device/request_tracker.hpp"

#include <doctest/doctest.h>

using azhub::device::PendingRequest;
using azhub::device::RequestTracker;
using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

TEST_CASE("device::RequestTracker") {
  const auto t0 = Clock::time_point{} + seconds(1000);
  RequestTracker tracker;
  SUBCASE("rids are unique and answers are matched by rid") {
    const std::string a = tracker.next_rid();
    const std::string b = tracker.next_rid();
    CHECK(a != b);
    tracker.add(PendingRequest{a, "$iothub/twin/GET/?$rid=" + a, "", t0 + seconds(5)});
    tracker.add(PendingRequest{b, "$iothub/twin/GET/?$rid=" + b, "", t0 + seconds(5)});
    auto done = tracker.complete(b);
    REQUIRE(done);
    CHECK(done->topic == "$iothub/twin/GET/?$rid=" + b);
    CHECK_FALSE(tracker.complete(b));  // a second answer for the same rid is ignored
    CHECK(tracker.pending().size() == 1);
  }
  SUBCASE("requests expire at their deadline, earliest first") {
    tracker.add(PendingRequest{"1", "t1", "", t0 + seconds(5)});
    tracker.add(PendingRequest{"2", "t2", "", t0 + seconds(2)});
    REQUIRE(tracker.next_deadline());
    CHECK(*tracker.next_deadline() == t0 + seconds(2));
    CHECK(tracker.expire(t0 + seconds(1)).empty());
    CHECK(tracker.expire(t0 + seconds(2)) == std::vector<std::string>{"2"});
    CHECK_FALSE(tracker.complete("2"));  // a late answer after the timeout is dropped
    CHECK(tracker.expire(t0 + seconds(10)) == std::vector<std::string>{"1"});
    CHECK(tracker.empty());
    CHECK_FALSE(tracker.next_deadline());
  }
}
