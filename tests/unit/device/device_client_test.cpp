// DeviceClient's session logic driven through a scripted transport and a fake clock: connect,
// renewal, reconnect, resend, twin re-requests, desired resync and the --count hand-off, with no
// sockets and no sleeps (docs/conventions.md §5).
#include "device/device_client.hpp"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/topics.hpp"
#include "fake_transport.hpp"

using namespace azhub::device;
using azhub::core::Error;
using azhub::core::ExitCode;
using azhub::device::testing::FakeSteadyClock;
using azhub::device::testing::FakeTransport;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t k_now_ms = 1'700'000'000'000;

struct Fixture {
  FakeSteadyClock clock;
  FakeTransport* fake = nullptr;  // owned by `client`
  std::unique_ptr<DeviceClient> client;
  int tokens = 0;  // credentials handed out
  std::int64_t token_ttl_s = 3600;

  explicit Fixture(const std::function<void(DeviceClient&)>& want = {}) {
    DeviceSettings s;
    s.identity.host = "hub.example";
    s.identity.device_id = "dev1";
    s.connect_host = "hub.example";
    s.port = 8883;
    s.product = "azhub/test";
    s.credentials = [this](std::int64_t now_ms) {
      ++tokens;
      return Credential{"token-" + std::to_string(tokens), now_ms / 1000 + token_ttl_s, true};
    };
    s.now_unix_ms = [] { return k_now_ms; };
    s.jitter = [] { return 0.5; };
    s.steady_now = clock.function();
    auto transport = std::make_unique<FakeTransport>(clock);
    fake = transport.get();
    client = std::make_unique<DeviceClient>(std::move(s), std::move(transport));
    if (want) want(*client);
  }
  [[nodiscard]] std::vector<std::string> passwords() const {
    std::vector<std::string> out;
    for (const auto& c : fake->connects) out.push_back(c.request.password.value_or(""));
    return out;
  }
};

std::string rid_of(const std::string& topic) {
  const auto at = topic.find("$rid=");
  REQUIRE(at != std::string::npos);
  return topic.substr(at + 5);
}

std::string c2d_topic(const std::string& message_id) {
  azhub::core::MessageProperties props;
  props.system.message_id = message_id;
  return azhub::core::build_c2d_topic("dev1", props);
}

}  // namespace

TEST_CASE("the first connect fails fast: Error(connect) naming the host, no retry") {
  Fixture f;
  f.fake->connect_script.push_back(FakeTransport::unreachable("TCP connect refused"));
  try {
    f.client->connect();
    FAIL("connect() did not throw");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::connect);
    CHECK(std::string(e.what()).find("hub.example:8883") != std::string::npos);
  }
  CHECK(f.fake->connects.size() == 1);
  CHECK(f.client->connections() == 0);
}

TEST_CASE("the first connect refused with CONNACK 5 fails fast too") {
  Fixture f;
  f.fake->connect_script.push_back(FakeTransport::refuse(ConnackCode::not_authorized));
  CHECK_THROWS_AS(f.client->connect(), Error);
  CHECK(f.fake->connects.size() == 1);
}

namespace {
// A token renewal whose reconnects are refused `refusals` times with CONNACK 5, then accepted.
void renewal_survives(int refusals) {
  {
    Fixture f;
    f.token_ttl_s = 100;  // renewal due after 80 s
    f.client->connect();
    REQUIRE(f.fake->connects.size() == 1);
    for (int i = 0; i < refusals; ++i)
      f.fake->connect_script.push_back(FakeTransport::refuse(ConnackCode::not_authorized));
    f.fake->connect_script.push_back(FakeTransport::accept());
    // Run the session until the renewal's reconnect is up again (the fake answers it at once).
    while (f.client->connections() < 2) f.client->wait_until(f.clock.now + 1s);
    CHECK(f.fake->disconnects == 1);  // the renewal disconnected the old connection
    CHECK(f.fake->connects.size() == static_cast<std::size_t>(2 + refusals));
    const auto passwords = f.passwords();
    for (std::size_t i = 1; i < passwords.size(); ++i) CHECK(passwords[i] != passwords[i - 1]);
    CHECK(f.client->connections() == 2);
  }
}
}  // namespace

TEST_CASE("one CONNACK 5 refusal during a token renewal is retried with a fresh token") {
  renewal_survives(1);
}

TEST_CASE("two CONNACK 5 refusals in a row during a token renewal are retried with fresh tokens") {
  renewal_survives(2);
}

TEST_CASE("three CONNACK 5 refusals in a row during a token renewal end the session") {
  Fixture f;
  f.token_ttl_s = 100;
  f.client->connect();
  for (int i = 0; i < 3; ++i)
    f.fake->connect_script.push_back(FakeTransport::refuse(ConnackCode::not_authorized));
  f.fake->connect_script.push_back(FakeTransport::accept());  // never reached
  try {
    f.client->wait_until(f.clock.now + 1h);
    FAIL("the session went on after three refusals");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::connect);
    CHECK(std::string(e.what()).find("hub.example:8883") != std::string::npos);
  }
  CHECK(f.fake->connects.size() == 4);  // the first connect, then three refused renewals
  CHECK(f.tokens == 4);                 // each attempt had a token of its own
  CHECK(f.client->connections() == 1);
}

TEST_CASE("a drop with 3 telemetry messages in flight resends them in order; each ack handler runs once") {
  Fixture f;
  f.client->connect();
  std::map<std::uint64_t, int> acks;
  std::map<std::uint64_t, int> attempts;
  f.client->on_telemetry_ack([&](const TelemetryAck& ack) {
    ++acks[ack.seq];
    attempts[ack.seq] = ack.attempts;
  });
  for (int i = 0; i < 3; ++i) f.client->send_telemetry({}, "m" + std::to_string(i), 1);
  REQUIRE(f.fake->telemetry.size() == 3);
  CHECK(f.client->unacknowledged() == 3);

  f.fake->drop();
  f.fake->ack_telemetry(1, f.fake->generation());  // a late confirmation from the lost connection
  f.fake->auto_ack_telemetry = true;                // the new connection confirms everything
  REQUIRE(f.client->flush(f.clock.now + 1min));

  CHECK(f.client->connections() == 2);
  REQUIRE(f.fake->telemetry.size() == 6);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& resent = f.fake->telemetry[3 + i];
    CHECK(resent.generation == 2);
    CHECK(resent.message.seq == i + 1);
    CHECK(resent.message.payload == "m" + std::to_string(i));
    CHECK(resent.message.topic == f.fake->telemetry[i].message.topic);
  }
  CHECK(acks == std::map<std::uint64_t, int>{{1, 1}, {2, 1}, {3, 1}});
  CHECK(attempts == std::map<std::uint64_t, int>{{1, 2}, {2, 2}, {3, 2}});
  CHECK(f.client->unacknowledged() == 0);
}

TEST_CASE("a twin GET pending at a drop is asked again after the reconnect and its answer returned") {
  Fixture f([](DeviceClient& c) { c.want_twin(); });
  int gets = 0;
  f.fake->on_publish = [&](const FakeTransport::Publish& p) {
    if (!p.topic.starts_with("$iothub/twin/GET/")) return;
    if (++gets == 1) {
      f.fake->drop();  // no answer on the first connection
    } else {
      f.fake->deliver(azhub::core::build_twin_response_topic(200, rid_of(p.topic)),
                      R"({"desired":{"$version":3},"reported":{"$version":1}})");
    }
  };
  f.client->connect();
  const json twin = f.client->get_twin(30s);
  CHECK(twin["desired"]["$version"] == 3);
  const auto requests = f.fake->published("$iothub/twin/GET/");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].generation == 1);
  CHECK(requests[1].generation == 2);
  CHECK(rid_of(requests[0].topic) == rid_of(requests[1].topic));
  CHECK(f.fake->subscribes.size() == 2);  // resubscribed to the twin responses
}

TEST_CASE("a twin GET without an answer fails with Error(timeout) at its deadline") {
  Fixture f([](DeviceClient& c) { c.want_twin(); });
  f.client->connect();
  const auto start = f.clock.now;
  try {
    (void)f.client->get_twin(5s);
    FAIL("get_twin returned without an answer");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::timeout);
  }
  CHECK(f.clock.now - start >= 5s);
  CHECK(f.fake->published("$iothub/twin/GET/").size() == 1);
}

TEST_CASE("a twin request the transport refuses fails at once, not at its timeout") {
  Fixture f([](DeviceClient& c) { c.want_twin(); });
  f.client->connect();
  f.fake->publish_script.push_back(SendResult::refused);
  const auto start = f.clock.now;
  try {
    (void)f.client->get_twin(30s);
    FAIL("get_twin returned although its request never went out");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::failure);
    CHECK(std::string(e.what()).find("refused") != std::string::npos);
  }
  CHECK(f.clock.now - start < 30s);
  CHECK(f.fake->refused_publishes.size() == 1);
  CHECK(f.fake->publishes.empty());
}

TEST_CASE("a method response the transport is too busy for is sent on a later pump, not dropped") {
  Fixture f([](DeviceClient& c) { c.want_methods(); });
  f.client->connect();
  f.fake->publish_script = {SendResult::busy, SendResult::busy};
  f.client->respond_method("7", 200, R"({"ok":true})");
  f.client->wait_until(f.clock.now + 1s);
  CHECK(f.fake->busy_publishes.size() == 2);
  const auto responses = f.fake->published("$iothub/methods/res/");
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].topic == azhub::core::build_method_response_topic(200, "7"));
  CHECK(responses[0].payload == R"({"ok":true})");
}

TEST_CASE("after a reconnect with want_desired, the resync GET's version drops stale desired patches") {
  Fixture f([](DeviceClient& c) { c.want_desired(); });
  f.fake->on_publish = [&](const FakeTransport::Publish& p) {
    if (!p.topic.starts_with("$iothub/twin/GET/")) return;
    // The resync answer says desired is at version 5; then the hub's notifications of 4 and 5
    // (already in that answer) and of 6 arrive.
    f.fake->deliver(azhub::core::build_twin_response_topic(200, rid_of(p.topic)),
                    R"({"desired":{"$version":5,"colour":"red"},"reported":{"$version":1}})");
    for (std::int64_t v : {4, 5, 6})
      f.fake->deliver(azhub::core::build_twin_desired_topic(v),
                      json{{"step", v}, {"$version", v}}.dump());
  };
  f.client->connect();
  REQUIRE(f.fake->subscribes.size() == 1);
  f.fake->deliver(azhub::core::build_twin_desired_topic(2), R"({"step":2,"$version":2})");
  auto first = f.client->next_desired(f.clock.now + 10s);
  REQUIRE(first);
  CHECK(first->version == 2);
  CHECK_FALSE(first->full);
  CHECK(f.fake->published("$iothub/twin/GET/").empty());  // no resync on the first connection

  f.fake->drop();
  auto resync = f.client->next_desired(f.clock.now + 1min);
  REQUIRE(resync);
  CHECK(f.client->connections() == 2);
  CHECK(f.fake->published("$iothub/twin/GET/").size() == 1);
  CHECK(resync->full);
  CHECK(resync->version == 5);
  CHECK(resync->patch["colour"] == "red");
  auto next = f.client->next_desired(f.clock.now + 10s);
  REQUIRE(next);
  CHECK_FALSE(next->full);
  CHECK(next->version == 6);
  CHECK(next->patch["step"] == 6);
  CHECK_FALSE(f.client->next_desired(f.clock.now + 10s));  // 4 and 5 were dropped
}

TEST_CASE("stop_receiving unsubscribes, returns what arrived before the UNSUBACK, and reconnects do not resubscribe") {
  Fixture f([](DeviceClient& c) {
    c.want_c2d();
    c.want_desired();
    c.want_methods();
  });
  f.client->connect();
  REQUIRE(f.fake->subscribes.size() == 1);
  const std::vector<std::string> receive_filters{azhub::core::build_c2d_subscription("dev1"),
                                                 std::string(azhub::core::k_twin_desired_filter),
                                                 std::string(azhub::core::k_method_filter)};
  std::vector<std::string> all = receive_filters;
  all.emplace_back(azhub::core::k_twin_response_filter);
  CHECK(f.fake->subscribes[0].filters == all);

  f.fake->deliver(c2d_topic("m1"), "one");
  f.fake->deliver(c2d_topic("m2"), "two");
  f.fake->on_unsubscribe = [&](const FakeTransport::Filters& u) {
    // The hub sent a third message before it handled the UNSUBSCRIBE: MQTT delivers it first.
    f.fake->deliver(c2d_topic("m3"), "three");
    f.fake->unsuback(u.token);
  };
  CHECK(f.client->stop_receiving());
  REQUIRE(f.fake->unsubscribes.size() == 1);
  CHECK(f.fake->unsubscribes[0].filters == receive_filters);

  std::vector<std::string> bodies;
  while (auto m = f.client->next_c2d(f.clock.now)) bodies.push_back(m->body);
  CHECK(bodies == std::vector<std::string>{"one", "two", "three"});

  f.fake->drop();
  while (f.client->connections() < 2) f.client->wait_until(f.clock.now + 1s);
  REQUIRE(f.fake->subscribes.size() == 2);
  CHECK(f.fake->subscribes[1].generation == 2);
  CHECK(f.fake->subscribes[1].filters == std::vector<std::string>{std::string(azhub::core::k_twin_response_filter)});
  CHECK(f.fake->unsubscribes.size() == 1);
}

TEST_CASE("twin watch at --count: desired updates that arrived before the UNSUBACK are all returned") {
  Fixture f([](DeviceClient& c) { c.want_desired(); });
  f.client->connect();
  REQUIRE(f.fake->subscribes.size() == 1);
  f.fake->deliver(azhub::core::build_twin_desired_topic(2), R"({"step":2,"$version":2})");
  auto counted = f.client->next_desired(f.clock.now + 10s);
  REQUIRE(counted);
  CHECK(counted->version == 2);
  // The command has its --count: two more notifications are already queued, a third comes
  // before the hub handles the UNSUBSCRIBE.
  f.fake->deliver(azhub::core::build_twin_desired_topic(3), R"({"step":3,"$version":3})");
  f.fake->deliver(azhub::core::build_twin_desired_topic(4), R"({"step":4,"$version":4})");
  f.fake->on_unsubscribe = [&](const FakeTransport::Filters& u) {
    f.fake->deliver(azhub::core::build_twin_desired_topic(5), R"({"step":5,"$version":5})");
    f.fake->unsuback(u.token);
  };
  CHECK(f.client->stop_receiving());
  REQUIRE(f.fake->unsubscribes.size() == 1);
  CHECK(f.fake->unsubscribes[0].filters == std::vector<std::string>{std::string(azhub::core::k_twin_desired_filter)});
  std::vector<std::int64_t> drained;
  while (auto u = f.client->next_desired(f.clock.now)) drained.push_back(u->version);
  CHECK(drained == std::vector<std::int64_t>{3, 4, 5});
}
