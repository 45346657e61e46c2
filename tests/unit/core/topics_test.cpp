#include "core/topics.hpp"

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

MessageProperties sample_properties() {
  MessageProperties p;
  p.system.content_type = "application/json";
  p.system.content_encoding = "utf-8";
  p.system.message_id = "42";
  p.application = {{"temp alert", "true"}, {"flag", std::nullopt}};
  return p;
}
}  // namespace

TEST_CASE("core::telemetry topics") {
  const Identity device{"h", "dev1", {}};
  const Identity module{"h", "my_device", "my_module_id"};

  SUBCASE("builder shapes (§4, §5.2)") {
    CHECK(build_telemetry_topic(device, {}) == "devices/dev1/messages/events/");
    MessageProperties p;
    p.application = {{"key", "value"}, {"key_two", "value2"}};
    CHECK(build_telemetry_topic(module, p) ==
          "devices/my_device/modules/my_module_id/messages/events/key=value&key_two=value2");
  }
  SUBCASE("round trips") {
    for (const Identity& id : {device, module, Identity{"h", "dev:01@x", {}}}) {
      for (const MessageProperties& p : {MessageProperties{}, sample_properties()}) {
        const std::string topic = build_telemetry_topic(id, p);
        CAPTURE(topic);
        const auto t = parse_telemetry_topic(topic);
        REQUIRE(t);
        CHECK(t->device_id == id.device_id);
        CHECK(t->module_id == id.module_id);
        CHECK(t->properties == p);
      }
    }
  }
  SUBCASE("accepted suffix forms (§4 notes)") {
    for (const char* topic : {"devices/d/messages/events", "devices/d/messages/events/",
                              "devices/d/messages/events/?a=1", "devices/d/messages/events/a=1"}) {
      CAPTURE(topic);
      const auto t = parse_telemetry_topic(topic);
      REQUIRE(t);
      CHECK(t->device_id == "d");
      const bool has_bag = std::string_view(topic).ends_with("a=1");
      CHECK(t->properties.application == (has_bag ? App{{"a", "1"}} : App{}));
    }
    const auto t = parse_telemetry_topic(
        "devices/dev1/messages/events/%24.mid=42&%24.cid=abc&temp%20alert=true");
    REQUIRE(t);
    CHECK(t->properties.system.message_id == "42");
    CHECK(t->properties.system.correlation_id == "abc");
    CHECK(t->properties.application == App{{"temp alert", "true"}});
  }
  SUBCASE("a device called 'modules'") {
    const auto t = parse_telemetry_topic("devices/modules/messages/events/");
    REQUIRE(t);
    CHECK(t->device_id == "modules");
    CHECK_FALSE(t->module_id);
  }
  SUBCASE("other features are nullopt") {
    for (const char* topic :
         {"", "devices", "devices/d", "devices/d/messages/devicebound/",
          "devices/d/messages/eventsX", "devices/d/messages/event/",
          "devices/d/modules/m/inputs/x/", "$iothub/twin/GET/?$rid=1", "Devices/d/messages/events/",
          "devices/d/modules/m/messages/devicebound/"}) {
      CAPTURE(topic);
      CHECK_FALSE(parse_telemetry_topic(topic).has_value());
    }
  }
  SUBCASE("ours but malformed") {
    CHECK(error_of([] { (void)parse_telemetry_topic("devices//messages/events/"); }) ==
          "telemetry topic: empty device id");
    CHECK(error_of([] { (void)parse_telemetry_topic("devices/d/modules//messages/events/"); }) ==
          "telemetry topic: empty module id");
    CHECK(error_of([] { (void)parse_telemetry_topic("devices/d/messages/events/a=%zz"); }) ==
          "property bag: value of 'a': invalid percent-escape at offset 0");
  }
}

TEST_CASE("core::C2D topics") {
  CHECK(build_c2d_subscription("dev1") == "devices/dev1/messages/devicebound/#");
  SUBCASE("round trips") {
    MessageProperties p = sample_properties();
    p.system.to = "/devices/dev1/messages/deviceBound";
    p.system.ack = "full";
    for (const MessageProperties& props : {MessageProperties{}, p}) {
      const std::string topic = build_c2d_topic("dev1", props);
      CAPTURE(topic);
      const auto t = parse_c2d_topic(topic);
      REQUIRE(t);
      CHECK(t->device_id == "dev1");
      CHECK(t->properties == props);
    }
    CHECK(build_c2d_topic("d", {}) == "devices/d/messages/devicebound/");
  }
  SUBCASE("wire captures (§5.3)") {
    const auto a = parse_c2d_topic(
        "devices/MySmartDevice/messages/devicebound/"
        "%24.to=%2Fdevices%2FMySmartDevice%2Fmessages%2FdeviceBound&foo=bar");
    REQUIRE(a);
    CHECK(a->device_id == "MySmartDevice");
    CHECK(a->properties.system.to == "/devices/MySmartDevice/messages/deviceBound");
    CHECK(a->properties.application == App{{"foo", "bar"}});
    const auto b = parse_c2d_topic(
        "devices/DOIT2/messages/devicebound/%24.to=%2Fdevices%2FDOIT2%2Fmessages%2FdeviceBound&"
        "%24.ct=text%2Fplain%3B%20charset%3DUTF-8&%24.ce=utf-8");
    REQUIRE(b);
    CHECK(b->properties.system.content_type == "text/plain; charset=UTF-8");
    const auto c = parse_c2d_topic("devices/x/messages/devicebound/?prop1&prop2=v");
    REQUIRE(c);
    CHECK(c->properties.application == App{{"prop1", std::nullopt}, {"prop2", "v"}});
    const auto d = parse_c2d_topic("devices/x/messages/devicebound");
    REQUIRE(d);
    CHECK(d->properties == MessageProperties{});
  }
  SUBCASE("other features are nullopt; ours malformed throws") {
    for (const char* topic :
         {"devices/d/messages/events/", "devices/d/messages/deviceboundX",
          "$iothub/methods/POST/x/?$rid=1", "devices/d/modules/m/messages/devicebound/"}) {
      CAPTURE(topic);
      CHECK_FALSE(parse_c2d_topic(topic).has_value());
    }
    CHECK(error_of([] { (void)parse_c2d_topic("devices//messages/devicebound/"); }) ==
          "C2D topic: empty device id");
  }
}

TEST_CASE("core::twin request topics") {
  CHECK(build_twin_get_topic("hey") == "$iothub/twin/GET/?$rid=hey");
  CHECK(build_twin_patch_reported_topic("ho") == "$iothub/twin/PATCH/properties/reported/?$rid=ho");
  for (const char* rid : {"1", "hey", "6c1e0e4b-8d0c-4b5a-9a5e-3d2e8f7a1b2c", "a%20b", "x$y"}) {
    CAPTURE(rid);
    const auto get = parse_twin_request_topic(build_twin_get_topic(rid));
    REQUIRE(get);
    CHECK(get->kind == TwinRequest::Kind::get);
    CHECK(get->rid == rid);  // byte for byte, never decoded
    const auto patch = parse_twin_request_topic(build_twin_patch_reported_topic(rid));
    REQUIRE(patch);
    CHECK(patch->kind == TwinRequest::Kind::patch_reported);
    CHECK(patch->rid == rid);
  }
  SUBCASE("extra parameters are ignored (§7.3)") {
    const auto t =
        parse_twin_request_topic("$iothub/twin/PATCH/properties/reported/?$rid=5&$version=3");
    REQUIRE(t);
    CHECK(t->rid == "5");
  }
  SUBCASE("other features are nullopt") {
    for (const char* topic :
         {"$iothub/twin/res/200/?$rid=1", "$iothub/twin/PATCH/properties/desired/?$version=1",
          "$iothub/methods/POST/m/?$rid=1", "devices/d/messages/events/",
          "$iothub/twin/get/?$rid=1"}) {
      CAPTURE(topic);
      CHECK_FALSE(parse_twin_request_topic(topic).has_value());
    }
  }
  SUBCASE("ours but malformed") {
    struct Row {
      const char* topic;
      const char* message;
    };
    const Row rows[] = {
        {"$iothub/twin/GET/", "twin request topic: missing '/?' before the query"},
        {"$iothub/twin/GET", "twin request topic: missing '/?' before the query"},
        {"$iothub/twin/GET/?", "twin request topic: missing $rid"},
        {"$iothub/twin/GET/?$rid=", "twin request topic: missing $rid"},
        {"$iothub/twin/GET/?rid=1", "twin request topic: missing $rid"},
        {"$iothub/twin/GET/?$rid=1&$rid=2", "twin request topic: duplicate '$rid'"},
        {"$iothub/twin/PATCH/properties/reported?$rid=1",
         "twin request topic: missing '/?' before the query"},
    };
    for (const Row& row : rows) {
      CAPTURE(row.topic);
      CHECK(error_of([&] { (void)parse_twin_request_topic(row.topic); }) == row.message);
    }
  }
  SUBCASE("request ids that cannot be echoed in a topic") {
    for (const char* rid : {"", "a&b", "a/b", "a#", "a+b", "a\nb"}) {
      CAPTURE(rid);
      const std::string expected = *rid == '\0' ? "request id ($rid) is empty"
                                                : "request id ($rid) contains a character that "
                                                  "cannot appear in a topic";
      CHECK(error_of([&] { (void)build_twin_get_topic(rid); }) == expected);
      CHECK(error_of([&] { (void)build_twin_patch_reported_topic(rid); }) == expected);
      CHECK(error_of([&] { (void)build_method_response_topic(200, rid); }) == expected);
    }
  }
}

TEST_CASE("core::twin response topics") {
  CHECK(build_twin_response_topic(200, "hey") == "$iothub/twin/res/200/?$rid=hey");
  CHECK(build_twin_response_topic(204, "ho", 90) == "$iothub/twin/res/204/?$rid=ho&$version=90");
  for (int status : {200, 204, 400, 429, 500, 0, 65535}) {
    for (std::optional<std::int64_t> version :
         {std::optional<std::int64_t>{}, std::optional<std::int64_t>{0},
          std::optional<std::int64_t>{9007199254740991}}) {
      const std::string topic = build_twin_response_topic(status, "r-1", version);
      CAPTURE(topic);
      const auto t = parse_twin_response_topic(topic);
      REQUIRE(t);
      CHECK(t->status == status);
      CHECK(t->rid == "r-1");
      CHECK(t->version == version);
    }
  }
  SUBCASE("parameter order is free") {
    const auto t = parse_twin_response_topic("$iothub/twin/res/204/?$version=7&$rid=x");
    REQUIRE(t);
    CHECK(t->version == 7);
    CHECK(t->rid == "x");
  }
  CHECK_FALSE(parse_twin_response_topic("$iothub/twin/GET/?$rid=1").has_value());
  CHECK_FALSE(parse_twin_response_topic("$iothub/methods/res/200/?$rid=1").has_value());
  struct Row {
    const char* topic;
    const char* message;
  };
  const Row rows[] = {
      {"$iothub/twin/res/", "twin response topic: status is not an integer 0-65535"},
      {"$iothub/twin/res/abc/?$rid=1", "twin response topic: status is not an integer 0-65535"},
      {"$iothub/twin/res/-1/?$rid=1", "twin response topic: status is not an integer 0-65535"},
      {"$iothub/twin/res/65536/?$rid=1", "twin response topic: status is not an integer 0-65535"},
      {"$iothub/twin/res/200", "twin response topic: missing '/?' before the query"},
      {"$iothub/twin/res/200/?$version=1", "twin response topic: missing $rid"},
      {"$iothub/twin/res/204/?$rid=1&$version=x",
       "twin response topic: $version is not a non-negative integer"},
      {"$iothub/twin/res/204/?$rid=1&$version=-2",
       "twin response topic: $version is not a non-negative integer"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.topic);
    CHECK(error_of([&] { (void)parse_twin_response_topic(row.topic); }) == row.message);
  }
}

TEST_CASE("core::twin desired topics") {
  CHECK(build_twin_desired_topic(16) == "$iothub/twin/PATCH/properties/desired/?$version=16");
  for (std::int64_t v : {0LL, 1LL, 16LL, 4503599627370495LL}) {
    CHECK(parse_twin_desired_topic(build_twin_desired_topic(v)) == v);
  }
  CHECK_FALSE(
      parse_twin_desired_topic("$iothub/twin/PATCH/properties/reported/?$rid=1").has_value());
  CHECK_FALSE(parse_twin_desired_topic("$iothub/twin/res/200/?$rid=1").has_value());
  CHECK(error_of([] {
          (void)parse_twin_desired_topic("$iothub/twin/PATCH/properties/desired/?");
        }) == "twin desired topic: missing $version");
  CHECK(error_of([] {
          (void)parse_twin_desired_topic("$iothub/twin/PATCH/properties/desired/?$version=1x");
        }) == "twin desired topic: $version is not a non-negative integer");
}

TEST_CASE("core::method topics") {
  CHECK(build_method_request_topic("reboot", "1") == "$iothub/methods/POST/reboot/?$rid=1");
  CHECK(build_method_response_topic(200, "1") == "$iothub/methods/res/200/?$rid=1");
  for (const char* name : {"reboot", "thermostat*getMaxMinReport", "a-b_c.d"}) {
    const auto r = parse_method_request_topic(build_method_request_topic(name, "abc"));
    REQUIRE(r);
    CHECK(r->name == name);
    CHECK(r->rid == "abc");
  }
  for (int status : {200, 404, 500, 0, 65535}) {
    const auto r = parse_method_response_topic(build_method_response_topic(status, "r"));
    REQUIRE(r);
    CHECK(r->status == status);
    CHECK(r->rid == "r");
  }
  CHECK_FALSE(parse_method_request_topic("$iothub/methods/res/200/?$rid=1").has_value());
  CHECK_FALSE(parse_method_response_topic("$iothub/methods/POST/x/?$rid=1").has_value());
  CHECK_FALSE(parse_method_request_topic("$iothub/twin/GET/?$rid=1").has_value());
  struct Row {
    const char* topic;
    const char* message;
  };
  const Row rows[] = {
      {"$iothub/methods/POST//?$rid=1", "method request topic: empty method name"},
      {"$iothub/methods/POST/", "method request topic: empty method name"},
      {"$iothub/methods/POST/m", "method request topic: missing '/?' before the query"},
      {"$iothub/methods/POST/m/?$rid=", "method request topic: missing $rid"},
      {"$iothub/methods/POST/m/x/?$rid=1", "method request topic: missing '/?' before the query"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.topic);
    CHECK(error_of([&] { (void)parse_method_request_topic(row.topic); }) == row.message);
  }
  CHECK(error_of([] { (void)parse_method_response_topic("$iothub/methods/res/x/?$rid=1"); }) ==
        "method response topic: status is not an integer 0-65535");
  CHECK(error_of([] { (void)parse_method_response_topic("$iothub/methods/res/200/?"); }) ==
        "method response topic: missing $rid");
}

TEST_CASE("core::validate_method_name") {
  validate_method_name("reboot");
  validate_method_name("thermostat*getMaxMinReport");
  validate_method_name("a!#%&'*+-.^_`|~");
  const std::string allowed =
      "; IoT Hub allows printable ASCII except space and $ ( ) < > @ , ; : \\ \" / [ ] ? = { }";
  struct Row {
    std::string name;
    std::string message;
  };
  const Row rows[] = {
      {"", "method name is empty"},
      {"re boot", "method name contains ' ' (space)" + allowed},
      {"a/b", "method name contains '/'" + allowed},
      {"$get", "method name contains '$'" + allowed},
      {"a{b", "method name contains '{'" + allowed},
      {"a\tb", "method name contains byte 0x09" + allowed},
      {"caf\xC3\xA9", "method name contains byte 0xC3" + allowed},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    CHECK(error_of([&] { validate_method_name(row.name); }) == row.message);
  }
}

TEST_CASE("core::validate_qos") {
  validate_qos(0);
  validate_qos(1);
  CHECK(error_of([] { validate_qos(2); }) == "QoS 2 is not supported by IoT Hub; use 0 or 1");
  CHECK(error_of([] { validate_qos(3); }) == "QoS 3 is not valid; use 0 or 1");
  CHECK(error_of([] { validate_qos(-1); }) == "QoS -1 is not valid; use 0 or 1");
}

TEST_CASE("core::classify_subscription") {
  const Identity device{"h", "dev1", {}};
  const Identity module{"h", "dev1", "mod1"};
  CHECK(classify_subscription(device, "devices/dev1/messages/devicebound/#") ==
        SubscriptionKind::c2d);
  CHECK(classify_subscription(device, "devices/+/messages/devicebound/#") == SubscriptionKind::c2d);
  CHECK(classify_subscription(device, "$iothub/twin/res/#") == SubscriptionKind::twin_response);
  CHECK(classify_subscription(module, "$iothub/twin/res/#") == SubscriptionKind::twin_response);
  CHECK(classify_subscription(device, "$iothub/twin/PATCH/properties/desired/#") ==
        SubscriptionKind::twin_desired);
  CHECK(classify_subscription(module, "$iothub/methods/POST/#") == SubscriptionKind::methods);
  for (const char* filter :
       {"devices/dev2/messages/devicebound/#", "devices/dev1/messages/devicebound", "#", "+",
        "$iothub/#", "devices/dev1/#", "$iothub/twin/res/+", "$iothub/methods/POST/reboot/#",
        "devices/dev1/messages/events/#", ""}) {
    CAPTURE(filter);
    CHECK_FALSE(classify_subscription(device, filter).has_value());
  }
  // C2D is for devices only (docs/protocol.md §6).
  CHECK_FALSE(classify_subscription(module, "devices/dev1/messages/devicebound/#").has_value());
}
