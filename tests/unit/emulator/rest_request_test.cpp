#include "emulator/rest_request.hpp"

#include <doctest/doctest.h>

#include "emulator/rest_error.hpp"

using namespace azhub::emulator;

TEST_CASE("emulator::parse_if_match") {
  CHECK(parse_if_match("\"AAAAAAAAAAE=\"") == std::optional<std::string>("AAAAAAAAAAE="));
  CHECK(parse_if_match("AAAAAAAAAAE=") == std::optional<std::string>("AAAAAAAAAAE="));
  CHECK(parse_if_match(" W/\"abc\" ") == std::optional<std::string>("abc"));
  CHECK(parse_if_match("*") == std::optional<std::string>("*"));
  CHECK_FALSE(parse_if_match("").has_value());
  CHECK_FALSE(parse_if_match("\"\"").has_value());
}

TEST_CASE("emulator::parse_method_invocation") {
  SUBCASE("defaults") {
    const auto call = parse_method_invocation(R"({"methodName":"reboot"})");
    CHECK(call.method_name == "reboot");
    CHECK(call.payload == "null");
    CHECK(call.response_timeout_s == 30);
    CHECK(call.connect_timeout_s == 0);
  }
  SUBCASE("everything given") {
    const auto call = parse_method_invocation(
        R"({"methodName":"m","payload":{"a":[1,2]},"responseTimeoutInSeconds":5,"connectTimeoutInSeconds":300})");
    CHECK(call.payload == R"({"a":[1,2]})");
    CHECK(call.response_timeout_s == 5);
    CHECK(call.connect_timeout_s == 300);
  }
  SUBCASE("refusals name the field") {
    const struct {
      const char* body;
      const char* message;
    } rows[] = {
        {"", "the body: invalid JSON"},
        {"[1]", "the body is not a JSON object"},
        {"{}", "methodName: required, a non-empty string"},
        {R"({"methodName":""})", "methodName: required, a non-empty string"},
        {R"({"methodName":7})", "methodName: required, a non-empty string"},
        {R"({"methodName":"m","responseTimeoutInSeconds":4})",
         "responseTimeoutInSeconds: expected a whole number from 5 to 300"},
        {R"({"methodName":"m","responseTimeoutInSeconds":301})",
         "responseTimeoutInSeconds: expected a whole number from 5 to 300"},
        {R"({"methodName":"m","responseTimeoutInSeconds":"30"})",
         "responseTimeoutInSeconds: expected a whole number from 5 to 300"},
        {R"({"methodName":"m","connectTimeoutInSeconds":-1})",
         "connectTimeoutInSeconds: expected a whole number from 0 to 300"},
        {R"({"methodName":"m","connectTimeoutInSeconds":1.5})",
         "connectTimeoutInSeconds: expected a whole number from 0 to 300"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.body);
      try {
        (void)parse_method_invocation(row.body);
        FAIL("no error");
      } catch (const HubError& e) {
        CHECK(e.error_code() == 400004);
        CHECK(std::string(e.what()) == row.message);
      }
    }
  }
  SUBCASE("a payload nested deeper than 64 levels is refused before it is built") {
    const std::string body = R"({"methodName":"m","payload":)" + std::string(200000, '[') +
                             std::string(200000, ']') + "}";
    try {
      (void)parse_method_invocation(body);
      FAIL("no error");
    } catch (const HubError& e) {
      CHECK(std::string(e.what()) == "the body: nested deeper than 64 levels");
    }
  }
}

TEST_CASE("emulator::parse_d2c_filter") {
  const auto filter_of = [](std::map<std::string, std::string> query) {
    RestRoute route;
    route.resource = RestResource::events;
    route.query = std::move(query);
    return parse_d2c_filter(route);
  };
  SUBCASE("nothing given") {
    const auto f = filter_of({});
    CHECK_FALSE(f.after.has_value());
    CHECK_FALSE(f.device_id.has_value());
    CHECK(f.limit == 100);
  }
  SUBCASE("since is exclusive, from inclusive") {
    CHECK(filter_of({{"since", "7"}}).after == std::optional<std::uint64_t>(7));
    CHECK(filter_of({{"from", "7"}}).after == std::optional<std::uint64_t>(6));
    CHECK(filter_of({{"from", "0"}}).after == std::optional<std::uint64_t>(0));
    CHECK(filter_of({{"since", "3"}, {"from", "9"}}).after == std::optional<std::uint64_t>(3));
  }
  SUBCASE("device and module, both spellings") {
    CHECK(filter_of({{"device", "d"}}).device_id == std::optional<std::string>("d"));
    CHECK(filter_of({{"deviceId", "d"}}).device_id == std::optional<std::string>("d"));
    CHECK(filter_of({{"moduleId", "m"}}).module_id == std::optional<std::string>("m"));
  }
  SUBCASE("bad numbers") {
    CHECK_THROWS_AS((void)filter_of({{"since", "x"}}), HubError);
    CHECK_THROWS_AS((void)filter_of({{"since", "-1"}}), HubError);
    CHECK_THROWS_AS((void)filter_of({{"limit", "0"}}), HubError);
    CHECK_THROWS_AS((void)filter_of({{"limit", "1001"}}), HubError);
    CHECK(filter_of({{"limit", "1000"}}).limit == 1000);
  }
  SUBCASE("d2c_matches") {
    D2cMessage message;
    message.source = IdentityKey{"d1", std::string("m1")};
    CHECK(d2c_matches(filter_of({}), message));
    CHECK(d2c_matches(filter_of({{"device", "d1"}}), message));
    CHECK_FALSE(d2c_matches(filter_of({{"device", "d2"}}), message));
    CHECK(d2c_matches(filter_of({{"device", "d1"}, {"module", "m1"}}), message));
    CHECK_FALSE(d2c_matches(filter_of({{"module", "m2"}}), message));
  }
}
