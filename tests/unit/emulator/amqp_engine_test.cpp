// The emulator's AMQP connection engine (emulator/amqp_engine.*, docs/protocol.md §15), driven by
// an in-process Proton client connection (amqp_test_client.hpp): bytes are pumped both ways until
// both ends are quiet, and the tests assert what reached the hub.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>

#include "amqp_test_client.hpp"
#include "core/feedback.hpp"

using namespace azhub::emulator::testing::amqp_client;

TEST_CASE("emulator::AmqpEngine: CBS put-token, then C2D send into the hub's queue") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  REQUIRE(client.remote_open());
  CHECK(f.engine->opened());

  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);

  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  REQUIRE(remote_open(c2d));
  CHECK_FALSE(remote_closed(c2d));
  CHECK(pn_link_credit(c2d) > 0);

  SUBCASE("accepted, with every property") {
    amqp::Message m = Fixture::c2d("dev1", "payload");
    m.message_id = std::string("msg-7");
    m.correlation_id = std::string("corr-7");
    m.content_type = "application/json";
    m.content_encoding = "utf-8";
    m.absolute_expiry_ms = f.clock.now + 600'000;
    m.application.emplace_back("iothub-ack", std::string("full"));
    m.application.emplace_back("color", std::string("red"));
    pn_delivery_t* d = client.send(c2d, m);
    CHECK(pn_delivery_remote_state(d) == PN_ACCEPTED);
    CHECK(pn_delivery_settled(d));
    const auto queued = f.hub->queued_c2d("dev1");
    REQUIRE(queued.size() == 1);
    const auto& q = queued[0];
    CHECK(q.body == "payload");
    CHECK(q.properties.system.message_id == "msg-7");
    CHECK(q.properties.system.correlation_id == "corr-7");
    CHECK(q.properties.system.content_type == "application/json");
    CHECK(q.properties.system.content_encoding == "utf-8");
    CHECK(q.properties.system.ack == "full");
    CHECK(q.expiry_ms == f.clock.now + 600'000);
    REQUIRE(q.properties.application.size() == 1);
    CHECK(q.properties.application[0].first == "color");
    CHECK(q.properties.application[0].second == "red");
  }
  SUBCASE("a uuid message id arrives as its text") {
    amqp::Message m = Fixture::c2d("dev1");
    const amqp::Uuid id = amqp::random_uuid();
    m.message_id = id;
    CHECK(pn_delivery_remote_state(client.send(c2d, m)) == PN_ACCEPTED);
    const auto queued = f.hub->queued_c2d("dev1");
    REQUIRE(queued.size() == 1);
    CHECK(queued[0].properties.system.message_id == amqp::to_string(id));
  }
  SUBCASE("an unknown device: rejected with amqp:not-found") {
    pn_delivery_t* d = client.send(c2d, Fixture::c2d("nobody"));
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_not_found);
    CHECK_FALSE(remote_closed(c2d));  // the link stays usable
  }
  SUBCASE("the 51st queued message: amqp:resource-limit-exceeded") {
    for (int i = 0; i < 50; ++i) {
      pn_delivery_t* d = client.send(c2d, Fixture::c2d("dev1"));
      REQUIRE(pn_delivery_remote_state(d) == PN_ACCEPTED);
      pn_delivery_settle(d);
    }
    pn_delivery_t* d = client.send(c2d, Fixture::c2d("dev1"));
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_resource_limit);
    CHECK(f.hub->queued_c2d("dev1").size() == 50);
  }
  SUBCASE("a body over 64 KB: amqp:link:message-size-exceeded") {
    pn_delivery_t* d = client.send(c2d, Fixture::c2d("dev1", std::string(65 * 1024, 'x')));
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_message_size_exceeded);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("a delivery over the engine's 1 MB buffer: amqp:link:message-size-exceeded") {
    pn_delivery_t* d = client.send_bytes(c2d, std::string(1024 * 1024 + 1, 'x'));
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_message_size_exceeded);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("a bad 'to': amqp:invalid-field") {
    amqp::Message m = Fixture::c2d("dev1");
    m.to = "/devices/dev1/messages/events";
    pn_delivery_t* d = client.send(c2d, m);
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_invalid_field);
    m.to.reset();
    d = client.send(c2d, m);
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_invalid_field);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
  SUBCASE("bytes that are not a message: amqp:decode-error") {
    pn_delivery_t* d = client.send_bytes(c2d, "not an AMQP message");
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_decode_error);
  }
  SUBCASE("an empty payload: amqp:decode-error, not a crash") {
    pn_delivery_t* d = client.send_bytes(c2d, "");
    CHECK(pn_delivery_remote_state(d) == PN_REJECTED);
    CHECK(disposition_condition(d) == amqp::k_decode_error);
    CHECK(f.hub->queued_c2d("dev1").empty());
  }
}

TEST_CASE("emulator::AmqpEngine: a put-token with a wrong signature gets status 401") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  const std::string forged = azhub::core::build_sas_token(k_host, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                                                          f.clock.now / 1000 + 3600, "iothubowner");
  const auto reply = client.put_token(forged);
  REQUIRE(reply);
  const auto parsed = amqp::parse_cbs_reply(*reply);
  REQUIRE(parsed);
  CHECK(parsed->status == 401);
  CHECK_FALSE(parsed->description.empty());
  // Nothing was granted.
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  CHECK(remote_closed(c2d));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
}

TEST_CASE("emulator::AmqpEngine: other put-token refusals") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  SUBCASE("an expired token") {
    const auto reply = client.put_token(f.token("iothubowner", -10));
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
  }
  SUBCASE("an unknown policy") {
    const Policy* p = f.hub->find_policy("iothubowner");
    const auto reply = client.put_token(
        azhub::core::build_sas_token(k_host, p->primary_key, f.clock.now / 1000 + 3600, "nosuchpolicy"));
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
  }
  SUBCASE("another hub") {
    const Policy* p = f.hub->find_policy("iothubowner");
    const auto reply = client.put_token(
        azhub::core::build_sas_token("other.example", p->primary_key, f.clock.now / 1000 + 3600, "iothubowner"));
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
  }
  SUBCASE("not a token") {
    const auto reply = client.put_token("garbage");
    REQUIRE(reply);
    CHECK(amqp::parse_cbs_reply(*reply)->status == 401);
  }
}

TEST_CASE("emulator::AmqpEngine: a C2D link without any token is closed with amqp:unauthorized-access") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  CHECK(remote_closed(c2d));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
  pn_link_t* feedback = client.receiver(std::string(amqp::k_feedback_address), 10);
  CHECK(remote_closed(feedback));
  CHECK(remote_condition(feedback) == amqp::k_unauthorized);
  CHECK(client.remote_open());  // the connection stays
}

TEST_CASE("emulator::AmqpEngine: a policy without ServiceConnect cannot attach C2D") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token("registryRead"), &request_id), request_id);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  CHECK(remote_closed(c2d));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
}

TEST_CASE("emulator::AmqpEngine: SASL PLAIN with a policy token authorizes without $cbs") {
  Fixture f;
  Client client(*f.engine, Sasl::plain, "iothubowner@sas.root." + std::string(k_host), f.token());
  client.open();
  REQUIRE(client.remote_open());
  CHECK(pn_sasl_outcome(pn_sasl(client.transport())) == PN_SASL_OK);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  REQUIRE(remote_open(c2d));
  CHECK_FALSE(remote_closed(c2d));
  pn_delivery_t* d = client.send(c2d, Fixture::c2d("dev1"));
  CHECK(pn_delivery_remote_state(d) == PN_ACCEPTED);
  CHECK(f.hub->queued_c2d("dev1").size() == 1);
}

TEST_CASE("emulator::AmqpEngine: SASL PLAIN with a wrong password fails") {
  Fixture f;
  SUBCASE("wrong token") {
    Client client(*f.engine, Sasl::plain, "iothubowner@sas.root." + std::string(k_host),
                  "SharedAccessSignature sr=hub.example&sig=AAAA&se=99999999999&skn=iothubowner");
    client.open();
    CHECK_FALSE(client.remote_open());
    CHECK_FALSE(f.engine->opened());
    CHECK(pn_sasl_outcome(pn_sasl(client.transport())) == PN_SASL_AUTH);
    CHECK(f.engine->output_closed());
  }
  SUBCASE("a user without '@'") {
    Client client(*f.engine, Sasl::plain, "iothubowner", f.token());
    client.open();
    CHECK_FALSE(client.remote_open());
    CHECK_FALSE(f.engine->opened());
    CHECK(pn_sasl_outcome(pn_sasl(client.transport())) == PN_SASL_AUTH);
  }
}

TEST_CASE("emulator::AmqpEngine: SASL ANONYMOUS is accepted, and authorizes nothing by itself") {
  Fixture f;
  Client client(*f.engine, Sasl::anonymous);
  client.open();
  REQUIRE(client.remote_open());
  CHECK(pn_sasl_outcome(pn_sasl(client.transport())) == PN_SASL_OK);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);
  pn_link_t* c2d2 = client.sender(std::string(amqp::k_c2d_send_address));
  CHECK(remote_open(c2d2));
  CHECK_FALSE(remote_closed(c2d2));
}

TEST_CASE("emulator::AmqpEngine: an unknown address is closed with amqp:not-found") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);
  pn_link_t* s = client.sender("/messages/events");
  CHECK(remote_closed(s));
  CHECK(remote_condition(s) == amqp::k_not_found);
  // The C2D address is send-only, the feedback address receive-only.
  pn_link_t* r = client.receiver(std::string(amqp::k_c2d_send_address), 10);
  CHECK(remote_condition(r) == amqp::k_not_found);
  pn_link_t* s2 = client.sender(std::string(amqp::k_feedback_address));
  CHECK(remote_condition(s2) == amqp::k_not_found);
}

TEST_CASE("emulator::AmqpEngine: addresses compare case-insensitively") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);
  pn_link_t* c2d = client.sender("messages/DeviceBound");
  CHECK(remote_open(c2d));
  CHECK_FALSE(remote_closed(c2d));
  pn_link_t* feedback = client.receiver("/messages/servicebound/feedback", 1);
  CHECK(remote_open(feedback));
  CHECK_FALSE(remote_closed(feedback));
}

TEST_CASE("emulator::AmqpEngine: feedback for a completed iothub-ack=full message") {
  Fixture f;
  FakeSession device;
  f.online(device);
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  amqp::Message m = Fixture::c2d("dev1");
  m.message_id = std::string("fb-1");
  m.application.emplace_back("iothub-ack", std::string("full"));
  REQUIRE(pn_delivery_remote_state(client.send(c2d, m)) == PN_ACCEPTED);
  const auto pubs = device.publishes();
  REQUIRE(pubs.size() == 1);
  f.hub->handle_packet(device, mqtt::Puback{pubs[0].packet_id});
  REQUIRE(f.hub->queued_c2d("dev1").empty());

  pn_link_t* feedback = client.receiver(std::string(amqp::k_feedback_address), 10);
  REQUIRE(remote_open(feedback));
  auto received = client.receive(feedback);
  if (received.empty()) {
    // The hub announces records from a timer.
    f.clock.advance(0);
    if (f.woken) f.engine->poll();
    client.pump();
    received = client.receive(feedback);
  }
  REQUIRE(received.size() == 1);
  const amqp::Message& fb = received[0].message;
  CHECK(fb.content_type == std::string(azhub::core::k_feedback_content_type));
  CHECK(fb.body_kind == amqp::BodyKind::data);
  const auto records = azhub::core::parse_feedback_batch(fb.body);
  REQUIRE(records.size() == 1);
  CHECK(records[0].original_message_id == "fb-1");
  CHECK(records[0].status == azhub::core::FeedbackStatus::success);
  CHECK(records[0].device_id == "dev1");
  CHECK_FALSE(f.hub->take_feedback());  // locked while the delivery is unsettled

  SUBCASE("accepted: the record is gone") {
    client.settle(received[0].delivery, PN_ACCEPTED);
    CHECK_FALSE(f.hub->take_feedback());
    f.clock.advance(120'000);  // past the 60 s lock
    CHECK_FALSE(f.hub->take_feedback());
  }
  SUBCASE("released: the record comes back") {
    client.settle(received[0].delivery, PN_RELEASED);
    const auto batch = f.hub->take_feedback();
    REQUIRE(batch);
    REQUIRE(batch->records.size() == 1);
    CHECK(batch->records[0].original_message_id == "fb-1");
  }
  SUBCASE("released: it is delivered again on the same link") {
    client.settle(received[0].delivery, PN_RELEASED);
    f.woken = false;
    f.clock.advance(0);
    CHECK(f.woken);
    f.engine->poll();
    client.pump();
    const auto again = client.receive(feedback);
    REQUIRE(again.size() == 1);
    const auto records2 = azhub::core::parse_feedback_batch(again[0].message.body);
    REQUIRE(records2.size() == 1);
    CHECK(records2[0].original_message_id == "fb-1");
    client.settle(again[0].delivery, PN_ACCEPTED);
    CHECK_FALSE(f.hub->take_feedback());
  }
  SUBCASE("the link closed without settling: the record comes back") {
    pn_link_close(feedback);
    client.pump();
    const auto batch = f.hub->take_feedback();
    REQUIRE(batch);
    REQUIRE(batch->records.size() == 1);
    CHECK(batch->records[0].original_message_id == "fb-1");
  }
  SUBCASE("the connection dropped without settling: the record comes back") {
    f.engine->input_closed();
    (void)f.engine->take_output();
    const auto batch = f.hub->take_feedback();
    REQUIRE(batch);
    CHECK(batch->records.size() == 1);
  }
}

TEST_CASE("emulator::AmqpEngine: feedback recorded after the link attached is announced through wake") {
  Fixture f;
  FakeSession device;
  f.online(device);
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token(), &request_id), request_id);
  pn_link_t* feedback = client.receiver(std::string(amqp::k_feedback_address), 10);
  REQUIRE(remote_open(feedback));
  CHECK(client.receive(feedback).empty());

  C2dSend send;
  send.body = "x";
  send.properties.system.message_id = "late";
  send.properties.system.ack = "positive";
  f.hub->send_c2d("dev1", send);
  f.hub->handle_packet(device, mqtt::Puback{device.publishes().at(0).packet_id});
  f.clock.advance(0);
  REQUIRE(f.woken);
  f.engine->poll();
  client.pump();
  const auto received = client.receive(feedback);
  REQUIRE(received.size() == 1);
  const auto records = azhub::core::parse_feedback_batch(received[0].message.body);
  REQUIRE(records.size() == 1);
  CHECK(records[0].original_message_id == "late");
  client.settle(received[0].delivery, PN_ACCEPTED);
  CHECK_FALSE(f.hub->take_feedback());
}

TEST_CASE("emulator::AmqpEngine: an expired token closes the C2D link after poll()") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token("iothubowner", 60), &request_id), request_id);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  REQUIRE(remote_open(c2d));
  CHECK_FALSE(f.woken);
  f.clock.advance(30'000);
  CHECK_FALSE(f.woken);
  f.clock.advance(31'000);
  REQUIRE(f.woken);
  f.engine->poll();
  client.pump();
  CHECK(remote_closed(c2d));
  CHECK(remote_condition(c2d) == amqp::k_unauthorized);
  CHECK(client.remote_open());
}

TEST_CASE("emulator::AmqpEngine: a renewed token keeps the C2D link open") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  std::string request_id;
  check_ok_reply(client.put_token(f.token("iothubowner", 60), &request_id), request_id);
  pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
  REQUIRE(remote_open(c2d));
  f.clock.advance(30'000);
  check_ok_reply(client.put_token(f.token("iothubowner", 3600), &request_id), request_id);
  f.clock.advance(31'000);
  if (f.woken) f.engine->poll();
  client.pump();
  CHECK_FALSE(remote_closed(c2d));
  CHECK(pn_delivery_remote_state(client.send(c2d, Fixture::c2d("dev1"))) == PN_ACCEPTED);
}

TEST_CASE("emulator::AmqpEngine: bytes that are not AMQP close the connection") {
  Fixture f;
  SUBCASE("garbage after the protocol header") {
    f.engine->input(std::string("AMQP\x00\x01\x00\x00", 8) + std::string(64, '\xee'));
  }
  SUBCASE("garbage after the SASL header") {
    f.engine->input(std::string("AMQP\x03\x01\x00\x00", 8) + std::string(64, '\x01'));
  }
  SUBCASE("a wrong protocol header") {
    f.engine->input("GET / HTTP/1.1\r\nHost: hub.example\r\n\r\n");
  }
  SUBCASE("a frame larger than the announced maximum") {
    std::string frame = std::string("AMQP\x00\x01\x00\x00", 8) + std::string("\x7f\xff\xff\xff\x02\x00\x00\x00", 8);
    f.engine->input(frame);
  }
  for (int i = 0; i < 10 && !f.engine->output_closed(); ++i) (void)f.engine->take_output();
  CHECK(f.engine->output_closed());
  CHECK_FALSE(f.engine->opened());
  f.engine->input_closed();
  (void)f.engine->take_output();
  CHECK(f.engine->finished());
  f.engine->input("more bytes after the end");  // ignored
  (void)f.engine->take_output();
}

TEST_CASE("emulator::AmqpEngine: close() ends the connection with the condition") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  REQUIRE(client.remote_open());
  f.engine->close(amqp::k_internal_error, "shutting down");
  client.pump();
  CHECK((pn_connection_state(client.connection()) & PN_REMOTE_CLOSED) != 0);
  CHECK(str(pn_condition_get_name(pn_connection_remote_condition(client.connection()))) == amqp::k_internal_error);
  // The peer answers with its own close; then the engine has nothing more to write.
  pn_connection_close(client.connection());
  client.pump();
  CHECK(f.engine->output_closed());
}

// Writes the fuzz target's seeds (tests/fuzz/corpus/amqp_engine) when AZHUB_AMQP_SEED_DIR is set;
// the fuzz hub's iothubowner key and clock match k_seed_key and FakeClock's start time.
TEST_CASE("emulator::AmqpEngine: fuzz seed byte streams") {
  const char* dir = std::getenv("AZHUB_AMQP_SEED_DIR");
  constexpr std::string_view k_seed_key = "c2VlZC1rZXktZm9yLXRoZS1hbXFwLWZ1enotdGFyZ2V0LTMyYg==";
  // The fuzz target's hub: the iothubowner policy and dev1, both keyed with k_seed_key.
  struct SeedHub {
    std::unique_ptr<Store> store = make_memory_store();
    FakeClock clock;
    std::unique_ptr<Hub> hub;
    explicit SeedHub(std::string_view key) {
      store->put_policy(Policy{"iothubowner", std::string(key), std::string(key),
                               right_registry_read | right_registry_write | right_service_connect});
      HubOptions o;
      o.host_name = std::string(k_host);
      hub = std::make_unique<Hub>(o, *store, clock);
      IdentityRecord r;
      r.key = {"dev1", {}};
      r.primary_key = std::string(key);
      r.secondary_key = std::string(key);
      (void)hub->create_identity(r);
    }
  };
  auto make = [&](Sasl sasl, bool feedback) {
    SeedHub seed(k_seed_key);
    Hub& hub = *seed.hub;
    FakeClock& clock = seed.clock;
    AmqpEngine engine(hub, clock, {}, [] {});
    const std::string token =
        azhub::core::build_sas_token(k_host, k_seed_key, clock.now / 1000 + 3600, "iothubowner");
    Client client(engine, sasl, "iothubowner@sas.root." + std::string(k_host), token);
    client.open();
    if (sasl != Sasl::plain) {
      std::string request_id;
      check_ok_reply(client.put_token(token, &request_id), request_id);
    }
    pn_link_t* c2d = client.sender(std::string(amqp::k_c2d_send_address));
    amqp::Message m = Fixture::c2d("dev1");
    m.application.emplace_back("iothub-ack", std::string("full"));
    m.application.emplace_back("k", std::string("v"));
    CHECK(pn_delivery_remote_state(client.send(c2d, m)) == PN_ACCEPTED);
    (void)client.send(c2d, Fixture::c2d("nobody"));
    if (feedback) (void)client.receiver(std::string(amqp::k_feedback_address), 5);
    pn_connection_close(client.connection());
    client.pump();
    CHECK(hub.queued_c2d("dev1").size() == 1);
    return client.wire();
  };
  // The device plane: dev1's token on $cbs, telemetry, a C2D message accepted, twin GET and
  // reported PATCH, the method links.
  auto make_device = [&] {
    SeedHub seed(k_seed_key);
    Hub& hub = *seed.hub;
    FakeClock& clock = seed.clock;
    (void)hub.send_c2d("dev1", C2dSend{"to the device", {}, std::nullopt});
    AmqpEngine engine(hub, clock, {}, [] {});
    Client client(engine);
    client.open();
    const auto reply = client.put_token_for(
        std::string(k_host) + "/devices/dev1",
        azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, "dev1", std::nullopt), k_seed_key,
                                     clock.now / 1000 + 3600));
    REQUIRE(reply);
    REQUIRE(amqp::parse_cbs_reply(*reply)->status == 200);
    pn_link_t* events = client.sender("/devices/dev1/messages/events");
    amqp::Message m;
    m.message_id = std::string("m1");
    m.application.emplace_back("k", std::string("v"));
    m.body_kind = amqp::BodyKind::data;
    m.body = "telemetry";
    CHECK(pn_delivery_remote_state(client.send(events, m)) == PN_ACCEPTED);
    pn_link_t* c2d = client.receiver("/devices/dev1/messages/devicebound", 5);
    auto got = client.receive(c2d);
    REQUIRE(got.size() == 1);
    client.settle(got[0].delivery, PN_ACCEPTED);
    pn_link_t* twin_out = client.sender("/devices/dev1/twin");
    (void)client.receiver("/devices/dev1/twin", 5);
    amqp::Message get;
    get.annotations.emplace_back(std::string(amqp::k_twin_operation), std::string("GET"));
    get.correlation_id = std::string("c1");
    (void)client.send(twin_out, get);
    amqp::Message patch;
    patch.annotations.emplace_back(std::string(amqp::k_twin_operation), std::string("PATCH"));
    patch.annotations.emplace_back(std::string(amqp::k_twin_resource), std::string(amqp::k_twin_reported_resource));
    patch.correlation_id = std::string("c2");
    patch.body_kind = amqp::BodyKind::data;
    patch.body = R"({"fw":1})";
    (void)client.send(twin_out, patch);
    (void)client.sender("/devices/dev1/methods/devicebound");
    (void)client.receiver("/devices/dev1/methods/devicebound", 5);
    pn_connection_close(client.connection());
    client.pump();
    CHECK(hub.d2c_retained().size() == 1);
    CHECK(hub.queued_c2d("dev1").empty());
    return client.wire();
  };
  const std::string device = make_device();
  const std::string cbs = make(Sasl::none, true);
  const std::string plain = make(Sasl::plain, false);
  const std::string anonymous = make(Sasl::anonymous, true);
  CHECK(cbs.rfind(std::string("AMQP\x00\x01\x00\x00", 8), 0) == 0);
  CHECK(plain.rfind(std::string("AMQP\x03\x01\x00\x00", 8), 0) == 0);
  if (dir == nullptr) return;
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream out(std::string(dir) + "/" + name, std::ios::binary);
    // The fuzz target feeds 1 + 7 * (last byte) bytes at a time; a trailing 0x02 (after the
    // close frame) makes that 15, so no transfer arrives in the same chunk as the begin or
    // attach it depends on (the recorded client waited for the engine's answers).
    out << bytes << '\x02';
    REQUIRE(out.good());
  };
  write("cbs_c2d_feedback.bin", cbs);
  write("sasl_plain_c2d.bin", plain);
  write("sasl_anonymous_cbs.bin", anonymous);
  write("device_plane.bin", device);
}

// --- the Event Hubs-compatible endpoint (docs/protocol.md §15.7) ---------------------------

namespace {

// The Event Hub of hub.example: "hub".
const std::string k_entity = amqp::event_hub_name(k_host);
const std::string k_eh_audience = "sb://" + std::string(k_host) + "/" + k_entity;

std::string partition_address(std::uint32_t p) {
  return k_entity + "/ConsumerGroups/$Default/Partitions/" + std::to_string(p);
}

// An Event Hubs token (signed with the key text, as the Event Hubs SDKs sign) for `sr`.
std::string eh_token(const Fixture& f, const std::string& sr = k_eh_audience, std::string_view policy = "iothubowner",
                     azhub::core::SasKey use = azhub::core::SasKey::text, std::int64_t ttl_s = 3600) {
  const Policy* p = f.hub->find_policy(policy);
  REQUIRE(p != nullptr);
  return azhub::core::build_sas_token(sr, p->primary_key, f.clock.now / 1000 + ttl_s, policy, use);
}

int reply_status(const std::optional<amqp::Message>& reply) {
  REQUIRE(reply);
  const auto parsed = amqp::parse_cbs_reply(*reply);
  REQUIRE(parsed);
  return parsed->status;
}

// A device `id` (created if new) connected over MQTT.
struct Device {
  FakeSession session;
  std::string id;
};
void connect_device(Fixture& f, Device& d, const std::string& id) {
  d.id = id;
  IdentityKey key{id, {}};
  auto identity = f.hub->get_identity(key);
  if (!identity) {
    IdentityRecord r;
    r.key = key;
    identity = f.hub->create_identity(r);
  }
  mqtt::Connect c;
  c.client_id = id;
  c.username = std::string(k_host) + "/" + id + "/?api-version=2021-04-12";
  c.password = azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, id, std::nullopt),
                                            identity->primary_key, f.clock.now / 1000 + 7200);
  c.clean_session = true;
  REQUIRE(f.hub->connect(d.session, c, {}).code == mqtt::ConnectReturn::accepted);
}
void telemetry(Fixture& f, Device& d, const std::string& body, const std::string& props = {}) {
  f.hub->handle_packet(d.session, mqtt::Publish{"devices/" + d.id + "/messages/events/" + props, body, 0, false, false, 0});
}

amqp::Message read_request(std::string_view type, std::optional<std::string> partition = {},
                           std::string_view name = {}) {
  amqp::Message m;
  m.application.emplace_back("operation", std::string("READ"));
  m.application.emplace_back("name", std::string(name.empty() ? std::string_view(k_entity) : name));
  m.application.emplace_back("type", std::string(type));
  if (partition) m.application.emplace_back("partition", *partition);
  m.body_kind = amqp::BodyKind::value;
  m.value_body = std::monostate{};
  return m;
}

std::vector<std::string> bodies(const std::vector<Client::Received>& got) {
  std::vector<std::string> out;
  for (const auto& r : got) out.push_back(r.message.body);
  return out;
}

std::int64_t sequence_of(const amqp::Message& m) {
  const amqp::Value* v = amqp::find(m.annotations, amqp::k_sequence_annotation);
  REQUIRE(v != nullptr);
  REQUIRE(std::holds_alternative<std::int64_t>(*v));
  return std::get<std::int64_t>(*v);
}

// The link's remote condition's info map, values as text.
std::vector<std::pair<std::string, std::string>> condition_info(pn_link_t* link) {
  std::vector<std::pair<std::string, std::string>> out;
  pn_data_t* info = pn_condition_info(pn_link_remote_condition(link));
  pn_data_rewind(info);
  if (!pn_data_next(info) || pn_data_type(info) != PN_MAP) return out;
  const std::size_t n = pn_data_get_map(info);
  pn_data_enter(info);
  for (std::size_t i = 0; i + 1 < n; i += 2) {
    if (!pn_data_next(info)) break;
    std::string key;
    if (pn_data_type(info) == PN_SYMBOL) key = std::string(pn_data_get_symbol(info).start, pn_data_get_symbol(info).size);
    if (pn_data_type(info) == PN_STRING) key = std::string(pn_data_get_string(info).start, pn_data_get_string(info).size);
    if (!pn_data_next(info)) break;
    std::string value;
    switch (pn_data_type(info)) {
      case PN_STRING:
        value = std::string(pn_data_get_string(info).start, pn_data_get_string(info).size);
        break;
      case PN_SYMBOL:
        value = std::string(pn_data_get_symbol(info).start, pn_data_get_symbol(info).size);
        break;
      case PN_INT:
        value = "int:" + std::to_string(pn_data_get_int(info));
        break;
      case PN_UINT:
        value = "uint:" + std::to_string(pn_data_get_uint(info));
        break;
      default:
        value = std::string("type:") + pn_type_name(pn_data_type(info));
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  pn_data_exit(info);
  return out;
}

}  // namespace

TEST_CASE("emulator::AmqpEngine Event Hubs: put-token with an Event Hubs token") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  SUBCASE("text-signed for sb://{host}/{entity}: 200") {
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
  }
  SUBCASE("a path below the entity is also the Event Hub") {
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience + "/ConsumerGroups/$Default"))) ==
          200);
  }
  SUBCASE("signed with the base64-decoded key (the IoT Hub way): 401") {
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience, "iothubowner",
                                                                    azhub::core::SasKey::decoded))) == 401);
  }
  SUBCASE("another entity: 401") {
    CHECK(reply_status(client.put_token_for("sb://hub.example/other", eh_token(f, "sb://hub.example/other"))) == 401);
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience + "x"))) == 401);
  }
  SUBCASE("no skn: 401") {
    const Policy* p = f.hub->find_policy("iothubowner");
    REQUIRE(p != nullptr);
    const std::string t = azhub::core::build_sas_token(k_eh_audience, p->primary_key, f.clock.now / 1000 + 3600,
                                                       std::nullopt, azhub::core::SasKey::text);
    CHECK(reply_status(client.put_token_for(k_eh_audience, t)) == 401);
  }
  SUBCASE("expired: 401") {
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience, "iothubowner",
                                                                    azhub::core::SasKey::text, -10))) == 401);
  }
}

TEST_CASE("emulator::AmqpEngine Event Hubs: $management READ of the Event Hub") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
  amqp::Message request = read_request(amqp::k_eventhub_type);
  request.message_id = std::string("req-1");
  const auto reply = client.management(request);
  REQUIRE(reply_status(reply) == 200);
  CHECK(reply->correlation_id == amqp::Value(std::string("req-1")));
  CHECK(reply->body_kind == amqp::BodyKind::map);
  const auto& body = reply->map_body;
  REQUIRE(amqp::find(body, "name") != nullptr);
  CHECK(*amqp::find(body, "name") == amqp::Value(k_entity));
  REQUIRE(amqp::find(body, "type") != nullptr);
  CHECK(*amqp::find(body, "type") == amqp::Value(std::string(amqp::k_eventhub_type)));
  REQUIRE(amqp::find(body, "created_at") != nullptr);
  CHECK(std::holds_alternative<amqp::Timestamp>(*amqp::find(body, "created_at")));
  REQUIRE(amqp::find(body, "partition_count") != nullptr);
  CHECK(*amqp::find(body, "partition_count") == amqp::Value(amqp::Int{4}));
  REQUIRE(amqp::find(body, "partition_ids") != nullptr);
  CHECK(*amqp::find(body, "partition_ids") == amqp::Value(amqp::StringArray{{"0", "1", "2", "3"}}));
}

TEST_CASE("emulator::AmqpEngine Event Hubs: $management READ of a partition") {
  Fixture f;
  Device d1;  // dev1: partition 3
  connect_device(f, d1, "dev1");
  REQUIRE(d2c_partition_of("dev1") == 3);
  f.clock.advance(1000);
  telemetry(f, d1, "a");
  f.clock.advance(1000);
  telemetry(f, d1, "b");
  const std::int64_t last_ms = f.clock.now;
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);

  SUBCASE("a partition with events") {
    const auto reply = client.management(read_request(amqp::k_partition_type, "3"));
    REQUIRE(reply_status(reply) == 200);
    const auto& body = reply->map_body;
    auto get = [&](std::string_view name) {
      const amqp::Value* v = amqp::find(body, name);
      REQUIRE_MESSAGE(v != nullptr, name);
      return *v;
    };
    CHECK(get("name") == amqp::Value(k_entity));
    CHECK(get("type") == amqp::Value(std::string(amqp::k_partition_type)));
    CHECK(get("partition") == amqp::Value(std::string("3")));
    CHECK(get("begin_sequence_number") == amqp::Value(std::int64_t{0}));
    CHECK(get("last_enqueued_sequence_number") == amqp::Value(std::int64_t{1}));
    CHECK(get("last_enqueued_offset") == amqp::Value(std::string("1")));
    CHECK(get("last_enqueued_time_utc") == amqp::Value(amqp::Timestamp{last_ms}));
    CHECK(get("is_partition_empty") == amqp::Value(false));
  }
  SUBCASE("an empty partition") {
    const auto reply = client.management(read_request(amqp::k_partition_type, "0"));
    REQUIRE(reply_status(reply) == 200);
    const amqp::Value* empty = amqp::find(reply->map_body, "is_partition_empty");
    REQUIRE(empty != nullptr);
    CHECK(*empty == amqp::Value(true));
    const amqp::Value* last = amqp::find(reply->map_body, "last_enqueued_sequence_number");
    REQUIRE(last != nullptr);
    CHECK(*last == amqp::Value(std::int64_t{-1}));
  }
  SUBCASE("a partition that does not exist: 404") {
    CHECK(reply_status(client.management(read_request(amqp::k_partition_type, "9"))) == 404);
    CHECK(reply_status(client.management(read_request(amqp::k_partition_type, "4"))) == 404);
    CHECK(reply_status(client.management(read_request(amqp::k_partition_type, std::nullopt))) == 404);
  }
  SUBCASE("an unknown entity name: 404") {
    CHECK(reply_status(client.management(read_request(amqp::k_eventhub_type, std::nullopt, "nosuchhub"))) == 404);
  }
  SUBCASE("an unknown type or operation: 400") {
    CHECK(reply_status(client.management(read_request("com.microsoft:other"))) == 400);
    amqp::Message m = read_request(amqp::k_eventhub_type);
    m.application[0].second = std::string("UPDATE");
    CHECK(reply_status(client.management(m)) == 400);
  }
}

TEST_CASE("emulator::AmqpEngine Event Hubs: $management without an Event Hubs token") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  SUBCASE("no token at all: 401") {
    CHECK(reply_status(client.management(read_request(amqp::k_eventhub_type))) == 401);
  }
  SUBCASE("an IoT Hub token on $cbs does not do: 401") {
    REQUIRE(reply_status(client.put_token(f.token())) == 200);
    CHECK(reply_status(client.management(read_request(amqp::k_eventhub_type))) == 401);
  }
  SUBCASE("the request's own security_token does") {
    amqp::Message m = read_request(amqp::k_eventhub_type);
    m.application.emplace_back("security_token", eh_token(f));
    CHECK(reply_status(client.management(m)) == 200);
  }
  SUBCASE("a wrongly signed security_token: 401") {
    amqp::Message m = read_request(amqp::k_eventhub_type);
    m.application.emplace_back("security_token",
                               eh_token(f, k_eh_audience, "iothubowner", azhub::core::SasKey::decoded));
    CHECK(reply_status(client.management(m)) == 401);
  }
}

TEST_CASE("emulator::AmqpEngine Event Hubs: a consumer receives its partition's events in order") {
  Fixture f;
  Device d1;  // partition 3
  Device d4;  // partition 0
  connect_device(f, d1, "dev1");
  connect_device(f, d4, "dev4");
  REQUIRE(d2c_partition_of("dev4") == 0);
  f.clock.advance(1000);
  telemetry(f, d1, "one", "temp=21&%24.mid=m1&%24.ct=application%2Fjson");
  const std::int64_t first_ms = f.clock.now;
  telemetry(f, d4, "other");
  f.clock.advance(1000);
  telemetry(f, d1, "two");
  telemetry(f, d1, "three");

  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
  pn_link_t* link = client.receiver_with_filter(partition_address(3), 10, "amqp.annotation.x-opt-offset > '-1'");
  REQUIRE(remote_open(link));
  CHECK_FALSE(remote_closed(link));
  const auto got = client.receive(link);
  CHECK(bodies(got) == std::vector<std::string>{"one", "two", "three"});
  REQUIRE(got.size() == 3);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const amqp::Message& m = got[i].message;
    CHECK(sequence_of(m) == static_cast<std::int64_t>(i));
    const amqp::Value* offset = amqp::find(m.annotations, amqp::k_offset_annotation);
    REQUIRE(offset != nullptr);
    CHECK(*offset == amqp::Value(std::to_string(i)));
    const amqp::Value* device = amqp::find(m.annotations, "iothub-connection-device-id");
    REQUIRE(device != nullptr);
    CHECK(*device == amqp::Value(std::string("dev1")));
    const amqp::Value* source = amqp::find(m.annotations, "iothub-message-source");
    REQUIRE(source != nullptr);
    CHECK(*source == amqp::Value(std::string("Telemetry")));
    CHECK(m.body_kind == amqp::BodyKind::data);
  }
  const amqp::Value* enqueued = amqp::find(got[0].message.annotations, amqp::k_enqueued_time_annotation);
  REQUIRE(enqueued != nullptr);
  CHECK(*enqueued == amqp::Value(amqp::Timestamp{first_ms}));
  const amqp::Value* temp = amqp::find(got[0].message.application, "temp");
  REQUIRE(temp != nullptr);
  CHECK(*temp == amqp::Value(std::string("21")));
  CHECK(got[0].message.message_id == amqp::Value(std::string("m1")));
  CHECK(got[0].message.content_type == "application/json");
  // The record azhub service monitor prints for it.
  const auto record = amqp::event_record_json(got[0].message, "3");
  CHECK(record["deviceId"] == "dev1");
  CHECK(record["sequenceNumber"] == 0);
  for (const auto& r : got) client.settle(r.delivery, PN_ACCEPTED);

  // Partition 0 has only dev4's event.
  pn_link_t* other = client.receiver(partition_address(0), 10);  // no filter: from the earliest
  REQUIRE(remote_open(other));
  CHECK(bodies(client.receive(other)) == std::vector<std::string>{"other"});

  // A new event arrives through wake and poll().
  f.woken = false;
  telemetry(f, d1, "four");
  CHECK(f.woken);
  f.engine->poll();
  client.pump();
  const auto more = client.receive(link);
  REQUIRE(more.size() == 1);
  CHECK(more[0].message.body == "four");
  CHECK(sequence_of(more[0].message) == 3);
  CHECK(client.receive(other).empty());
}

TEST_CASE("emulator::AmqpEngine Event Hubs: a consumer gets no more events than its credit") {
  Fixture f;
  Device d1;
  connect_device(f, d1, "dev1");
  for (const char* b : {"a", "b", "c", "d", "e"}) telemetry(f, d1, b);
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
  pn_link_t* link = client.receiver_with_filter(partition_address(3), 2, "amqp.annotation.x-opt-offset > '-1'");
  CHECK(bodies(client.receive(link)) == std::vector<std::string>{"a", "b"});
  pn_link_flow(link, 10);
  client.pump();
  CHECK(bodies(client.receive(link)) == std::vector<std::string>{"c", "d", "e"});
}

TEST_CASE("emulator::AmqpEngine Event Hubs: consumer filters") {
  Fixture f;
  Device d1;
  connect_device(f, d1, "dev1");
  std::vector<std::int64_t> times;
  for (const char* b : {"s0", "s1", "s2", "s3", "s4"}) {
    f.clock.advance(1000);
    times.push_back(f.clock.now);
    telemetry(f, d1, b);
  }
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
  auto read = [&](const std::string& filter) {
    pn_link_t* link = client.receiver_with_filter(partition_address(3), 20, filter);
    REQUIRE(remote_open(link));
    REQUIRE_FALSE(remote_closed(link));
    return bodies(client.receive(link));
  };
  using V = std::vector<std::string>;
  CHECK(read("amqp.annotation.x-opt-offset > '-1'") == V{"s0", "s1", "s2", "s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-sequence-number > '2'") == V{"s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-sequence-number >= '2'") == V{"s2", "s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-sequence-number > 2") == V{"s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-offset > '1'") == V{"s2", "s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-offset >= '1'") == V{"s1", "s2", "s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-sequence-number > '4'").empty());
  CHECK(read("amqp.annotation.x-opt-sequence-number > '99'").empty());
  CHECK(read("amqp.annotation.x-opt-enqueued-time > '" + std::to_string(times[2]) + "'") == V{"s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-enqueued-time >= '" + std::to_string(times[2]) + "'") == V{"s2", "s3", "s4"});
  CHECK(read("amqp.annotation.x-opt-enqueued-time > '0'") == V{"s0", "s1", "s2", "s3", "s4"});

  SUBCASE("@latest: only events captured after the attach") {
    pn_link_t* link = client.receiver_with_filter(partition_address(3), 20, "amqp.annotation.x-opt-offset > '@latest'");
    REQUIRE(remote_open(link));
    CHECK(client.receive(link).empty());
    f.woken = false;
    telemetry(f, d1, "new");
    CHECK(f.woken);
    f.engine->poll();
    client.pump();
    const auto got = client.receive(link);
    CHECK(bodies(got) == V{"new"});
    REQUIRE(got.size() == 1);
    CHECK(sequence_of(got[0].message) == 5);
  }
  SUBCASE("a filter azhub does not understand closes the link") {
    pn_link_t* link = client.receiver_with_filter(partition_address(3), 20, "amqp.annotation.x-opt-offset = '1'");
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:invalid-field");
  }
}

TEST_CASE("emulator::AmqpEngine Event Hubs: consumer link refusals") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  SUBCASE("no token: amqp:unauthorized-access") {
    pn_link_t* link = client.receiver(partition_address(0), 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:unauthorized-access");
  }
  SUBCASE("an IoT Hub token only: amqp:unauthorized-access") {
    REQUIRE(reply_status(client.put_token(f.token())) == 200);
    pn_link_t* link = client.receiver(partition_address(0), 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:unauthorized-access");
  }
  SUBCASE("a base64-decoded-key token for the sb:// audience is refused, and the link too") {
    CHECK(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience, "iothubowner",
                                                                    azhub::core::SasKey::decoded))) == 401);
    pn_link_t* link = client.receiver(partition_address(0), 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:unauthorized-access");
  }
  SUBCASE("a policy without ServiceConnect: amqp:unauthorized-access") {
    REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience, "registryRead"))) == 200);
    pn_link_t* link = client.receiver(partition_address(0), 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:unauthorized-access");
  }
  SUBCASE("partition 9: amqp:not-found") {
    REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
    pn_link_t* link = client.receiver(partition_address(9), 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:not-found");
  }
  SUBCASE("another entity: amqp:not-found") {
    REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
    pn_link_t* link = client.receiver("other/ConsumerGroups/$Default/Partitions/0", 10);
    CHECK(remote_closed(link));
    CHECK(remote_condition(link) == "amqp:not-found");
  }
  SUBCASE("the full amqps:// address form is accepted") {
    REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f))) == 200);
    pn_link_t* link = client.receiver("amqps://" + std::string(k_host) + ":5671/" + partition_address(1), 10);
    CHECK(remote_open(link));
    CHECK_FALSE(remote_closed(link));
  }
}

TEST_CASE("emulator::AmqpEngine Event Hubs: an expired Event Hubs token closes the consumer link") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token_for(k_eh_audience, eh_token(f, k_eh_audience, "iothubowner",
                                                                    azhub::core::SasKey::text, 60))) == 200);
  pn_link_t* link = client.receiver(partition_address(2), 10);
  REQUIRE(remote_open(link));
  f.clock.advance(61'000);
  f.engine->poll();
  client.pump();
  CHECK(remote_closed(link));
  CHECK(remote_condition(link) == "amqp:unauthorized-access");
}

TEST_CASE("emulator::AmqpEngine Event Hubs: messages/events is redirected to the Event Hubs-compatible endpoint") {
  Fixture f;
  Client client(*f.engine);
  client.open();
  REQUIRE(reply_status(client.put_token(f.token())) == 200);
  pn_link_t* link = client.receiver("amqps://" + std::string(k_host) + "/messages/events/$management", 10);
  CHECK(remote_open(link));
  CHECK_FALSE(remote_closed(link));
  f.clock.advance(20);
  if (f.woken) f.engine->poll();
  client.pump();
  CHECK_FALSE(remote_closed(link));  // not before 50 ms
  f.woken = false;
  f.clock.advance(40);
  CHECK(f.woken);
  f.engine->poll();
  client.pump();
  REQUIRE(remote_closed(link));
  CHECK(remote_condition(link) == "amqp:link:redirect");
  const auto info = condition_info(link);
  auto value = [&](std::string_view key) -> std::string {
    for (const auto& [k, v] : info)
      if (k == key) return v;
    return "<absent>";
  };
  CHECK(value("hostname") == k_host);
  CHECK(value("network-host") == k_host);
  CHECK(value("port") == "int:5671");
  CHECK(value("address") == "amqps://" + std::string(k_host) + ":5671/" + k_entity + "/$management");
}

TEST_CASE("emulator::AmqpEngine Event Hubs: the redirect names the configured AMQP port") {
  std::unique_ptr<Store> store = make_memory_store();
  FakeClock clock;
  HubOptions o;
  o.host_name = std::string(k_host);
  Hub hub(o, *store, clock);
  AmqpEngineOptions options;
  options.amqp_port = 15671;
  bool woken = false;
  AmqpEngine engine(hub, clock, options, [&] { woken = true; });
  Client client(engine);
  client.open();
  pn_link_t* link = client.receiver("/messages/events", 10);
  CHECK(remote_open(link));
  clock.advance(60);
  CHECK(woken);
  engine.poll();
  client.pump();
  REQUIRE(remote_closed(link));
  CHECK(remote_condition(link) == "amqp:link:redirect");
  const auto info = condition_info(link);
  bool saw_port = false;
  for (const auto& [k, v] : info) {
    if (k == "port") {
      saw_port = true;
      CHECK(v == "int:15671");
    }
  }
  CHECK(saw_port);
}
