#include "core/identity.hpp"

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
}  // namespace

TEST_CASE("core::mqtt_client_id") {
  CHECK(mqtt_client_id(Identity{"h", "my_device", {}}) == "my_device");
  CHECK(mqtt_client_id(Identity{"h", "edge-gw:1", "$edgeHub"}) == "edge-gw:1/$edgeHub");
  CHECK(mqtt_client_id(Identity{"h", "dev:01@site.b", {}}) == "dev:01@site.b");  // never encoded
}

TEST_CASE("core::mqtt_username") {
  SUBCASE("azure-sdk-for-c shape with model id (docs/protocol.md §2.1)") {
    CHECK(
        mqtt_username(Identity{"myiothub.azure-devices.net", "my_device", {}}, "azsdk-c/1.6.0",
                      "dtmi:YOUR_COMPANY_NAME_HERE:sample_device;1", "2020-09-30") ==
        "myiothub.azure-devices.net/my_device/?api-version=2020-09-30&DeviceClientType=azsdk-c%2F1."
        "6.0&model-id=dtmi%3AYOUR_COMPANY_NAME_HERE%3Asample_device%3B1");
  }
  SUBCASE("module, ids raw") {
    CHECK(mqtt_username(Identity{"fabrikam-iot.azure-devices.net", "edge-gw:1", "$edgeHub"},
                        "azsdk-c/1.6.0", {}, "2020-09-30") ==
          "fabrikam-iot.azure-devices.net/edge-gw:1/$edgeHub/?api-version=2020-09-30&"
          "DeviceClientType=azsdk-c%2F1.6.0");
  }
  SUBCASE("default api version, no product") {
    CHECK(mqtt_username(Identity{"h", "d", {}}, "") == "h/d/?api-version=2021-04-12");
  }
}

TEST_CASE("core::parse_mqtt_username") {
  SUBCASE("round trip") {
    for (const Identity& id : {Identity{"h.example", "d", {}}, Identity{"h", "gw", "mod"},
                               Identity{"h", "a?b", {}}, Identity{"h", "dev:01@x#y", "m=1"}}) {
      CAPTURE(id.device_id);
      const auto parts = parse_mqtt_username(mqtt_username(id, "azhub/0.1", "dtmi:com:x;1"));
      REQUIRE(parts);
      CHECK(parts->host == id.host);
      CHECK(parts->device_id == id.device_id);
      CHECK(parts->module_id == id.module_id);
      CHECK(parts->api_version == "2021-04-12");
      CHECK(parts->model_id == "dtmi:com:x;1");
    }
  }
  SUBCASE("old C SDK form without '?'") {
    const auto parts =
        parse_mqtt_username("h/dev1/api-version=2016-11-14&DeviceClientType=iothubclient%2f1.2.14");
    REQUIRE(parts);
    CHECK(parts->host == "h");
    CHECK(parts->device_id == "dev1");
    CHECK_FALSE(parts->module_id);
    CHECK(parts->api_version == "2016-11-14");
  }
  SUBCASE("no query at all") {
    const auto parts = parse_mqtt_username("h/dev1/");
    REQUIRE(parts);
    CHECK(parts->device_id == "dev1");
    CHECK_FALSE(parts->api_version);
    const auto module = parse_mqtt_username("h/dev1/mod1");
    REQUIRE(module);
    CHECK(module->module_id == "mod1");
  }
  SUBCASE("Node's unencoded model id") {
    const auto parts =
        parse_mqtt_username("h/d/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1");
    REQUIRE(parts);
    CHECK(parts->model_id == "dtmi:com:example:Thermostat;1");
  }
  SUBCASE("not the IoT Hub shape") {
    for (const char* bad : {"", "h", "h/", "/d/?api-version=1", "h//?api-version=1",
                            "h/d/m/x/?api-version=1", "h/d/?api-version=%zz", "h/d/m/extra/"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_mqtt_username(bad).has_value());
    }
  }
}

TEST_CASE("core::validate_identity_id") {
  validate_identity_id("abc-DEF_123", "--device-id");
  validate_identity_id("-:.+%_#*?!(),=@;$'", "--device-id");
  validate_identity_id(std::string(128, 'x'), "--device-id");
  struct Row {
    std::string id;
    const char* message;
  };
  const Row rows[] = {
      {"", "--device-id is empty"},
      {std::string(129, 'x'), "--device-id is 129 characters long; IoT Hub allows at most 128"},
      {"a b",
       "--device-id contains ' ' (space); IoT Hub ids allow letters, digits and - : . + % _ "
       "# * ? ! ( ) , = @ ; $ '"},
      {"a/b",
       "--device-id contains '/'; IoT Hub ids allow letters, digits and - : . + % _ # * ? ! "
       "( ) , = @ ; $ '"},
      {"a&b",
       "--device-id contains '&'; IoT Hub ids allow letters, digits and - : . + % _ # * ? ! "
       "( ) , = @ ; $ '"},
      {"caf\xC3\xA9",
       "--device-id contains byte 0xC3; IoT Hub ids allow letters, digits and - : . "
       "+ % _ # * ? ! ( ) , = @ ; $ '"},
      {"a\tb",
       "--device-id contains byte 0x09; IoT Hub ids allow letters, digits and - : . + % _ "
       "# * ? ! ( ) , = @ ; $ '"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.id);
    CHECK(error_of([&] { validate_identity_id(row.id, "--device-id"); }) == row.message);
  }
}

TEST_CASE("core::validate_id_segment") {
  validate_id_segment("dev 1", "--device-id");
  validate_id_segment("a#b$c*d&e\xC3\xA9", "--device-id");
  validate_id_segment(std::string(128, 'x'), "--device-id");
  CHECK(error_of([] { validate_id_segment("", "--module-id"); }) == "--module-id is empty");
  CHECK(error_of([] { validate_id_segment(std::string(129, 'x'), "--device-id"); }) ==
        "--device-id is 129 characters long; IoT Hub allows at most 128");
  CHECK(error_of([] { validate_id_segment("a/b", "--device-id"); }) ==
        "--device-id contains '/', which cannot be part of an id");
  CHECK(error_of([] { validate_id_segment("a\nb", "--device-id"); }) ==
        "--device-id contains byte 0x0A, which cannot be part of an id");
}

TEST_CASE("core::validate_keep_alive and validate_model_id") {
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const azhub::core::Error& e) {
      CHECK(e.code() == azhub::core::ExitCode::usage);
      return e.what();
    }
    return {};
  };
  using azhub::core::validate_keep_alive;
  using azhub::core::validate_model_id;
  validate_keep_alive(0, "k");
  validate_keep_alive(1177, "k");
  CHECK(message([] { validate_keep_alive(1178, "--keep-alive"); }) ==
        "--keep-alive 1178: must be 0 to 1177 seconds (the hub's idle limit)");
  CHECK(message([] { validate_keep_alive(-1, "k"); }) == "k -1: must be 0 to 1177 seconds (the hub's idle limit)");
  for (const char* ok : {"dtmi:com:example:Thermostat;1", "dtmi:com:example:TemperatureController;2",
                         "dtmi:a", "dtmi:a_b:c9;999999999", "dtmi:foo:bar;1.2"}) {
    CAPTURE(ok);
    CHECK(message([&] { validate_model_id(ok, "m"); }).empty());
  }
  for (const char* bad : {"thermostat", "dtmi:", "dtmi:com::x;1", "dtmi:9com:x;1", "dtmi:com_:x;1",
                          "dtmi:com:x;0", "dtmi:com:x;", "dtmi:com:x;1000000000", "dtmi:com x;1",
                          "dtmi:com:x;1;2", "DTMI:com:x;1", "dtmi:com:x;1.", "dtmi:com-x;1"}) {
    CAPTURE(bad);
    CHECK(message([&] { validate_model_id(bad, "--model-id"); }) ==
          std::string("--model-id '") + bad + "': expected a DTMI such as dtmi:com:example:Thermostat;1");
  }
}
