// IoT Hub's HTTPS message headers (core/http_message.*, docs/protocol.md §6.2).
#include "core/http_message.hpp"

#include <doctest/doctest.h>

#include "core/encoding.hpp"
#include <algorithm>

#include "core/error.hpp"

using namespace azhub::core;
using namespace azhub::core::http_message;

TEST_CASE("core::http_message headers_of / properties_of round-trip") {
  MessageProperties p;
  p.system.message_id = "m1";
  p.system.correlation_id = "c1";
  p.system.user_id = "u1";
  p.system.expiry = "2026-12-01T10:00:00.000Z";
  p.system.ack = "full";
  p.system.content_type = "application/json";
  p.system.content_encoding = "utf-8";
  p.application.emplace_back("color", "red");
  p.application.emplace_back("empty", "");
  const Headers iothub = headers_of(p, ContentHeaders::iothub);
  CHECK(iothub == Headers{{"iothub-messageid", "m1"},
                          {"iothub-correlationid", "c1"},
                          {"iothub-userid", "u1"},
                          {"iothub-expiry", "2026-12-01T10:00:00.000Z"},
                          {"iothub-ack", "full"},
                          {"iothub-contenttype", "application/json"},
                          {"iothub-contentencoding", "utf-8"},
                          {"iothub-app-color", "red"},
                          {"iothub-app-empty", ""}});
  CHECK(properties_of(iothub, ContentHeaders::iothub) == p);
  const Headers standard = headers_of(p, ContentHeaders::standard);
  CHECK(std::find(standard.begin(), standard.end(), std::pair<std::string, std::string>{"Content-Type", "application/json"}) !=
        standard.end());
  CHECK(properties_of(standard, ContentHeaders::standard) == p);
}

TEST_CASE("core::http_message properties_of: any case, first wins, refusals") {
  const auto p = properties_of({{"IoTHub-MessageId", "m1"}, {"iothub-app-K", "1"}, {"IOTHUB-APP-k", "2"}, {"Host", "x"}},
                               ContentHeaders::iothub);
  CHECK(p.system.message_id == "m1");
  REQUIRE(p.application.size() == 1);
  CHECK(p.application[0].second == "1");
  CHECK_THROWS_AS((void)properties_of({{"iothub-ack", "sometimes"}}, ContentHeaders::iothub), Error);
  CHECK_THROWS_AS((void)properties_of({{"iothub-messageid", std::string(200, 'a')}}, ContentHeaders::iothub), Error);
}

TEST_CASE("core::http_message parse_batch") {
  const std::string body = R"([{"body":")" + base64_encode("one") + R"(","properties":{"iothub-app-n":"1"}},)" +
                           R"({"body":")" + base64_encode("two") + R"("}])";
  const auto batch = parse_batch(body);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].body == "one");
  REQUIRE(batch[0].properties.application.size() == 1);
  CHECK(batch[0].properties.application[0] == std::pair<std::string, std::optional<std::string>>{"n", "1"});
  CHECK(batch[1].body == "two");
  CHECK(batch[1].properties.application.empty());
  CHECK(parse_batch("[]").empty());
  for (const char* bad : {"", "{}", "[1]", R"([{"properties":{}}])", R"([{"body":"***"}])", R"([{"body":"","properties":[]}])",
                          R"([{"body":"","properties":{"iothub-app-n":1}}])", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS((void)parse_batch(bad), Error);
  }
}
