#include "service/sse_parser.hpp"

#include <doctest/doctest.h>

using azhub::service::SseEvent;
using azhub::service::SseParser;

TEST_CASE("service::SseParser") {
  SUBCASE("one event per blank line, fields parsed") {
    SseParser parser;
    const auto events = parser.feed("event: d2c\nid: 7\ndata: {\"a\":1}\n\ndata:x\n\n");
    REQUIRE(events.size() == 2);
    CHECK(events[0] == SseEvent{"d2c", "{\"a\":1}", "7"});
    CHECK(events[1] == SseEvent{"message", "x", std::nullopt});
  }
  SUBCASE("split anywhere, CRLF and CR line ends") {
    SseParser parser;
    const std::string text = "data: a\r\ndata: b\r\n\r\n: keep-alive\r\rdata: c\r\r";
    std::vector<SseEvent> events;
    for (char c : text) {
      for (auto& e : parser.feed(std::string_view(&c, 1))) events.push_back(e);
    }
    REQUIRE(events.size() == 2);
    CHECK(events[0].data == "a\nb");
    CHECK(events[1].data == "c");
  }
  SUBCASE("comments and events without data are dropped; incomplete events wait") {
    SseParser parser;
    CHECK(parser.feed(": ping\n\nevent: x\n\n").empty());
    CHECK(parser.feed("data: half").empty());
    const auto events = parser.feed("\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "half");
    CHECK(events[0].event == "message");
  }
  SUBCASE("a field without a colon, an empty data line") {
    SseParser parser;
    const auto events = parser.feed("data\ndata:\n\n");
    REQUIRE(events.size() == 1);
    CHECK(events[0].data == "\n");
  }
}
