#include "core/properties.hpp"

#include <string>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;

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
using App = std::vector<std::pair<std::string, std::optional<std::string>>>;
}  // namespace

TEST_CASE("core::build_property_bag") {
  SUBCASE("empty") {
    CHECK(build_property_bag({}) == "");
  }
  SUBCASE("system order of §5.3, then application properties, all encoded") {
    MessageProperties p;
    p.application = {{"temp alert", "true"}, {"k", std::nullopt}, {"e", ""}};
    p.system.ack = "full";
    p.system.content_encoding = "utf-8";
    p.system.content_type = "application/json";
    p.system.expiry = "2026-01-01T00:00:00Z";
    p.system.user_id = "hub";
    p.system.correlation_id = "c 1";
    p.system.to = "/devices/d/messages/deviceBound";
    p.system.message_id = "42";
    CHECK(build_property_bag(p) ==
          "%24.mid=42&%24.to=%2Fdevices%2Fd%2Fmessages%2FdeviceBound&%24.cid=c%201&%24.uid=hub&"
          "%24.exp=2026-01-01T00%3A00%3A00Z&%24.ct=application%2Fjson&%24.ce=utf-8&iothub-ack=full&"
          "temp%20alert=true&k&e=");
  }
  SUBCASE("D2C-only keys") {
    MessageProperties p;
    p.system.creation_time = "2021-04-21T11:30:16Z";
    p.system.subject = "thermostat1";
    p.system.output_name = "out1";
    CHECK(build_property_bag(p) ==
          "%24.ctime=2021-04-21T11%3A30%3A16Z&%24.sub=thermostat1&%24.on=out1");
  }
  SUBCASE("iothub-ack=none is the default and not written") {
    MessageProperties p;
    p.system.ack = "none";
    CHECK(build_property_bag(p) == "");
  }
}

TEST_CASE("core::parse_property_bag") {
  SUBCASE("both $.x and %24.x") {
    const auto p = parse_property_bag("$.ct=application%2Fjson&%24.ce=utf-8&%24.mid=42&$.cid=abc");
    CHECK(p.system.content_type == "application/json");
    CHECK(p.system.content_encoding == "utf-8");
    CHECK(p.system.message_id == "42");
    CHECK(p.system.correlation_id == "abc");
    CHECK(p.application.empty());
  }
  SUBCASE("key-only and empty values (§5.3)") {
    const auto p =
        parse_property_bag("iothub-ack=Full&%24.to=%2Fdevices%2Fx&%24.cid&%24.uid=&a&b=");
    CHECK(p.system.ack == "Full");
    CHECK(p.system.to == "/devices/x");
    CHECK_FALSE(p.system.correlation_id);  // null: the same as absent
    CHECK(p.system.user_id == "");
    CHECK(p.application == App{{"a", std::nullopt}, {"b", ""}});
  }
  SUBCASE("'+' stays '+'; '=' in values; leading '?'; empty pairs skipped") {
    const auto p = parse_property_bag("?a+b=c+d&&x=y=z&");
    CHECK(p.application == App{{"a+b", "c+d"}, {"x", "y=z"}});
  }
  SUBCASE("duplicate application keys keep order") {
    const auto p = parse_property_bag("k=1&k=2");
    CHECK(p.application == App{{"k", "1"}, {"k", "2"}});
  }
  SUBCASE("unknown $. keys are application properties") {
    const auto p = parse_property_bag("%24.ifid=urn%3Ax&%24.cdid=d");
    CHECK(p.application == App{{"$.ifid", "urn:x"}, {"$.cdid", "d"}});
  }
  SUBCASE("errors") {
    CHECK(error_of([] { (void)parse_property_bag("=v"); }) ==
          "property bag: a property has an empty name");
    CHECK(error_of([] { (void)parse_property_bag("a%zz=1"); }) ==
          "property bag: name: invalid percent-escape at offset 1");
    CHECK(error_of([] { (void)parse_property_bag("a=%2"); }) ==
          "property bag: value of 'a': truncated percent-escape at offset 0");
  }
}

TEST_CASE("core::property bag round trips") {
  std::vector<MessageProperties> cases;
  cases.emplace_back();
  {
    MessageProperties p;
    p.system.message_id = "m&1=2";
    p.system.correlation_id = "";
    p.system.content_type = "text/plain; charset=UTF-8";
    p.system.to = "/devices/DOIT2/messages/deviceBound";
    p.system.ack = "positive";
    p.system.expiry = "0";
    p.system.subject = "c";
    p.system.output_name = "o";
    p.system.creation_time = "t";
    p.system.user_id = "u";
    p.system.content_encoding = "utf-8";
    p.application = {{"a b", "c d"}, {"$x", std::nullopt},         {"e", ""},
                     {"%", "100%"},  {"\xC3\xA9", "\xE2\x82\xAC"}, {"k", "a&b=c"}};
    cases.push_back(p);
  }
  for (const MessageProperties& p : cases) {
    const std::string bag = build_property_bag(p);
    CAPTURE(bag);
    CHECK(parse_property_bag(bag) == p);
  }
}

TEST_CASE("core::validate_application_property") {
  validate_application_property("temp", "hot");
  validate_application_property("a!#$%&'*+-.^_`|~Z9", "");
  validate_application_property("iothub-creation-time-utc", "2021-04-21T11:30:16Z");
  validate_application_property("k", "any value at all, spaces & unicode \xC3\xA9");
  struct Row {
    std::string name;
    std::string value;
    const char* message;
  };
  const Row rows[] = {
      {"", "v", "property name is empty"},
      {"$.mid", "v",
       "property name '$.mid' is reserved: names starting with '$.' are system properties"},
      {"a b", "v",
       "property name 'a b' contains ' ' (space); IoT Hub allows letters, digits and ! # $ % & ' * "
       "+ - . ^ _ ` | ~"},
      {"a=b", "v",
       "property name 'a=b' contains '='; IoT Hub allows letters, digits and ! # $ % & ' * + - . ^ "
       "_ ` | ~"},
      {"a/b", "v",
       "property name 'a/b' contains '/'; IoT Hub allows letters, digits and ! # $ % & ' * + - . ^ "
       "_ ` | ~"},
      {"caf\xC3\xA9", "v",
       "property name 'caf\\xC3\\xA9' contains byte 0xC3; IoT Hub allows letters, digits and ! # $ "
       "% "
       "& ' * + - . ^ _ ` | ~"},
      {"k", std::string(256 * 1024, 'x'),
       "property 'k' is 262145 bytes; a whole message may be at most 262144"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    CHECK(error_of([&] { validate_application_property(row.name, row.value); }) == row.message);
  }
}

TEST_CASE("core::message_size and validate_message_size") {
  MessageProperties p;
  p.system.message_id = "12345";                               // 5
  p.system.content_type = "ab";                                // 2
  p.application = {{"key", "value"}, {"flag", std::nullopt}};  // 8 + 4
  CHECK(message_size("body", p) == 4 + 5 + 2 + 8 + 4);         // properties: 19
  CHECK(message_size("", {}) == 0);

  const std::size_t limit = 256 * 1024;
  validate_message_size(std::string(limit - 19, 'x'), p);
  CHECK(error_of([&] { validate_message_size(std::string(limit - 18, 'x'), p); }) ==
        "message is 262145 bytes (body and properties); IoT Hub accepts at most 262144");
  CHECK(error_of([&] { validate_message_size("12345", {}, 4); }) ==
        "message is 5 bytes (body and properties); IoT Hub accepts at most 4");
}

TEST_CASE("core::validate_system_properties") {
  SystemProperties ok;
  ok.message_id = std::string(128, 'm');
  ok.ack = "full";
  validate_system_properties(ok);
  validate_system_properties({});
  for (const char* ack : {"none", "positive", "negative", "full"}) {
    SystemProperties s;
    s.ack = ack;
    validate_system_properties(s);
  }
  struct Row {
    SystemProperties system;
    std::string message;
  };
  std::vector<Row> rows;
  rows.push_back({{}, ""});
  rows.back().system.message_id = std::string(129, 'm');
  rows.back().message = "message id ($.mid) is 129 characters long; IoT Hub allows at most 128";
  rows.push_back({{}, ""});
  rows.back().system.message_id = "a b";
  rows.back().message =
      "message id ($.mid) contains ' ' (space); IoT Hub allows letters, digits and - : . + % _ # * "
      "? ! ( ) , = @ ; $ '";
  rows.push_back({{}, ""});
  rows.back().system.message_id = "a/b";
  rows.back().message =
      "message id ($.mid) contains '/'; IoT Hub allows letters, digits and - : . + % _ # * ? ! ( "
      ") , = @ ; $ '";
  rows.push_back({{}, ""});
  rows.back().system.ack = "Full\n";
  rows.back().message = "iothub-ack 'Full\\x0A' is not one of none, positive, negative, full";
  for (const Row& row : rows) {
    CAPTURE(row.message);
    CHECK(error_of([&] { validate_system_properties(row.system); }) == row.message);
  }
}

TEST_CASE("core::validate_application_property never prints raw control bytes") {
  CHECK(error_of([] { validate_application_property("a\x1b[2Jb", "v"); }) ==
        "property name 'a\\x1B[2Jb' contains byte 0x1B; IoT Hub allows letters, digits and ! # $ % "
        "& ' * + - . ^ _ ` | ~");
}

TEST_CASE("core::parse_property_argument") {
  CHECK(parse_property_argument("k=v") == std::pair<std::string, std::string>{"k", "v"});
  CHECK(parse_property_argument("k=") == std::pair<std::string, std::string>{"k", ""});
  CHECK(parse_property_argument("k=a=b") == std::pair<std::string, std::string>{"k", "a=b"});
  struct Row {
    const char* input;
    const char* message;
  };
  const Row rows[] = {
      {"novalue", "--prop 'novalue': expected NAME=VALUE"},
      {"=v", "--prop '=v': the name is empty"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.input);
    try {
      (void)parse_property_argument(row.input);
      FAIL("expected an error");
    } catch (const azhub::core::Error& e) {
      CHECK(e.code() == azhub::core::ExitCode::usage);
      CHECK(std::string(e.what()) == row.message);
    }
  }
  SUBCASE("names the hub refuses") {
    CHECK_THROWS_AS((void)parse_property_argument("has space=1"), azhub::core::Error);
    CHECK_THROWS_AS((void)parse_property_argument("$.mid=1"), azhub::core::Error);
  }
}
