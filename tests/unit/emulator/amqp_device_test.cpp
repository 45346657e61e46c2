// The device plane over AMQP (emulator/amqp_device.*, emulator/amqp_engine.*, docs/protocol.md
// §15.6): an in-process Proton client acts as the device SDKs do, and the tests assert what
// reached the hub and what came back.
#include <doctest/doctest.h>

#include <chrono>

#include "amqp_test_client.hpp"
#include "core/feedback.hpp"

using namespace azhub::emulator::testing::amqp_client;

namespace {

const std::string k_dev1_audience = std::string(k_host) + "/devices/dev1";

std::string device_token(const Fixture& f, const std::string& device, std::int64_t ttl_s = 3600,
                         const std::optional<std::string>& module = std::nullopt) {
  const auto identity = f.hub->get_identity(IdentityKey{device, module});
  REQUIRE(identity);
  return azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, device, module), identity->primary_key,
                                      f.clock.now / 1000 + ttl_s);
}

// dev1 authenticated on `client` with its own token.
void authenticate(Fixture& f, Client& client, std::int64_t ttl_s = 3600) {
  const auto reply = client.put_token_for(k_dev1_audience, device_token(f, "dev1", ttl_s));
  REQUIRE(reply);
  const auto parsed = amqp::parse_cbs_reply(*reply);
  REQUIRE(parsed);
  REQUIRE(parsed->status == 200);
}

amqp::Message data_message(std::string body) {
  amqp::Message m;
  m.body_kind = amqp::BodyKind::data;
  m.body = std::move(body);
  return m;
}

const amqp::Value* annotation(const amqp::Message& m, std::string_view name) { return amqp::find(m.annotations, name); }

int status_of(const amqp::Message& m) {
  const amqp::Value* v = annotation(m, amqp::k_twin_status);
  REQUIRE(v != nullptr);
  REQUIRE(std::holds_alternative<amqp::Int>(*v));
  return std::get<amqp::Int>(*v).value;
}

amqp::Message twin_request(std::string operation, std::optional<std::string> resource, std::string correlation,
                           std::string body = {}) {
  amqp::Message m;
  m.annotations.emplace_back(std::string(amqp::k_twin_operation), std::move(operation));
  if (resource) m.annotations.emplace_back(std::string(amqp::k_twin_resource), *resource);
  m.correlation_id = std::move(correlation);
  if (!body.empty()) {
    m.body_kind = amqp::BodyKind::data;
    m.body = std::move(body);
  }
  return m;
}

std::vector<azhub::core::FeedbackRecord> take_all_feedback(Hub& hub) {
  std::vector<azhub::core::FeedbackRecord> out;
  while (auto batch = hub.take_feedback()) {
    out.insert(out.end(), batch->records.begin(), batch->records.end());
    hub.complete_feedback(batch->lock);
  }
  return out;
}

C2dSend c2d_send(std::string body, std::string message_id, std::optional<std::string> ack = std::string("full")) {
  C2dSend s;
  s.body = std::move(body);
  s.properties.system.message_id = std::move(message_id);
  s.properties.system.ack = std::move(ack);
  return s;
}

}  // namespace

TEST_CASE("emulator::AmqpEngine device: a device token on $cbs connects the identity") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  SUBCASE("its own token: 200, connected; the end of the connection disconnects it") {
    authenticate(f, client);
    CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
    pn_connection_close(client.connection());
    client.pump();
    f.engine->input_closed();
    client.pump();
    CHECK_FALSE(f.hub->is_connected(IdentityKey{"dev1", {}}));
  }
  SUBCASE("a wrong signature: 401, not connected") {
    const std::string token = azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, "dev1", std::nullopt),
                                                           "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktMzI=",
                                                           f.clock.now / 1000 + 3600);
    const auto reply = client.put_token_for(k_dev1_audience, token);
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
    CHECK_FALSE(f.hub->is_connected(IdentityKey{"dev1", {}}));
  }
  SUBCASE("a disabled device: 401") {
    IdentityRecord r = *f.hub->get_identity(IdentityKey{"dev1", {}});
    r.status = DeviceStatus::disabled;
    (void)f.hub->update_identity(r, std::nullopt);
    const auto reply = client.put_token_for(k_dev1_audience, device_token(f, "dev1"));
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
    CHECK_FALSE(f.hub->is_connected(IdentityKey{"dev1", {}}));
  }
}

TEST_CASE("emulator::AmqpEngine device: links without a token for the identity are refused") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  IdentityRecord r;
  r.key = {"dev2", {}};
  (void)f.hub->create_identity(r);
  for (const std::string address : {"/devices/dev2/messages/events", "/devices/dev2/twin"}) {
    pn_link_t* link = client.sender(address);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == amqp::k_unauthorized);
  }
  pn_link_t* c2d = client.receiver("/devices/dev2/messages/devicebound", 10);
  CHECK(remote_closed(c2d));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
  // Addresses of no device feature: not found.
  pn_link_t* other = client.sender("/devices/dev1/messages/elsewhere");
  CHECK(remote_condition(other) == amqp::k_not_found);
  pn_link_t* wrong_way = client.receiver("/devices/dev1/messages/events", 10);
  CHECK(remote_condition(wrong_way) == amqp::k_not_found);
}

TEST_CASE("emulator::AmqpEngine device: telemetry is accepted once the hub has stored it") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  pn_link_t* events = client.sender("/devices/dev1/messages/events");
  REQUIRE(remote_open(events));
  REQUIRE_FALSE(remote_closed(events));

  SUBCASE("properties and body arrive as sent, exactly once") {
    amqp::Message m = data_message(R"({"t":21.5})");
    m.message_id = std::string("mid-1");
    m.correlation_id = std::string("cid-1");
    m.content_type = "application/json";
    m.content_encoding = "utf-8";
    m.to = "/devices/dev1/messages/events";
    m.application.emplace_back("room name", std::string("a&b=c/d%e"));
    m.application.emplace_back("count", std::int64_t{3});
    pn_delivery_t* d = client.send(events, m);
    CHECK(pn_delivery_remote_state(d) == PN_ACCEPTED);
    const auto& stored = f.hub->d2c_retained();
    REQUIRE(stored.size() == 1);
    const D2cMessage& got = stored.front();
    CHECK(got.source == IdentityKey{"dev1", {}});
    CHECK(got.body == R"({"t":21.5})");
    CHECK(got.properties.system.message_id == "mid-1");
    CHECK(got.properties.system.correlation_id == "cid-1");
    CHECK(got.properties.system.content_type == "application/json");
    CHECK(got.properties.system.content_encoding == "utf-8");
    REQUIRE(got.properties.application.size() == 2);
    CHECK(got.properties.application[0] == std::pair<std::string, std::optional<std::string>>{"room name", "a&b=c/d%e"});
    CHECK(got.properties.application[1] == std::pair<std::string, std::optional<std::string>>{"count", "3"});
  }
  SUBCASE("over 256 KB: rejected with amqp:link:message-size-exceeded, nothing stored, the link stays") {
    pn_delivery_t* d = client.send(events, data_message(std::string(257 * 1024, 'x')));
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_message_size_exceeded);
    CHECK(f.hub->d2c_retained().empty());
    CHECK_FALSE(remote_closed(events));
    CHECK(pn_delivery_remote_state(client.send(events, data_message("small"))) == PN_ACCEPTED);
    CHECK(f.hub->d2c_retained().size() == 1);
  }
  SUBCASE("bytes that are not a message: amqp:decode-error") {
    pn_delivery_t* d = client.send_bytes(events, "not AMQP");
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_decode_error);
    CHECK(f.hub->d2c_retained().empty());
  }
}

TEST_CASE("emulator::AmqpEngine device: one connection carries several identities") {
  Fixture f;
  IdentityRecord r;
  r.key = {"dev2", {}};
  (void)f.hub->create_identity(r);
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  REQUIRE(amqp::parse_cbs_reply(*client.put_token_for(std::string(k_host) + "/devices/dev2", device_token(f, "dev2")))->status ==
          200);
  pn_link_t* one = client.sender("/devices/dev1/messages/events");
  pn_link_t* two = client.sender("/devices/dev2/messages/events");
  CHECK(pn_delivery_remote_state(client.send(one, data_message("from 1"))) == PN_ACCEPTED);
  CHECK(pn_delivery_remote_state(client.send(two, data_message("from 2"))) == PN_ACCEPTED);
  const auto& stored = f.hub->d2c_retained();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].source.device_id == "dev1");
  CHECK(stored[0].body == "from 1");
  CHECK(stored[1].source.device_id == "dev2");
  CHECK(stored[1].body == "from 2");
  CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
  CHECK(f.hub->is_connected(IdentityKey{"dev2", {}}));
}

TEST_CASE("emulator::AmqpEngine device: C2D settlements") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  (void)f.hub->send_c2d("dev1", c2d_send("first", "m1"));
  pn_link_t* c2d = client.receiver("/devices/dev1/messages/devicebound", 10);
  REQUIRE(remote_open(c2d));
  auto got = client.receive(c2d);
  REQUIRE(got.size() == 1);
  CHECK(got[0].message.body == "first");
  CHECK(got[0].message.message_id == amqp::Value(std::string("m1")));
  CHECK(got[0].message.to == "/devices/dev1/messages/deviceBound");
  CHECK(pn_delivery_tag(got[0].delivery).size == 16);  // a lock token the .NET SDK reads as a GUID

  SUBCASE("accepted: completed, Success feedback") {
    client.settle(got[0].delivery, PN_ACCEPTED);
    CHECK(f.hub->queued_c2d("dev1").empty());
    const auto records = take_all_feedback(*f.hub);
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == azhub::core::FeedbackStatus::success);
    CHECK(records[0].original_message_id == "m1");
  }
  SUBCASE("rejected: dropped, Rejected feedback") {
    client.settle(got[0].delivery, PN_REJECTED);
    CHECK(f.hub->queued_c2d("dev1").empty());
    const auto records = take_all_feedback(*f.hub);
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == azhub::core::FeedbackStatus::rejected);
    CHECK(client.receive(c2d).empty());
  }
  SUBCASE("released: delivered again at once, then completed") {
    client.settle(got[0].delivery, PN_RELEASED);
    auto again = client.receive(c2d);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.body == "first");
    REQUIRE(f.hub->queued_c2d("dev1").size() == 1);
    CHECK(f.hub->queued_c2d("dev1")[0].delivery_count == 2);
    CHECK(take_all_feedback(*f.hub).empty());
    client.settle(again[0].delivery, PN_ACCEPTED);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("modified: abandoned like released") {
    client.settle(got[0].delivery, PN_MODIFIED);
    REQUIRE(client.receive(c2d).size() == 1);
  }
  SUBCASE("abandoned 10 times: DeliveryCountExceeded") {
    pn_delivery_t* d = got[0].delivery;
    for (int i = 1; i < 10; ++i) {
      client.settle(d, PN_RELEASED);
      auto again = client.receive(c2d);
      REQUIRE(again.size() == 1);
      d = again[0].delivery;
    }
    client.settle(d, PN_RELEASED);
    CHECK(client.receive(c2d).empty());
    CHECK(f.hub->queued_c2d("dev1").empty());
    const auto records = take_all_feedback(*f.hub);
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == azhub::core::FeedbackStatus::delivery_count_exceeded);
  }
  SUBCASE("the link closes unsettled: the message goes to the next link at once, not after the lock") {
    pn_link_close(c2d);
    client.pump();
    CHECK(f.hub->queued_c2d("dev1").size() == 1);
    pn_link_t* next = client.receiver("/devices/dev1/messages/devicebound", 10);
    auto again = client.receive(next);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.body == "first");
    client.settle(again[0].delivery, PN_ACCEPTED);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
}

TEST_CASE("emulator::AmqpEngine device: C2D follows the link's credit and is never duplicated by it") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  for (const std::string id : {"m1", "m2", "m3"}) (void)f.hub->send_c2d("dev1", c2d_send("body " + id, id, std::nullopt));
  pn_link_t* c2d = client.receiver("/devices/dev1/messages/devicebound", 1);
  std::vector<std::string> seen;
  auto first = client.receive(c2d);
  REQUIRE(first.size() == 1);
  seen.push_back(first[0].message.body);
  client.settle(first[0].delivery, PN_ACCEPTED);
  // The other two wait beyond their 60 s lock for credit: the lapsed locks must not add copies.
  f.clock.advance(61'000);
  if (f.woken) f.engine->poll();
  client.pump();
  for (int round = 0; round < 5; ++round) {
    auto got = client.receive(c2d);
    for (auto& r : got) {
      seen.push_back(r.message.body);
      client.settle(r.delivery, PN_ACCEPTED);
    }
    pn_link_flow(c2d, 1);
    client.pump();
  }
  CHECK(seen == std::vector<std::string>{"body m1", "body m2", "body m3"});
  CHECK(f.hub->queued_c2d("dev1").empty());
}

TEST_CASE("emulator::AmqpEngine device: direct methods") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  pn_link_t* responses = client.sender("/devices/dev1/methods/devicebound");
  pn_link_t* requests = client.receiver("/devices/dev1/methods/devicebound", 10);
  REQUIRE(remote_open(requests));
  std::optional<MethodResult> result;
  f.hub->invoke_method(IdentityKey{"dev1", {}}, "reboot", R"({"delay":5})", std::chrono::seconds(30), std::chrono::seconds(0),
                       [&](const MethodResult& r) { result = r; });
  if (f.woken) f.engine->poll();
  client.pump();
  auto got = client.receive(requests);
  REQUIRE(got.size() == 1);
  const amqp::Message& call = got[0].message;
  CHECK(call.body == R"({"delay":5})");
  const amqp::Value* name = amqp::find(call.application, amqp::k_method_name_property);
  REQUIRE(name != nullptr);
  CHECK(*name == amqp::Value(std::string("reboot")));
  REQUIRE(std::holds_alternative<amqp::Uuid>(call.correlation_id));
  client.settle(got[0].delivery, PN_ACCEPTED);

  SUBCASE("an answer with an unknown correlation id is rejected; the right one reaches the caller") {
    amqp::Message stray = data_message("{}");
    stray.correlation_id = amqp::random_uuid();
    stray.application.emplace_back(std::string(amqp::k_method_status_property), amqp::Int{200});
    pn_delivery_t* d = client.send(responses, stray);
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_invalid_field);
    CHECK_FALSE(result);

    amqp::Message answer = data_message(R"({"ok":true})");
    answer.correlation_id = call.correlation_id;
    answer.application.emplace_back(std::string(amqp::k_method_status_property), amqp::Int{201});
    CHECK(pn_delivery_remote_state(client.send(responses, answer)) == PN_ACCEPTED);
    f.clock.advance(0);
    REQUIRE(result);
    CHECK(result->error_code == 0);
    CHECK(result->status == 201);
    CHECK(result->payload == R"({"ok":true})");
  }
  SUBCASE("the uuid's text as a string correlation id is the same call") {
    amqp::Message answer = data_message(R"("done")");
    answer.correlation_id = amqp::to_string(std::get<amqp::Uuid>(call.correlation_id));
    answer.application.emplace_back(std::string(amqp::k_method_status_property), std::int64_t{200});
    CHECK(pn_delivery_remote_state(client.send(responses, answer)) == PN_ACCEPTED);
    f.clock.advance(0);
    REQUIRE(result);
    CHECK(result->status == 200);
  }
  SUBCASE("an answer without a status is rejected") {
    amqp::Message answer = data_message("{}");
    answer.correlation_id = call.correlation_id;
    pn_delivery_t* d = client.send(responses, answer);
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK_FALSE(result);
  }
}

TEST_CASE("emulator::AmqpEngine device: a method call waits for the method links") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  std::optional<MethodResult> result;
  f.hub->invoke_method(IdentityKey{"dev1", {}}, "ping", "null", std::chrono::seconds(30), std::chrono::seconds(10),
                       [&](const MethodResult& r) { result = r; });
  pn_link_t* responses = client.sender("/devices/dev1/methods/devicebound");
  pn_link_t* requests = client.receiver("/devices/dev1/methods/devicebound", 10);
  f.clock.advance(0);
  if (f.woken) f.engine->poll();
  client.pump();
  auto got = client.receive(requests);
  REQUIRE(got.size() == 1);
  amqp::Message answer = data_message("null");
  answer.correlation_id = got[0].message.correlation_id;
  answer.application.emplace_back(std::string(amqp::k_method_status_property), amqp::Int{200});
  CHECK(pn_delivery_remote_state(client.send(responses, answer)) == PN_ACCEPTED);
  f.clock.advance(0);
  REQUIRE(result);
  CHECK(result->status == 200);
}

TEST_CASE("emulator::AmqpEngine device: twin GET, reported PATCH, desired notifications") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client);
  pn_link_t* out = client.sender("/devices/dev1/twin");
  pn_link_t* in = client.receiver("/devices/dev1/twin", 10);
  REQUIRE(remote_open(in));
  const IdentityKey dev1{"dev1", {}};

  CHECK(pn_delivery_remote_state(client.send(out, twin_request("GET", std::nullopt, "c-get"))) == PN_ACCEPTED);
  auto got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(got[0].message.correlation_id == amqp::Value(std::string("c-get")));
  CHECK(status_of(got[0].message) == 200);
  const auto doc = nlohmann::json::parse(got[0].message.body);
  CHECK(doc["desired"]["$version"] == 1);
  CHECK(doc["reported"]["$version"] == 1);

  CHECK(pn_delivery_remote_state(client.send(out, twin_request("PATCH", std::string(amqp::k_twin_reported_resource), "c-patch",
                                                               R"({"fw":"1.2"})"))) == PN_ACCEPTED);
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(got[0].message.correlation_id == amqp::Value(std::string("c-patch")));
  CHECK(status_of(got[0].message) == 204);
  const amqp::Value* version = annotation(got[0].message, amqp::k_twin_version);
  REQUIRE(version != nullptr);
  CHECK(*version == amqp::Value(std::int64_t{2}));
  CHECK(f.hub->get_twin(dev1).reported["fw"] == "1.2");

  // A bad patch is answered 400, the link stays.
  (void)client.send(out, twin_request("PATCH", std::string(amqp::k_twin_reported_resource), "c-bad", "[1,2]"));
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(status_of(got[0].message) == 400);

  // No notifications before the PUT.
  (void)f.hub->update_twin(dev1, nlohmann::json::parse(R"({"properties":{"desired":{"early":1}}})"), std::nullopt);
  client.pump();
  CHECK(client.receive(in).empty());

  (void)client.send(out, twin_request("PUT", std::string(amqp::k_twin_desired_resource), "c-put"));
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(got[0].message.correlation_id == amqp::Value(std::string("c-put")));
  CHECK(status_of(got[0].message) == 200);

  (void)f.hub->update_twin(dev1, nlohmann::json::parse(R"({"properties":{"desired":{"setpoint":42}}})"), std::nullopt);
  if (f.woken) f.engine->poll();
  client.pump();
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(std::holds_alternative<std::monostate>(got[0].message.correlation_id));
  const auto delta = nlohmann::json::parse(got[0].message.body);
  CHECK(delta["setpoint"] == 42);
  CHECK(delta["$version"] == 3);

  (void)client.send(out, twin_request("DELETE", std::string(amqp::k_twin_desired_resource), "c-del"));
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(status_of(got[0].message) == 200);
  (void)f.hub->update_twin(dev1, nlohmann::json::parse(R"({"properties":{"desired":{"late":1}}})"), std::nullopt);
  if (f.woken) f.engine->poll();
  client.pump();
  CHECK(client.receive(in).empty());

  (void)client.send(out, twin_request("POST", std::string("/elsewhere"), "c-odd"));
  got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(status_of(got[0].message) == 400);
}

TEST_CASE("emulator::AmqpEngine device: token expiry, renewal and takeover") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  authenticate(f, client, 60);
  pn_link_t* events = client.sender("/devices/dev1/messages/events");
  pn_link_t* c2d = client.receiver("/devices/dev1/messages/devicebound", 10);
  REQUIRE(remote_open(events));

  SUBCASE("the token expires: the identity's links are detached, the connection stays") {
    f.clock.advance(61'000);
    REQUIRE(f.woken);
    f.engine->poll();
    client.pump();
    CHECK(remote_closed(events));
    CHECK(remote_condition(events) == amqp::k_detach_forced);
    CHECK(remote_closed(c2d));
    CHECK_FALSE(f.hub->is_connected(IdentityKey{"dev1", {}}));
    CHECK(client.remote_open());
    // A fresh token connects it again.
    authenticate(f, client);
    CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
  }
  SUBCASE("a renewed token keeps the links past the first expiry") {
    f.clock.advance(30'000);
    authenticate(f, client, 3600);
    f.clock.advance(31'000);
    if (f.woken) f.engine->poll();
    client.pump();
    CHECK_FALSE(remote_closed(events));
    CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
    CHECK(pn_delivery_remote_state(client.send(events, data_message("still here"))) == PN_ACCEPTED);
  }
  SUBCASE("a wrong renewal is refused and leaves the connection as it was") {
    const std::string bad = azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, "dev1", std::nullopt),
                                                         "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktMzI=",
                                                         f.clock.now / 1000 + 3600);
    CHECK(amqp::parse_cbs_reply(*client.put_token_for(k_dev1_audience, bad))->status == 401);
    CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
    CHECK_FALSE(remote_closed(events));
  }
  SUBCASE("the device connects over MQTT: the AMQP links are detached") {
    FakeSession mqtt_session;
    f.online(mqtt_session);
    if (f.woken) f.engine->poll();
    client.pump();
    CHECK(remote_closed(events));
    CHECK(remote_condition(events) == amqp::k_detach_forced);
    CHECK(f.hub->is_connected(IdentityKey{"dev1", {}}));
  }
}

TEST_CASE("emulator::AmqpEngine device: a module's telemetry, twin and inputs link") {
  Fixture f;
  IdentityRecord r;
  r.key = {"dev1", std::string("m1")};
  (void)f.hub->create_identity(r);
  Client client(*f.engine);
  client.open();
  const auto reply = client.put_token_for(std::string(k_host) + "/devices/dev1/modules/m1",
                                          device_token(f, "dev1", 3600, std::string("m1")));
  REQUIRE(reply);
  REQUIRE(amqp::parse_cbs_reply(*reply)->status == 200);
  const IdentityKey m1{"dev1", std::string("m1")};
  CHECK(f.hub->is_connected(m1));
  CHECK_FALSE(f.hub->is_connected(IdentityKey{"dev1", {}}));

  pn_link_t* events = client.sender("/devices/dev1/modules/m1/messages/events");
  CHECK(pn_delivery_remote_state(client.send(events, data_message("from m1"))) == PN_ACCEPTED);
  REQUIRE(f.hub->d2c_retained().size() == 1);
  CHECK(f.hub->d2c_retained().front().source == m1);
  // The module SDKs receive input messages on their telemetry address.
  pn_link_t* inputs = client.receiver("/devices/dev1/modules/m1/messages/events", 10);
  CHECK(remote_open(inputs));
  CHECK_FALSE(remote_closed(inputs));
  // Modules have no C2D queue.
  pn_link_t* c2d = client.receiver("/devices/dev1/modules/m1/messages/devicebound", 10);
  CHECK(remote_condition(c2d) == amqp::k_not_found);

  pn_link_t* out = client.sender("/devices/dev1/modules/m1/twin");
  pn_link_t* in = client.receiver("/devices/dev1/modules/m1/twin", 10);
  (void)client.send(out, twin_request("PATCH", std::string(amqp::k_twin_reported_resource), "c1", R"({"m":true})"));
  auto got = client.receive(in);
  REQUIRE(got.size() == 1);
  CHECK(status_of(got[0].message) == 204);
  CHECK(f.hub->get_twin(m1).reported["m"] == true);
}
