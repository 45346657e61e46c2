// Hub's device plane over HTTPS (docs/protocol.md §6.2): device token checks, telemetry, and the
// C2D lifecycle of receive / complete / reject / abandon with 60 s locks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/feedback.hpp"
#include "core/limits.hpp"
#include "core/sas.hpp"
#include "emulator/hub.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"
#include "hub_fixture.hpp"

using namespace azhub::emulator;
using azhub::core::FeedbackStatus;
using azhub::emulator::testing::FakeClock;
using azhub::emulator::testing::FakeSession;

namespace {

struct Fixture : azhub::emulator::testing::HubFixture {
  const IdentityKey key{"dev1", {}};
  std::string token(std::int64_t ttl_s = 3600) const { return HubFixture::token(key, dev1.primary_key, ttl_s); }
  void send(const std::string& id, std::optional<std::string> ack = std::string("full")) {
    C2dSend m;
    m.body = "body " + id;
    m.properties.system.message_id = id;
    m.properties.system.ack = std::move(ack);
    (void)hub->send_c2d("dev1", m);
  }
  std::vector<azhub::core::FeedbackRecord> feedback() {
    std::vector<azhub::core::FeedbackRecord> out;
    while (auto batch = hub->take_feedback()) {
      out.insert(out.end(), batch->records.begin(), batch->records.end());
      hub->complete_feedback(batch->lock);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("emulator::Hub HTTPS: device tokens are checked as at CONNECT") {
  Fixture f;
  CHECK_FALSE(f.hub->check_device_token(f.key, f.token()));
  CHECK(f.hub->check_device_token(f.key, "") == "no Authorization header (a SAS token)");
  CHECK(f.hub->check_device_token(f.key, "SharedAccessSignature nonsense"));
  CHECK(f.hub->check_device_token(IdentityKey{"nobody", {}}, f.token()) == "unknown identity");
  // dev1's token does not open another device, nor does an expired one.
  IdentityRecord r;
  r.key = {"dev2", {}};
  (void)f.hub->create_identity(r);
  CHECK(f.hub->check_device_token(IdentityKey{"dev2", {}}, f.token()));
  const std::string expired = f.token(10);
  f.clock.advance(11'000);
  CHECK(f.hub->check_device_token(f.key, expired) == "token has expired");
  // A policy with DeviceConnect covers any device; one without it does not.
  const Policy* device_policy = f.hub->find_policy("device");
  REQUIRE(device_policy != nullptr);
  const std::string policy_token = azhub::core::build_sas_token("hub.example", device_policy->primary_key,
                                                                f.clock.now / 1000 + 3600, "device");
  CHECK_FALSE(f.hub->check_device_token(f.key, policy_token));
  const Policy* service = f.hub->find_policy("service");
  REQUIRE(service != nullptr);
  CHECK(f.hub->check_device_token(f.key, azhub::core::build_sas_token("hub.example", service->primary_key,
                                                                      f.clock.now / 1000 + 3600, "service")) ==
        "policy lacks DeviceConnect");
  // A disabled device is refused whatever the token.
  IdentityRecord disabled = *f.hub->get_identity(f.key);
  disabled.status = DeviceStatus::disabled;
  (void)f.hub->update_identity(disabled, std::nullopt);
  CHECK(f.hub->check_device_token(f.key, f.token()) == "identity is disabled");
}

TEST_CASE("emulator::Hub HTTPS: telemetry is captured with its properties; over 256 KB is 413001") {
  Fixture f;
  azhub::core::MessageProperties p;
  p.system.message_id = "m1";
  p.application.emplace_back("k", "v");
  f.hub->http_telemetry(f.key, {{"hello", p}});
  REQUIRE(f.hub->d2c_retained().size() == 1);
  CHECK(f.hub->d2c_retained().front().body == "hello");
  CHECK(f.hub->d2c_retained().front().properties == p);
  try {
    // A batch with one message too large is refused whole.
    f.hub->http_telemetry(f.key, {{"fine", {}}, {std::string(257 * 1024, 'x'), {}}});
    FAIL("no error");
  } catch (const HubError& e) {
    CHECK(e.error_code() == 413001);
  }
  CHECK(f.hub->d2c_retained().size() == 1);
}

TEST_CASE("emulator::Hub HTTPS: receive locks the oldest message for 60 s") {
  Fixture f;
  CHECK_FALSE(f.hub->receive_c2d_http("dev1"));  // empty queue
  f.send("m1");
  f.send("m2");
  auto first = f.hub->receive_c2d_http("dev1");
  REQUIRE(first);
  CHECK(first->message.properties.system.message_id == "m1");
  CHECK(first->message.delivery_count == 0);
  CHECK(first->lock_token.size() == 36);
  // m1 is locked: the next receive gets m2, then nothing.
  auto second = f.hub->receive_c2d_http("dev1");
  REQUIRE(second);
  CHECK(second->message.properties.system.message_id == "m2");
  CHECK_FALSE(f.hub->receive_c2d_http("dev1"));
  CHECK(f.hub->queued_c2d("dev1").size() == 2);

  SUBCASE("complete: gone, Success feedback; the lock is then lost") {
    f.hub->settle_c2d_http("dev1", first->lock_token, Hub::C2dSettlement::complete);
    CHECK(f.hub->queued_c2d("dev1").size() == 1);
    const auto records = f.feedback();
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == FeedbackStatus::success);
    CHECK(records[0].original_message_id == "m1");
    try {
      f.hub->settle_c2d_http("dev1", first->lock_token, Hub::C2dSettlement::complete);
      FAIL("no error");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 412002);
    }
  }
  SUBCASE("reject: gone, Rejected feedback") {
    f.hub->settle_c2d_http("dev1", first->lock_token, Hub::C2dSettlement::reject);
    const auto records = f.feedback();
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == FeedbackStatus::rejected);
    CHECK(f.hub->queued_c2d("dev1").size() == 1);
  }
  SUBCASE("the lock lapses: available again without counting a delivery; the old token is lost") {
    f.clock.advance(60'000);
    auto again = f.hub->receive_c2d_http("dev1");
    REQUIRE(again);
    CHECK(again->message.properties.system.message_id == "m1");
    CHECK(again->message.delivery_count == 0);
    CHECK(again->lock_token != first->lock_token);
    try {
      f.hub->settle_c2d_http("dev1", first->lock_token, Hub::C2dSettlement::complete);
      FAIL("no error");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 412002);
    }
    f.hub->settle_c2d_http("dev1", again->lock_token, Hub::C2dSettlement::complete);
    CHECK(f.hub->queued_c2d("dev1").size() == 1);
  }
  SUBCASE("another device's lock token is lost for this one") {
    IdentityRecord r;
    r.key = {"dev2", {}};
    (void)f.hub->create_identity(r);
    try {
      f.hub->settle_c2d_http("dev2", first->lock_token, Hub::C2dSettlement::complete);
      FAIL("no error");
    } catch (const HubError& e) {
      CHECK(e.error_code() == 412002);
    }
    CHECK(f.hub->queued_c2d("dev1").size() == 2);
  }
}

TEST_CASE("emulator::Hub HTTPS: abandon counts a delivery; the 10th dead-letters") {
  Fixture f;
  f.send("m1");
  for (std::uint32_t i = 1; i < azhub::core::limits::k_c2d_max_delivery_count; ++i) {
    auto got = f.hub->receive_c2d_http("dev1");
    REQUIRE(got);
    CHECK(got->message.delivery_count == i - 1);
    f.hub->settle_c2d_http("dev1", got->lock_token, Hub::C2dSettlement::abandon);
    REQUIRE(f.hub->queued_c2d("dev1").size() == 1);
    CHECK(f.hub->queued_c2d("dev1")[0].delivery_count == i);
  }
  CHECK(f.feedback().empty());
  auto last = f.hub->receive_c2d_http("dev1");
  REQUIRE(last);
  f.hub->settle_c2d_http("dev1", last->lock_token, Hub::C2dSettlement::abandon);
  CHECK(f.hub->queued_c2d("dev1").empty());
  const auto records = f.feedback();
  REQUIRE(records.size() == 1);
  CHECK(records[0].status == FeedbackStatus::delivery_count_exceeded);
}

TEST_CASE("emulator::Hub HTTPS: a message locked over HTTPS is not sent over MQTT, and the reverse") {
  Fixture f;
  f.send("m1");
  auto locked = f.hub->receive_c2d_http("dev1");
  REQUIRE(locked);
  FakeSession s;
  mqtt::Connect c;
  c.client_id = "dev1";
  c.username = "hub.example/dev1/?api-version=2021-04-12";
  c.password = f.token();
  REQUIRE(f.hub->connect(s, c, {}).code == mqtt::ConnectReturn::accepted);
  f.hub->handle_packet(s, mqtt::Subscribe{1, {{"devices/dev1/messages/devicebound/#", 1}}});
  CHECK(s.publishes().empty());
  f.send("m2");  // delivered over MQTT at once, so HTTPS finds nothing
  REQUIRE(s.publishes().size() == 1);
  CHECK_FALSE(f.hub->receive_c2d_http("dev1"));
  // The HTTPS lock lapses: the MQTT subscriber gets m1.
  f.clock.advance(60'000);
  REQUIRE(s.publishes().size() >= 2);
  bool m1_over_mqtt = false;
  for (const auto& p : s.publishes()) m1_over_mqtt = m1_over_mqtt || p.payload == "body m1";
  CHECK(m1_over_mqtt);
}
