#include "emulator/rest_json.hpp"

#include <doctest/doctest.h>

#include "core/message_record.hpp"

#include "core/error.hpp"

using namespace azhub::emulator;
using nlohmann::json;

namespace {

const std::string k_key_a = "ruC7SABKfiNJNv5AqUuAivyGvyZ+yFSTb7TXrmYpqOU=";
const std::string k_key_b = "SbKBMGaqu+tTLnwsCJOpe0pR8r7Dd5e/ZczP+zfyBsw=";
const std::string k_thumb = "0123456789abcdef0123456789ABCDEF01234567";

IdentityRecord device_record() {
  IdentityRecord r;
  r.key = IdentityKey{"MyJavaDevice", std::nullopt};
  r.generation_id = "637546501104263193";
  r.etag = "MzE4NzUxOTU1";
  r.primary_key = k_key_a;
  r.secondary_key = k_key_b;
  return r;
}

std::string error_of(const json& body, const IdentityKey& key) {
  try {
    (void)parse_identity_update(body, key);
  } catch (const azhub::core::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("emulator::format_rest_time") {
  CHECK(format_rest_time(0, "0001-01-01T00:00:00") == "0001-01-01T00:00:00");
  CHECK(format_rest_time(1700000000123, "") == "2023-11-14T22:13:20.1230000Z");
}

TEST_CASE("emulator::identity_to_json") {
  SUBCASE("a fresh sas device, exactly as §12.2 shows it") {
    // Byte for byte: the members in the service's order, not sorted.
    CHECK(identity_to_json(device_record()).dump() ==
          nlohmann::ordered_json::parse(R"({"deviceId":"MyJavaDevice","generationId":"637546501104263193","etag":"MzE4NzUxOTU1",
 "status":"enabled","statusReason":null,"statusUpdatedTime":"0001-01-01T00:00:00",
 "connectionState":"Disconnected","connectionStateUpdatedTime":"0001-01-01T00:00:00",
 "lastActivityTime":"0001-01-01T00:00:00","cloudToDeviceMessageCount":0,
 "authentication":{"type":"sas","symmetricKey":{"primaryKey":"ruC7SABKfiNJNv5AqUuAivyGvyZ+yFSTb7TXrmYpqOU=","secondaryKey":"SbKBMGaqu+tTLnwsCJOpe0pR8r7Dd5e/ZczP+zfyBsw="},
   "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null}},
 "capabilities":{"iotEdge":false},"deviceScope":null,"parentScopes":[]})").dump());
  }
  SUBCASE("a connected, disabled selfSigned device") {
    auto r = device_record();
    r.status = DeviceStatus::disabled;
    r.status_reason = "maintenance";
    r.status_updated_ms = 1700000000000;
    r.connected = true;
    r.connection_state_updated_ms = 1700000001000;
    r.c2d_message_count = 3;
    r.auth_type = AuthType::self_signed;
    r.primary_key.clear();
    r.secondary_key.clear();
    r.primary_thumbprint = k_thumb;
    const auto j = identity_to_json(r);
    CHECK(j.at("status") == "disabled");
    CHECK(j.at("statusReason") == "maintenance");
    CHECK(j.at("statusUpdatedTime") == "2023-11-14T22:13:20.0000000Z");
    CHECK(j.at("connectionState") == "Connected");
    CHECK(j.at("cloudToDeviceMessageCount") == 3);
    CHECK(j.at("authentication").dump() ==
          nlohmann::ordered_json::parse(R"({"type":"selfSigned","symmetricKey":{"primaryKey":null,"secondaryKey":null},
            "x509Thumbprint":{"primaryThumbprint":"0123456789abcdef0123456789ABCDEF01234567","secondaryThumbprint":null}})").dump());
  }
  SUBCASE("a module") {
    auto r = device_record();
    r.key.module_id = "m1";
    r.managed_by = "IotEdge";
    const auto j = identity_to_json(r);
    CHECK(j.begin().key() == "moduleId");
    CHECK(j.at("moduleId") == "m1");
    CHECK(j.at("managedBy") == "IotEdge");
    CHECK(j.at("deviceId") == "MyJavaDevice");
    CHECK_FALSE(j.contains("status"));
    CHECK_FALSE(j.contains("capabilities"));
    CHECK(j.at("authentication").at("type") == "sas");
  }
}

TEST_CASE("emulator::parse_identity_update") {
  const IdentityKey dev{"d1", std::nullopt};
  const IdentityKey mod{"d1", std::string("m1")};
  SUBCASE("an empty body changes nothing") {
    const auto u = parse_identity_update(json::object(), dev);
    CHECK_FALSE(u.status.has_value());
    CHECK_FALSE(u.auth_type.has_value());
    CHECK_FALSE(u.primary_key.has_value());
  }
  SUBCASE("empty keys and thumbprints are absent ones (the Node service SDK sends them)") {
    const auto u = parse_identity_update(
        json::parse(R"({"deviceId":"d1","authentication":{"symmetricKey":{"primaryKey":"","secondaryKey":""},
                        "x509Thumbprint":{"primaryThumbprint":"","secondaryThumbprint":""}}})"),
        dev);
    CHECK_FALSE(u.primary_key.has_value());
    CHECK_FALSE(u.secondary_key.has_value());
    CHECK_FALSE(u.primary_thumbprint.has_value());
    CHECK_FALSE(u.secondary_thumbprint.has_value());
  }
  SUBCASE("a full sas body") {
    const auto u = parse_identity_update(
        {{"deviceId", "d1"},
         {"status", "disabled"},
         {"statusReason", "r"},
         {"capabilities", {{"iotEdge", true}}},
         {"authentication",
          {{"type", "sas"}, {"symmetricKey", {{"primaryKey", k_key_a}, {"secondaryKey", k_key_b}}}}}},
        dev);
    CHECK(u.status == std::optional<DeviceStatus>(DeviceStatus::disabled));
    CHECK(u.status_reason == std::optional<std::optional<std::string>>(std::string("r")));
    CHECK(u.iot_edge == std::optional<bool>(true));
    CHECK(u.auth_type == std::optional<AuthType>(AuthType::sas));
    CHECK(u.primary_key == std::optional<std::string>(k_key_a));
    CHECK(u.secondary_key == std::optional<std::string>(k_key_b));
  }
  SUBCASE("selfSigned and certificateAuthority") {
    const auto u = parse_identity_update(
        {{"authentication",
          {{"type", "selfSigned"}, {"x509Thumbprint", {{"primaryThumbprint", k_thumb}}}}}},
        dev);
    CHECK(u.auth_type == std::optional<AuthType>(AuthType::self_signed));
    CHECK(u.primary_thumbprint == std::optional<std::string>(k_thumb));
    const auto ca = parse_identity_update({{"authentication", {{"type", "certificateAuthority"}}}}, dev);
    CHECK(ca.auth_type == std::optional<AuthType>(AuthType::certificate_authority));
  }
  SUBCASE("refusals name the field") {
    const struct {
      json body;
      IdentityKey key;
      const char* message;
    } rows[] = {
        {json::array(), dev, "body: must be a JSON object"},
        {{{"deviceId", "d2"}}, dev, "deviceId: 'd2' differs from the device id in the path"},
        {{{"moduleId", "m2"}}, mod, "moduleId: 'm2' differs from the module id in the path"},
        {{{"deviceId", 5}}, dev, "deviceId: must be a string"},
        {{{"status", "off"}}, dev, "status: 'off' is not enabled or disabled"},
        {{{"capabilities", {{"iotEdge", "yes"}}}}, dev, "capabilities.iotEdge: must be a boolean"},
        {{{"authentication", 1}}, dev, "authentication: must be an object"},
        {{{"authentication", {{"type", "pin"}}}},
         dev,
         "authentication.type: 'pin' is not sas, selfSigned, certificateAuthority or none"},
        {{{"authentication", {{"symmetricKey", {{"primaryKey", "short"}}}}}},
         dev,
         "authentication.symmetricKey.primaryKey: must be base64 of 16 to 64 bytes"},
        {{{"authentication", {{"symmetricKey", {{"secondaryKey", "QUJD"}}}}}},
         dev,
         "authentication.symmetricKey.secondaryKey: must be base64 of 16 to 64 bytes"},
        {{{"authentication", {{"type", "selfSigned"}}}},
         dev,
         "authentication.x509Thumbprint.primaryThumbprint: required for a selfSigned identity"},
        {{{"authentication", {{"type", "selfSigned"}, {"x509Thumbprint", {{"primaryThumbprint", "xyz"}}}}}},
         dev,
         "authentication.x509Thumbprint.primaryThumbprint: expected 40 or 64 hex digits (SHA-1 or "
         "SHA-256 thumbprint)"},
        {{{"authentication", {{"type", "sas"}, {"x509Thumbprint", {{"primaryThumbprint", k_thumb}}}}}},
         dev,
         "authentication.x509Thumbprint: only a selfSigned identity has thumbprints"},
        {{{"authentication",
           {{"type", "certificateAuthority"}, {"symmetricKey", {{"primaryKey", k_key_a}}}}}},
         dev,
         "authentication.symmetricKey: only a sas identity has keys"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.message);
      CHECK(error_of(row.body, row.key) == row.message);
    }
  }
}

TEST_CASE("emulator::apply_identity_update") {
  auto r = device_record();
  IdentityUpdate u;
  u.auth_type = AuthType::self_signed;
  u.primary_thumbprint = k_thumb;
  u.status = DeviceStatus::disabled;
  apply_identity_update(r, u);
  CHECK(r.auth_type == AuthType::self_signed);
  CHECK(r.primary_key.empty());
  CHECK(r.secondary_key.empty());
  CHECK(r.primary_thumbprint == std::optional<std::string>(k_thumb));
  CHECK(r.status == DeviceStatus::disabled);

  IdentityUpdate keep;
  keep.status_reason = std::optional<std::string>{};
  apply_identity_update(r, keep);
  CHECK(r.primary_thumbprint == std::optional<std::string>(k_thumb));
  CHECK_FALSE(r.status_reason.has_value());
}

TEST_CASE("emulator::build_twin_write") {
  SUBCASE("PATCH passes tags and desired through, nulls included") {
    const auto body = json::parse(
        R"({"tags":{"floor":"2","old":null},"properties":{"desired":{"a":{"b":1},"c":null}}})");
    CHECK(build_twin_write(body, false) == body);
  }
  SUBCASE("PATCH refuses reported") {
    CHECK_THROWS_WITH_AS((void)build_twin_write(json::parse(R"({"properties":{"reported":{"x":1}}})"), false),
                         "properties.reported: is written by the device only", azhub::core::Error);
  }
  SUBCASE("PUT of a twin read back keeps only tags and desired") {
    const auto body = json::parse(R"({"deviceId":"d1","etag":"AAAAAAAAAAE=","version":4,
      "tags":{"t":1},
      "properties":{"desired":{"x":1,"$metadata":{"$lastUpdated":"2020-01-01T00:00:00Z"},"$version":3},
                    "reported":{"y":2,"$version":5}}})");
    CHECK(build_twin_write(body, true) == json::parse(R"({"tags":{"t":1},"properties":{"desired":{"x":1}}})"));
  }
  SUBCASE("shape errors") {
    CHECK_THROWS_WITH_AS((void)build_twin_write(json::array(), false), "body: must be a JSON object",
                         azhub::core::Error);
    CHECK_THROWS_WITH_AS((void)build_twin_write({{"tags", 1}}, false), "tags: must be an object",
                         azhub::core::Error);
    CHECK_THROWS_WITH_AS((void)build_twin_write({{"properties", {{"desired", "x"}}}}, true),
                         "properties.desired: must be an object", azhub::core::Error);
    CHECK_THROWS_WITH_AS((void)build_twin_write({{"properties", 3}}, true),
                         "properties: must be an object", azhub::core::Error);
  }
}

TEST_CASE("emulator::d2c_to_json") {
  D2cMessage m;
  m.sequence_number = 42;
  m.enqueued_ms = 1700000000123;
  m.source = IdentityKey{"dev1", std::nullopt};
  m.body = R"({"temp":21.5})";
  m.properties.system.message_id = "mid-1";
  m.properties.system.content_type = "application/json";
  m.properties.application = {{"alert", std::string("true")}, {"flag", std::nullopt}};
  SUBCASE("utf-8 body") {
    CHECK(d2c_to_json(m) == json::parse(R"({"sequenceNumber":42,"enqueuedTime":"2023-11-14T22:13:20.1230000Z",
      "deviceId":"dev1","moduleId":null,"body":"{\"temp\":21.5}","bodyEncoding":"utf-8",
      "systemProperties":{"messageId":"mid-1","contentType":"application/json"},
      "properties":{"alert":"true","flag":null}})"));
  }
  SUBCASE("binary body as base64, module id") {
    m.body = std::string("\xff\x00\x01", 3);
    m.source.module_id = "mod";
    const auto j = d2c_to_json(m);
    CHECK(j.at("body") == "/wAB");
    CHECK(j.at("bodyEncoding") == "base64");
    CHECK(j.at("moduleId") == "mod");
  }
}


TEST_CASE("emulator::system_properties_to_json") {
  azhub::core::SystemProperties s;
  CHECK(azhub::core::system_properties_to_json(s) == json::object());
  s.correlation_id = "c";
  s.expiry = "2030-01-01T00:00:00Z";
  s.ack = "full";
  CHECK(azhub::core::system_properties_to_json(s) ==
        json{{"correlationId", "c"}, {"expiryTimeUtc", "2030-01-01T00:00:00Z"}, {"ack", "full"}});
}
