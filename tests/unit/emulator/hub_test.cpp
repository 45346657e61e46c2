#include "emulator/hub.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/sas.hpp"
#include "core/topics.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"
#include "hub_fixture.hpp"

using namespace azhub::emulator;
using azhub::core::build_sas_token;
using nlohmann::json;
using azhub::emulator::testing::FakeClock;
using azhub::emulator::testing::k_now_ms;
using azhub::emulator::testing::FakeSession;

namespace {


using Fixture = azhub::emulator::testing::HubFixture;

}  // namespace

TEST_CASE("emulator::Hub CONNECT authentication") {
  Fixture f;
  FakeSession s;
  const IdentityKey key = f.dev1.key;

  SUBCASE("primary and secondary keys") {
    CHECK(f.connect(s, key, f.token(key, f.dev1.primary_key)) == mqtt::ConnectReturn::accepted);
    FakeSession s2;
    CHECK(f.connect(s2, key, f.token(key, f.dev1.secondary_key)) == mqtt::ConnectReturn::accepted);
    CHECK(f.hub->is_connected(key));
  }
  SUBCASE("refusals are CONNACK 5") {
    IdentityRecord other;
    other.key = {"dev2", {}};
    other = f.hub->create_identity(other);
    CHECK(f.connect(s, key, f.token(key, other.primary_key)) == mqtt::ConnectReturn::not_authorized);
    CHECK(f.connect(s, key, f.token(key, f.dev1.primary_key, -10)) == mqtt::ConnectReturn::not_authorized);
    CHECK(f.connect(s, key, f.token(other.key, other.primary_key)) == mqtt::ConnectReturn::not_authorized);
    CHECK(f.connect(s, key, "not a token") == mqtt::ConnectReturn::not_authorized);
    CHECK(f.connect(s, key, "") == mqtt::ConnectReturn::not_authorized);  // no certificate
    CHECK(f.connect(s, {"ghost", {}}, f.token({"ghost", {}}, f.dev1.primary_key)) ==
          mqtt::ConnectReturn::not_authorized);
    auto c = f.connect_packet(key, f.token(key, f.dev1.primary_key));
    c.client_id = "dev2";
    CHECK(f.hub->connect(s, c, {}).code == mqtt::ConnectReturn::not_authorized);
    c = f.connect_packet(key, f.token(key, f.dev1.primary_key));
    c.username = "other.example/dev1/?api-version=2021-04-12";
    CHECK(f.hub->connect(s, c, {}).code == mqtt::ConnectReturn::not_authorized);
    c = f.connect_packet(key, f.token(key, f.dev1.primary_key));
    c.protocol_level = 3;
    CHECK(f.hub->connect(s, c, {}).code == mqtt::ConnectReturn::unacceptable_protocol_version);
    CHECK_FALSE(f.hub->is_connected(key));
  }
  SUBCASE("disabled device") {
    IdentityRecord r = f.dev1;
    r.status = DeviceStatus::disabled;
    f.hub->update_identity(r, std::nullopt);
    CHECK(f.connect(s, key, f.token(key, f.dev1.primary_key)) == mqtt::ConnectReturn::not_authorized);
  }
  SUBCASE("policy tokens need DeviceConnect and cover the identity") {
    const Policy* device = f.hub->find_policy("device");
    const Policy* service = f.hub->find_policy("service");
    REQUIRE(device != nullptr);
    REQUIRE(service != nullptr);
    std::int64_t se = f.clock.now / 1000 + 60;
    CHECK(f.connect(s, key, build_sas_token("hub.example/devices/dev1", device->primary_key, se, "device")) ==
          mqtt::ConnectReturn::accepted);
    FakeSession s2;
    CHECK(f.connect(s2, key, build_sas_token("hub.example/devices", device->primary_key, se, "device")) ==
          mqtt::ConnectReturn::accepted);
    FakeSession s3;
    CHECK(f.connect(s3, key, build_sas_token("hub.example/devices/dev9", device->primary_key, se, "device")) ==
          mqtt::ConnectReturn::not_authorized);
    CHECK(f.connect(s3, key, build_sas_token("hub.example/devices/dev1", service->primary_key, se, "service")) ==
          mqtt::ConnectReturn::not_authorized);
  }
  SUBCASE("X.509 self-signed thumbprint") {
    IdentityRecord x;
    x.key = {"xdev", {}};
    x.auth_type = AuthType::self_signed;
    x.primary_thumbprint = std::string(40, 'A');
    x = f.hub->create_identity(x);
    auto c = f.connect_packet(x.key, "");
    c.password.reset();
    ConnectInfo info;
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::not_authorized);
    info.certificate = PeerCertificate{std::string(40, 'b'), std::string(64, 'c'), "xdev", false};
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::not_authorized);
    info.certificate->sha1_hex = std::string(40, 'a');
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::accepted);
  }
  SUBCASE("X.509 CA-signed needs a verified chain and the identity as CN") {
    IdentityRecord x;
    x.key = {"cadev", {}};
    x.auth_type = AuthType::certificate_authority;
    x = f.hub->create_identity(x);
    auto c = f.connect_packet(x.key, "");
    ConnectInfo info;
    info.certificate = PeerCertificate{"00", "00", "cadev", false};
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::not_authorized);
    info.certificate->chain_verified = true;
    info.certificate->subject_cn = "other";
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::not_authorized);
    info.certificate->subject_cn = "cadev";
    CHECK(f.hub->connect(s, c, info).code == mqtt::ConnectReturn::accepted);
  }
}

TEST_CASE("emulator::Hub connections: takeover, token expiry, session present") {
  Fixture f;
  FakeSession a;
  FakeSession b;
  f.online(a);
  f.online(b);
  CHECK(a.closed);
  CHECK_FALSE(b.closed);
  f.hub->disconnected(a, false);  // late notification from the old session: no effect
  CHECK(f.hub->is_connected(f.dev1.key));

  FakeSession c;
  auto ack = f.hub->connect(c, f.connect_packet(f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key, 30)), {});
  CHECK(ack.session_present);  // CleanSession=0 before
  f.clock.advance(29'000);
  CHECK_FALSE(c.closed);
  f.clock.advance(1'000);
  CHECK(c.closed);
  CHECK(c.close_reason == "SAS token expired");
  CHECK_FALSE(f.hub->is_connected(f.dev1.key));

  FakeSession d;
  ack = f.hub->connect(d, f.connect_packet(f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key), true), {});
  CHECK_FALSE(ack.session_present);
}

TEST_CASE("emulator::Hub telemetry") {
  Fixture f;
  FakeSession s;
  f.online(s);
  std::vector<D2cMessage> seen;
  f.hub->subscribe_d2c([&](const D2cMessage& m) { seen.push_back(m); });

  SUBCASE("captured with properties, PUBACK for QoS 1, mqtt-retain for RETAIN") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/%24.ct=application%2Fjson&temp=21", "{}", 1, true, false, 7});
    REQUIRE(s.last<mqtt::Puback>() != nullptr);
    CHECK(s.last<mqtt::Puback>()->packet_id == 7);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].sequence_number == 1);
    CHECK(seen[0].source == f.dev1.key);
    CHECK(seen[0].properties.system.content_type == "application/json");
    REQUIRE(seen[0].properties.application.size() == 2);
    CHECK(seen[0].properties.application[0].first == "temp");
    CHECK(seen[0].properties.application[1].first == "mqtt-retain");
    CHECK(f.hub->d2c_since(0, 10).size() == 1);
    CHECK(f.hub->d2c_since(1, 10).empty());
    CHECK_FALSE(s.closed);
  }
  SUBCASE("another device's topic closes") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev2/messages/events/", "x", 0, false, false, 0});
    CHECK(s.closed);
    CHECK(seen.empty());
  }
  SUBCASE("unknown topic closes") {
    f.hub->handle_packet(s, mqtt::Publish{"foo/bar", "x", 0, false, false, 0});
    CHECK(s.closed);
  }
  SUBCASE("QoS 2 closes") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", "x", 2, false, false, 1});
    CHECK(s.closed);
    CHECK(seen.empty());
  }
  SUBCASE("over 256 KB closes") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", std::string(256 * 1024 + 1, 'x'), 1, false, false, 1});
    CHECK(s.closed);
    CHECK(seen.empty());
    CHECK(s.last<mqtt::Puback>() == nullptr);
  }
  SUBCASE("no model id: no Plug and Play annotations") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/%24.sub=c1", "{}", 0, false, false, 0});
    REQUIRE(seen.size() == 1);
    CHECK_FALSE(seen[0].data_schema);
    CHECK_FALSE(seen[0].data_subject);
  }
  SUBCASE("exactly 256 KB is accepted") {
    f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", std::string(256 * 1024, 'x'), 1, false, false, 1});
    CHECK_FALSE(s.closed);
    CHECK(seen.size() == 1);
  }
}

TEST_CASE("emulator::Hub telemetry of a Plug and Play device carries dt-dataschema and dt-subject") {
  Fixture f;
  FakeSession s;
  auto c = f.connect_packet(f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key));
  *c.username += "&model-id=dtmi:com:example:TemperatureController;2";
  REQUIRE(f.hub->connect(s, c, {}).code == mqtt::ConnectReturn::accepted);
  f.clock.advance(0);
  f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/%24.sub=thermostat1", R"({"t":1})", 0, false, false, 0});
  f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", R"({"w":2})", 0, false, false, 0});
  const auto got = f.hub->d2c_since(0, 10);
  REQUIRE(got.size() == 2);
  CHECK(got[0].data_schema == "dtmi:com:example:TemperatureController;2");
  CHECK(got[0].data_subject == "thermostat1");
  CHECK(got[1].data_schema == "dtmi:com:example:TemperatureController;2");
  CHECK_FALSE(got[1].data_subject);
}

TEST_CASE("emulator::Hub Will on ungraceful loss only") {
  Fixture f;
  auto c = f.connect_packet(f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key));
  c.will = mqtt::Will{"devices/dev1/messages/events/", "gone", 1, false};
  FakeSession a;
  REQUIRE(f.hub->connect(a, c, {}).code == mqtt::ConnectReturn::accepted);
  f.hub->disconnected(a, false);
  auto got = f.hub->d2c_since(0, 10);
  REQUIRE(got.size() == 1);
  CHECK(got[0].body == "gone");
  REQUIRE(got[0].properties.application.size() == 1);
  CHECK(got[0].properties.application[0] == std::pair<std::string, std::optional<std::string>>{"iothub-MessageType", "Will"});
  FakeSession b;
  REQUIRE(f.hub->connect(b, c, {}).code == mqtt::ConnectReturn::accepted);
  f.hub->handle_packet(b, mqtt::Disconnect{});
  CHECK(f.hub->d2c_since(0, 10).size() == 1);
  c.will->topic = "devices/dev2/messages/events/";
  FakeSession d;
  CHECK(f.hub->connect(d, c, {}).code == mqtt::ConnectReturn::not_authorized);
}

TEST_CASE("emulator::Hub subscriptions") {
  Fixture f;
  FakeSession s;
  f.online(s);
  SUBCASE("QoS 2 granted as 1") {
    f.subscribe(s, {{"$iothub/methods/POST/#", 2}, {"$iothub/twin/res/#", 0}});
    REQUIRE(s.last<mqtt::Suback>() != nullptr);
    CHECK(s.last<mqtt::Suback>()->return_codes == std::vector<std::uint8_t>{1, 0});
  }
  SUBCASE("unsupported filter closes") {
    f.subscribe(s, {{"devices/dev2/messages/devicebound/#", 1}});
    CHECK(s.closed);
    CHECK(s.close_reason == "SUBSCRIBE to an unsupported filter: devices/dev2/messages/devicebound/#");
    CHECK(s.last<mqtt::Suback>() == nullptr);
  }
  SUBCASE("sixth subscription closes") {
    f.subscribe(s, {{"$iothub/methods/POST/#", 1}, {"$iothub/twin/res/#", 0},
                    {"$iothub/twin/PATCH/properties/desired/#", 0},
                    {"devices/dev1/messages/devicebound/#", 1}, {"devices/+/messages/devicebound/#", 1}});
    CHECK_FALSE(s.closed);
    f.subscribe(s, {{"$iothub/twin/res/#", 1}});  // re-subscribing an existing filter is fine
    CHECK_FALSE(s.closed);
    f.subscribe(s, {{"$iothub/twin/res/+", 1}});
    CHECK(s.closed);
    CHECK(s.close_reason == "more than 5 subscriptions");
  }
  SUBCASE("modules cannot subscribe to C2D") {
    IdentityRecord m;
    m.key = {"dev1", std::string("mod")};
    m = f.hub->create_identity(m);
    FakeSession ms;
    REQUIRE(f.connect(ms, m.key, f.token(m.key, m.primary_key)) == mqtt::ConnectReturn::accepted);
    f.subscribe(ms, {{"devices/dev1/messages/devicebound/#", 1}});
    CHECK(ms.closed);
  }
}

TEST_CASE("emulator::Hub twin over MQTT and REST") {
  Fixture f;
  FakeSession s;
  f.online(s);
  f.subscribe(s, {{"$iothub/twin/res/#", 0}, {"$iothub/twin/PATCH/properties/desired/#", 0}});

  f.hub->handle_packet(s, mqtt::Publish{"$iothub/twin/PATCH/properties/reported/?$rid=r1", R"({"a":1,"b":{"c":2}})", 0, false, false, 0});
  auto pubs = s.publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs.back().topic == "$iothub/twin/res/204/?$rid=r1&$version=2");
  CHECK(pubs.back().payload.empty());

  f.hub->handle_packet(s, mqtt::Publish{"$iothub/twin/PATCH/properties/reported/?$rid=r2", R"({"b":null})", 0, false, false, 0});
  f.hub->handle_packet(s, mqtt::Publish{"$iothub/twin/GET/?$rid=g", "", 0, false, false, 0});
  pubs = s.publishes();
  CHECK(pubs.back().topic == "$iothub/twin/res/200/?$rid=g");
  // Byte for byte: $version last in each section, as the hub writes it (§8.1).
  CHECK(pubs.back().payload == R"({"desired":{"$version":1},"reported":{"a":1,"$version":3}})");

  f.hub->handle_packet(s, mqtt::Publish{"$iothub/twin/PATCH/properties/reported/?$rid=bad", R"({"$x":1})", 0, false, false, 0});
  pubs = s.publishes();
  CHECK(pubs.back().topic == "$iothub/twin/res/400/?$rid=bad");
  CHECK(json::parse(pubs.back().payload)["errorCode"] == 400004);
  f.hub->handle_packet(s, mqtt::Publish{"$iothub/twin/PATCH/properties/reported/?$rid=bad2", "not json", 0, false, false, 0});
  CHECK(s.publishes().back().topic == "$iothub/twin/res/400/?$rid=bad2");
  CHECK_FALSE(s.closed);

  // Service PATCH: If-Match, desired notification with the partial doc.
  json before = f.hub->service_twin_view(f.dev1.key);
  CHECK(before["etag"] == "AAAAAAAAAAE=");
  CHECK_THROWS_AS(f.hub->update_twin(f.dev1.key, json::parse(R"({"tags":{"x":1}})"), "\"nope\""), HubError);
  json after = f.hub->update_twin(f.dev1.key, json::parse(R"({"tags":{"x":1},"properties":{"desired":{"speed":5}}})"),
                                  "\"AAAAAAAAAAE=\"");
  CHECK(after["etag"] == "AAAAAAAAAAI=");
  CHECK(after["tags"] == json::parse(R"({"x":1})"));
  CHECK(after["properties"]["desired"]["speed"] == 5);
  CHECK(after["properties"]["desired"]["$version"] == 2);
  CHECK(after["properties"]["desired"]["$metadata"]["speed"].contains("$lastUpdated"));
  pubs = s.publishes();
  CHECK(pubs.back().topic == "$iothub/twin/PATCH/properties/desired/?$version=2");
  CHECK(pubs.back().payload == R"({"speed":5,"$version":2})");
  {
    // The service view: members in the service's order (§8.2), $metadata and $version last in
    // each section, $lastUpdated first in each $metadata object.
    const auto view = f.hub->service_twin_view(f.dev1.key);
    std::vector<std::string> keys;
    for (const auto& item : view.items()) keys.push_back(item.key());
    CHECK(keys == std::vector<std::string>{"deviceId", "etag", "deviceEtag", "status", "statusUpdateTime",
                                           "connectionState", "lastActivityTime", "cloudToDeviceMessageCount",
                                           "authenticationType", "x509Thumbprint", "modelId", "version",
                                           "capabilities", "tags", "properties"});
    const std::string desired = view["properties"]["desired"].dump();
    CHECK(desired.starts_with(R"({"speed":5,"$metadata":{"$lastUpdated":")"));
    // Desired metadata names the $version that wrote each member, right after $lastUpdated.
    CHECK(desired.find(R"(Z","$lastUpdatedVersion":2,"speed":{"$lastUpdated":")") != std::string::npos);
    CHECK(desired.ends_with(R"(Z","$lastUpdatedVersion":2}},"$version":2})"));
    const std::string reported = view["properties"]["reported"].dump();
    CHECK(reported.ends_with(R"(,"$version":3})"));
    CHECK(reported.find("$lastUpdatedVersion") == std::string::npos);
  }
  try {
    (void)f.hub->update_twin(f.dev1.key, json::parse(R"({"properties":{"reported":{"a":2}}})"), std::nullopt);
    FAIL("reported write accepted");
  } catch (const HubError& e) {
    CHECK(e.error_code() == 400004);
  }
  json replaced = f.hub->replace_twin(f.dev1.key, json::parse(R"({"properties":{"desired":{"mode":"eco"}}})"), "*");
  CHECK(replaced["tags"] == json::object());
  CHECK(s.publishes().back().payload == R"({"mode":"eco","$version":3})");
}

TEST_CASE("emulator::Hub C2D delivery, completion and redelivery") {
  Fixture f;
  C2dSend m;
  m.body = "hello";
  m.properties.system.message_id = "m1";
  m.properties.application.emplace_back("k", "v w");
  f.hub->send_c2d("dev1", m);
  CHECK(f.hub->get_identity(f.dev1.key)->c2d_message_count == 1);

  FakeSession s;
  f.online(s);
  CHECK(s.publishes().empty());  // not subscribed yet
  f.subscribe(s, {{"devices/dev1/messages/devicebound/#", 1}});
  auto pubs = s.publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].topic == "devices/dev1/messages/devicebound/%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2FdeviceBound&k=v%20w");
  CHECK(pubs[0].qos == 1);
  CHECK_FALSE(pubs[0].dup);

  // Not acknowledged: a new connection (CleanSession=0) gets it again, marked DUP.
  f.hub->disconnected(s, false);
  FakeSession s2;
  auto ack = f.hub->connect(s2, f.connect_packet(f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key)), {});
  CHECK(ack.session_present);
  f.clock.advance(0);
  pubs = s2.publishes();
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].dup);
  f.hub->handle_packet(s2, mqtt::Puback{pubs[0].packet_id});
  CHECK(f.hub->queued_c2d("dev1").empty());

  // PUBACKs out of order close the connection.
  f.hub->send_c2d("dev1", m);
  f.hub->send_c2d("dev1", m);
  pubs = s2.publishes();
  REQUIRE(pubs.size() == 3);
  f.hub->handle_packet(s2, mqtt::Puback{pubs[2].packet_id});
  CHECK(s2.closed);
}

TEST_CASE("emulator::Hub C2D: an UNSUBSCRIBE leaves messages already sent in flight") {
  // A device that stops receiving (listen --count) acknowledges what had already arrived; the
  // PUBACKs may follow its UNSUBSCRIBE and still complete those messages.
  Fixture f;
  FakeSession s;
  f.online(s);
  f.subscribe(s, {{"devices/dev1/messages/devicebound/#", 1}});
  for (int i = 0; i < 3; ++i) f.hub->send_c2d("dev1", C2dSend{"m" + std::to_string(i), {}, std::nullopt});
  auto pubs = s.publishes();
  REQUIRE(pubs.size() == 3);
  f.hub->handle_packet(s, mqtt::Puback{pubs[0].packet_id});
  f.hub->handle_packet(s, mqtt::Unsubscribe{9, {"devices/dev1/messages/devicebound/#"}});
  REQUIRE(s.last<mqtt::Unsuback>() != nullptr);
  f.hub->handle_packet(s, mqtt::Puback{pubs[1].packet_id});
  f.hub->handle_packet(s, mqtt::Puback{pubs[2].packet_id});
  CHECK_FALSE(s.closed);
  CHECK(f.hub->queued_c2d("dev1").empty());
  // Unsubscribed: a new message is queued, not sent.
  f.hub->send_c2d("dev1", C2dSend{"later", {}, std::nullopt});
  CHECK(s.publishes().size() == 3);
  CHECK(f.hub->queued_c2d("dev1").size() == 1);
}

TEST_CASE("emulator::Hub C2D lock expiry redelivers on the same connection") {
  Fixture f;
  FakeSession s;
  f.online(s);
  f.subscribe(s, {{"devices/dev1/messages/devicebound/#", 1}});
  f.hub->send_c2d("dev1", C2dSend{"x", {}, std::nullopt});
  REQUIRE(s.publishes().size() == 1);
  CHECK_FALSE(s.publishes()[0].dup);
  f.clock.advance(59'999);
  CHECK(s.publishes().size() == 1);
  f.clock.advance(1);
  auto pubs = s.publishes();
  REQUIRE(pubs.size() == 2);
  CHECK(pubs[1].dup);
  CHECK(pubs[1].payload == "x");
  f.hub->handle_packet(s, mqtt::Puback{pubs[0].packet_id});  // stale id: ignored
  CHECK_FALSE(s.closed);
  CHECK(f.hub->queued_c2d("dev1").size() == 1);
  f.hub->handle_packet(s, mqtt::Puback{pubs[1].packet_id});
  CHECK(f.hub->queued_c2d("dev1").empty());
  f.clock.advance(120'000);
  CHECK(s.publishes().size() == 2);
}

TEST_CASE("emulator::Hub C2D rules") {
  Fixture f;
  SUBCASE("QoS 0 subscribers complete at send") {
    FakeSession s;
    f.online(s);
    f.subscribe(s, {{"devices/+/messages/devicebound/#", 0}});
    f.hub->send_c2d("dev1", C2dSend{"x", {}, std::nullopt});
    REQUIRE(s.publishes().size() == 1);
    CHECK(s.publishes()[0].qos == 0);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("expired messages are dropped") {
    f.hub->send_c2d("dev1", C2dSend{"x", {}, f.clock.now + 60'000});
    f.clock.advance(60'000);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("limits") {
    for (int i = 0; i < 50; ++i) f.hub->send_c2d("dev1", C2dSend{"x", {}, std::nullopt});
    try {
      f.hub->send_c2d("dev1", C2dSend{"x", {}, std::nullopt});
      FAIL("51st message accepted");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 403004);
    }
    CHECK(f.hub->purge_c2d("dev1") == 50);
    try {
      f.hub->send_c2d("dev1", C2dSend{std::string(64 * 1024 + 1, 'x'), {}, std::nullopt});
      FAIL("oversize accepted");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 413001);
    }
    try {
      f.hub->send_c2d("nobody", C2dSend{"x", {}, std::nullopt});
      FAIL("unknown device accepted");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 404001);
    }
  }
}

TEST_CASE("emulator::Hub direct methods") {
  Fixture f;
  std::vector<MethodResult> results;
  auto done = [&](const MethodResult& r) { results.push_back(r); };

  SUBCASE("offline device: 404103, never synchronously") {
    f.hub->invoke_method(f.dev1.key, "reboot", "{}", std::chrono::seconds(30), std::chrono::seconds(0), done);
    CHECK(results.empty());
    f.clock.advance(0);
    REQUIRE(results.size() == 1);
    CHECK(results[0].error_code == 404103);
  }
  SUBCASE("answered") {
    FakeSession s;
    f.online(s);
    f.subscribe(s, {{"$iothub/methods/POST/#", 0}});
    f.hub->invoke_method(f.dev1.key, "reboot", R"({"delay":5})", std::chrono::seconds(30), std::chrono::seconds(0), done);
    auto pubs = s.publishes();
    REQUIRE(pubs.size() == 1);
    auto req = azhub::core::parse_method_request_topic(pubs[0].topic);
    REQUIRE(req);
    CHECK(req->name == "reboot");
    CHECK(pubs[0].payload == R"({"delay":5})");
    f.hub->handle_packet(s, mqtt::Publish{"$iothub/methods/res/201/?$rid=" + req->rid, R"({"ok":true})", 0, false, false, 0});
    REQUIRE(results.size() == 1);
    CHECK(results[0].error_code == 0);
    CHECK(results[0].status == 201);
    CHECK(results[0].payload == R"({"ok":true})");
    f.clock.advance(60'000);
    CHECK(results.size() == 1);
  }
  SUBCASE("no answer: 504101") {
    FakeSession s;
    f.online(s);
    f.subscribe(s, {{"$iothub/methods/POST/#", 0}});
    f.hub->invoke_method(f.dev1.key, "m", "null", std::chrono::seconds(5), std::chrono::seconds(0), done);
    CHECK(s.publishes().back().payload.empty());
    f.clock.advance(4'999);
    CHECK(results.empty());
    f.clock.advance(1);
    REQUIRE(results.size() == 1);
    CHECK(results[0].error_code == 504101);
  }
  SUBCASE("waits connectTimeout for the device") {
    f.hub->invoke_method(f.dev1.key, "m", "1", std::chrono::seconds(5), std::chrono::seconds(10), done);
    f.clock.advance(3'000);
    FakeSession s;
    f.online(s);
    f.subscribe(s, {{"$iothub/methods/POST/#", 0}});
    REQUIRE(s.publishes().size() == 1);
    auto rid = azhub::core::parse_method_request_topic(s.publishes()[0].topic)->rid;
    f.hub->handle_packet(s, mqtt::Publish{"$iothub/methods/res/200/?$rid=" + rid, "", 0, false, false, 0});
    REQUIRE(results.size() == 1);
    CHECK(results[0].status == 200);
  }
  SUBCASE("argument checks throw") {
    CHECK_THROWS_AS(f.hub->invoke_method(f.dev1.key, "m", "{}", std::chrono::seconds(4), std::chrono::seconds(0), done), HubError);
    CHECK_THROWS_AS(f.hub->invoke_method(f.dev1.key, "m", "{", std::chrono::seconds(30), std::chrono::seconds(0), done), HubError);
    CHECK_THROWS_AS(f.hub->invoke_method({"x", {}}, "m", "{}", std::chrono::seconds(30), std::chrono::seconds(0), done), HubError);
  }
}

TEST_CASE("emulator::Hub state survives a reopen over the same store") {
  Fixture f;
  f.hub->update_twin(f.dev1.key, json::parse(R"({"properties":{"desired":{"a":1}}})"), std::nullopt);
  f.hub->send_c2d("dev1", C2dSend{"queued", {}, std::nullopt});
  std::string owner_key = f.hub->find_policy("iothubowner")->primary_key;
  f.open();
  CHECK(f.hub->get_twin(f.dev1.key).desired == json::parse(R"({"a":1})"));
  CHECK(f.hub->queued_c2d("dev1").size() == 1);
  CHECK(f.hub->find_policy("iothubowner")->primary_key == owner_key);
  CHECK(f.hub->get_identity(f.dev1.key)->primary_key == f.dev1.primary_key);
}

TEST_CASE("emulator::Hub registry") {
  Fixture f;
  IdentityRecord dup;
  dup.key = {"dev1", {}};
  try {
    f.hub->create_identity(dup);
    FAIL("duplicate accepted");
  } catch (const HubError& e) {
    CHECK(e.error_code() == 409001);
  }
  IdentityRecord mod;
  mod.key = {"nodev", std::string("m")};
  CHECK_THROWS_AS(f.hub->create_identity(mod), HubError);
  mod.key.device_id = "dev1";
  auto created = f.hub->create_identity(mod);
  CHECK(f.hub->list_modules("dev1").size() == 1);
  CHECK_THROWS_AS(f.hub->delete_identity(f.dev1.key, "\"wrong\""), HubError);
  f.hub->delete_identity(f.dev1.key, "*");
  CHECK_FALSE(f.hub->get_identity(created.key).has_value());
  CHECK(f.hub->list_devices().empty());
}


TEST_CASE("emulator::Hub: no timer of a destroyed Hub runs") {
  // A C2D lock and the delivery after a CONNACK were timers ~Hub did not cancel: run later (the
  // clock outlives the hub at shutdown), they used the freed state (AddressSanitizer reports it).
  Fixture f;
  FakeSession s;
  f.online(s);
  f.subscribe(s, {{"devices/dev1/messages/devicebound/#", 1}});
  C2dSend m;
  m.body = "locked";
  (void)f.hub->send_c2d("dev1", m);
  REQUIRE(s.publishes().size() == 1);  // delivered: its 60 s lock is running
  FakeSession again;
  REQUIRE(f.connect(again, f.dev1.key, f.token(f.dev1.key, f.dev1.primary_key)) == mqtt::ConnectReturn::accepted);
  f.hub.reset();  // with the post-CONNACK delivery and the lock still pending
  f.clock.advance(61'000);
  CHECK(again.publishes().empty());
}
