#include "device/inflight_window.hpp"

#include <doctest/doctest.h>

#include <vector>

using azhub::device::InflightWindow;
using azhub::device::Outgoing;

namespace {
Outgoing msg(std::uint64_t seq) { return Outgoing{seq, "t", "p" + std::to_string(seq), 1, 0}; }

// Sends everything the window allows, handing out tokens from `next_token`.
std::vector<std::uint64_t> send_all(InflightWindow& w, int& next_token) {
  std::vector<std::uint64_t> sent;
  while (w.can_send()) {
    sent.push_back(w.front().seq);
    w.mark_sent(next_token++);
  }
  return sent;
}
}  // namespace

TEST_CASE("device::InflightWindow") {
  SUBCASE("never has more than capacity in flight; acks open the window") {
    InflightWindow w(3);
    for (std::uint64_t s = 1; s <= 5; ++s) w.enqueue(msg(s));
    int token = 100;
    CHECK(send_all(w, token) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(w.in_flight() == 3);
    CHECK(w.queued() == 2);
    CHECK_FALSE(w.can_send());
    auto acked = w.acknowledge(101);
    REQUIRE(acked);
    CHECK(acked->seq == 2);
    CHECK(acked->attempts == 1);
    CHECK(send_all(w, token) == std::vector<std::uint64_t>{4});
  }
  SUBCASE("unknown tokens are ignored") {
    InflightWindow w(2);
    w.enqueue(msg(1));
    int token = 1;
    (void)send_all(w, token);
    CHECK_FALSE(w.acknowledge(42));
    CHECK(w.in_flight() == 1);
  }
  SUBCASE("a drop puts every unacknowledged message back first, in order") {
    InflightWindow w(3);
    for (std::uint64_t s = 1; s <= 5; ++s) w.enqueue(msg(s));
    int token = 1;
    (void)send_all(w, token);     // 1,2,3 in flight with tokens 1,2,3
    CHECK(w.acknowledge(2));      // 2 confirmed
    CHECK(w.requeue_all() == 2);  // 1 and 3 come back
    CHECK(w.in_flight() == 0);
    token = 1;                    // the transport reuses tokens after a reconnect
    CHECK(send_all(w, token) == std::vector<std::uint64_t>{1, 3, 4});
    auto again = w.acknowledge(1);
    REQUIRE(again);
    CHECK(again->seq == 1);
    CHECK(again->attempts == 2);  // resent once
    CHECK(again->payload == "p1");
  }
  SUBCASE("a failed publish is retried in seq order") {
    InflightWindow w(2);
    for (std::uint64_t s = 1; s <= 3; ++s) w.enqueue(msg(s));
    int token = 1;
    (void)send_all(w, token);  // 1, 2
    w.fail(1);
    CHECK(w.queued() == 2);
    CHECK(w.front().seq == 1);
  }
  SUBCASE("idle only when nothing is queued or in flight") {
    InflightWindow w(1);
    CHECK(w.idle());
    w.enqueue(msg(1));
    CHECK_FALSE(w.idle());
    int token = 9;
    (void)send_all(w, token);
    CHECK_FALSE(w.idle());
    CHECK(w.acknowledge(9));
    CHECK(w.idle());
  }
  SUBCASE("capacity 0 is treated as 1") {
    InflightWindow w(0);
    CHECK(w.capacity() == 1);
  }
}
