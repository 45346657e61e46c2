// Hub's C2D feedback records (emulator/hub_feedback.cpp, docs/protocol.md §6.1).
#include <algorithm>
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/limits.hpp"
#include "core/sas.hpp"
#include "core/topics.hpp"
#include "emulator/hub.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"
#include "hub_fixture.hpp"

using namespace azhub::emulator;
using azhub::core::build_sas_token;
using azhub::core::FeedbackStatus;
using azhub::emulator::testing::FakeClock;
using azhub::emulator::testing::k_now_ms;
using azhub::emulator::testing::FakeSession;

namespace {

// The shared hub, with dev1 online meaning connected and subscribed to C2D.
struct Fixture : azhub::emulator::testing::HubFixture {
  using HubFixture::HubFixture;
  FakeSession& online(FakeSession& s) {
    HubFixture::online(s, true);
    subscribe(s, {{"devices/dev1/messages/devicebound/#", 1}});
    return s;
  }
  QueuedC2dMessage send(std::optional<std::string> ack, std::string mid = "m1",
                        std::optional<std::int64_t> expiry_ms = std::nullopt) {
    C2dSend m;
    m.body = "hello";
    m.properties.system.message_id = std::move(mid);
    m.properties.system.ack = std::move(ack);
    m.expiry_ms = expiry_ms;
    return hub->send_c2d("dev1", m);
  }
  // Every record waiting, completed so the queue is empty again.
  std::vector<azhub::core::FeedbackRecord> drain() {
    std::vector<azhub::core::FeedbackRecord> out;
    while (auto batch = hub->take_feedback()) {
      out.insert(out.end(), batch->records.begin(), batch->records.end());
      hub->complete_feedback(batch->lock);
    }
    return out;
  }
  // One expired message with `ack`; returns the records it left.
  std::vector<azhub::core::FeedbackRecord> expire(std::optional<std::string> ack) {
    send(std::move(ack), "exp", clock.now + 60'000);
    clock.advance(60'000);
    CHECK(hub->queued_c2d("dev1").empty());
    return drain();
  }
};

}  // namespace

TEST_CASE("emulator::Hub feedback: a completed message with iothub-ack=full gives Success") {
  Fixture f;
  FakeSession s;
  f.online(s);
  f.send("full", "msg-42");
  auto pubs = s.publishes();
  REQUIRE(pubs.size() == 1);
  CHECK_FALSE(f.hub->take_feedback());  // not completed yet
  f.clock.advance(1234);
  f.hub->handle_packet(s, mqtt::Puback{pubs[0].packet_id});
  CHECK(f.hub->queued_c2d("dev1").empty());
  auto records = f.drain();
  REQUIRE(records.size() == 1);
  CHECK(records[0] == azhub::core::FeedbackRecord{"msg-42", k_now_ms + 1234,
                                                  FeedbackStatus::success, "Success", "dev1",
                                                  f.dev1.generation_id});
  CHECK_FALSE(f.dev1.generation_id.empty());
}

TEST_CASE("emulator::Hub feedback: iothub-ack decides which outcomes are recorded") {
  Fixture f;
  SUBCASE("positive: no record on expiry") {
    CHECK(f.expire("positive").empty());
  }
  SUBCASE("none or absent: no record") {
    CHECK(f.expire("none").empty());
    CHECK(f.expire(std::nullopt).empty());
  }
  SUBCASE("negative: Expired") {
    auto records = f.expire("negative");
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == FeedbackStatus::expired);
    CHECK(records[0].original_message_id == "exp");
    CHECK(records[0].enqueued_ms == k_now_ms + 60'000);
    CHECK(records[0].description == "Message expired");
  }
  SUBCASE("negative: Expired at the expiry time, without the queue being read") {
    f.send("negative", "exp2", f.clock.now + 5'000);
    f.clock.advance(4'999);
    CHECK_FALSE(f.hub->take_feedback());
    f.clock.advance(1);  // the message's own expiry timer, nothing else touches the queue
    auto batch = f.hub->take_feedback();
    REQUIRE(batch);
    REQUIRE(batch->records.size() == 1);
    CHECK(batch->records[0].status == FeedbackStatus::expired);
    CHECK(batch->records[0].original_message_id == "exp2");
  }
  SUBCASE("negative: no record on completion") {
    FakeSession s;
    f.online(s);
    f.send("negative");
    f.hub->handle_packet(s, mqtt::Puback{s.publishes().at(0).packet_id});
    CHECK(f.hub->queued_c2d("dev1").empty());
    CHECK(f.drain().empty());
  }
}

TEST_CASE("emulator::Hub feedback: purge records Purged for each message") {
  Fixture f;
  f.send("full", "a");
  f.send("positive", "b");  // positive: nothing for a purge
  f.send("negative", "c");
  CHECK(f.hub->purge_c2d("dev1") == 3);
  auto records = f.drain();
  REQUIRE(records.size() == 2);
  CHECK(records[0].original_message_id == "a");
  CHECK(records[0].status == FeedbackStatus::purged);
  CHECK(records[1].original_message_id == "c");
  CHECK(records[1].status == FeedbackStatus::purged);
}

TEST_CASE(
    "emulator::Hub feedback: the 11th delivery drops the message with DeliveryCountExceeded") {
  Fixture f;
  FakeSession s;
  f.online(s);
  f.send("full", "stuck");
  for (int i = 1; i < 10; ++i) f.clock.advance(60'000);  // each lock expiry redelivers
  CHECK(s.publishes().size() == 10);
  CHECK(f.hub->queued_c2d("dev1").size() == 1);
  CHECK_FALSE(f.hub->take_feedback());
  f.clock.advance(60'000);
  CHECK(s.publishes().size() == 10);  // not sent an 11th time
  CHECK(f.hub->queued_c2d("dev1").empty());
  auto records = f.drain();
  REQUIRE(records.size() == 1);
  CHECK(records[0].status == FeedbackStatus::delivery_count_exceeded);
  CHECK(records[0].original_message_id == "stuck");
  f.clock.advance(600'000);
  CHECK(s.publishes().size() == 10);
  CHECK_FALSE(s.closed);
}

TEST_CASE("emulator::Hub feedback: take, complete, abandon and lock expiry") {
  Fixture f;
  f.send("full", "a");
  f.send("full", "b");
  f.hub->purge_c2d("dev1");

  auto batch = f.hub->take_feedback();
  REQUIRE(batch);
  REQUIRE(batch->records.size() == 2);
  CHECK(batch->records[0].original_message_id == "a");
  CHECK(batch->records[1].original_message_id == "b");
  CHECK_FALSE(f.hub->take_feedback());  // locked

  SUBCASE("complete erases") {
    f.hub->complete_feedback(batch->lock);
    CHECK_FALSE(f.hub->take_feedback());
    f.clock.advance(120'000);
    CHECK_FALSE(f.hub->take_feedback());
    f.hub->complete_feedback(batch->lock);  // again: no-op
    f.hub->abandon_feedback(batch->lock);
    f.hub->complete_feedback(12345);
  }
  SUBCASE("abandon returns them") {
    f.hub->abandon_feedback(batch->lock);
    auto again = f.hub->take_feedback();
    REQUIRE(again);
    CHECK(again->records == batch->records);
    CHECK(again->lock != batch->lock);
    f.hub->complete_feedback(batch->lock);  // the old lock no longer holds anything
    CHECK_FALSE(f.hub->take_feedback());
  }
  SUBCASE("lock expiry returns them after 60 s") {
    f.clock.advance(59'999);
    CHECK_FALSE(f.hub->take_feedback());
    f.clock.advance(1);
    auto again = f.hub->take_feedback();
    REQUIRE(again);
    CHECK(again->records.size() == 2);
    f.hub->complete_feedback(batch->lock);  // expired lock: no-op
    f.hub->complete_feedback(again->lock);
    CHECK_FALSE(f.hub->take_feedback());
  }
  SUBCASE("records abandoned 10 times are dropped") {
    f.hub->abandon_feedback(batch->lock);
    for (std::uint32_t i = 1; i < azhub::core::limits::k_feedback_max_delivery_count; ++i) {
      auto b = f.hub->take_feedback();
      REQUIRE(b);
      f.hub->abandon_feedback(b->lock);
    }
    CHECK_FALSE(f.hub->take_feedback());
  }
}

TEST_CASE("emulator::Hub feedback: a batch holds at most k_feedback_batch_records") {
  Fixture f;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) f.send("full", fmt::format("m{}", round * 40 + i));
    f.hub->purge_c2d("dev1");
  }
  auto first = f.hub->take_feedback();
  REQUIRE(first);
  CHECK(first->records.size() == azhub::core::limits::k_feedback_batch_records);
  CHECK(first->records.front().original_message_id == "m0");
  auto second = f.hub->take_feedback();
  REQUIRE(second);
  const std::size_t batch = azhub::core::limits::k_feedback_batch_records;
  CHECK(second->records.size() == std::min<std::size_t>(120 - batch, batch));
  CHECK(second->records.front().original_message_id == fmt::format("m{}", batch));
}

TEST_CASE("emulator::Hub feedback survives a restart over the same store") {
  Fixture f;
  f.send("full", "a");
  f.send("full", "b");
  f.hub->purge_c2d("dev1");
  auto batch = f.hub->take_feedback();
  REQUIRE(batch);
  f.hub->abandon_feedback(batch->lock);
  auto locked = f.hub->take_feedback();  // locks do not survive: the records come back
  REQUIRE(locked);
  f.open();
  f.clock.advance(120'000);  // the old hub's lock timer must not fire into it
  f.send("full", "c");
  f.hub->purge_c2d("dev1");
  auto records = f.drain();
  REQUIRE(records.size() == 3);
  CHECK(records[0].original_message_id == "a");
  CHECK(records[1].original_message_id == "b");
  CHECK(records[2].original_message_id == "c");
  f.open();
  CHECK_FALSE(f.hub->take_feedback());  // completed ones are gone for good
}

TEST_CASE("emulator::Hub feedback older than an hour is dropped") {
  Fixture f;
  f.send("full", "old");
  f.hub->purge_c2d("dev1");
  f.clock.advance(azhub::core::limits::k_feedback_ttl_s * 1000 - 1);
  f.send("full", "new");
  f.hub->purge_c2d("dev1");
  SUBCASE("just under an hour: kept") {
    CHECK(f.drain().size() == 2);
  }
  SUBCASE("an hour: dropped on read") {
    f.clock.advance(1);
    auto records = f.drain();
    REQUIRE(records.size() == 1);
    CHECK(records[0].original_message_id == "new");
  }
}

TEST_CASE("emulator::Hub subscribe_feedback calls back later, once per change") {
  Fixture f;
  int calls = 0;
  ListenerId id = f.hub->subscribe_feedback([&] { ++calls; });
  f.clock.advance(0);
  CHECK(calls == 0);  // nothing waiting
  f.send("full", "a");
  f.send("full", "b");
  f.hub->purge_c2d("dev1");
  CHECK(calls == 0);  // never synchronously
  f.clock.advance(0);
  CHECK(calls == 1);  // two records, one call
  auto batch = f.hub->take_feedback();
  REQUIRE(batch);
  f.hub->abandon_feedback(batch->lock);
  f.clock.advance(0);
  CHECK(calls == 2);
  batch = f.hub->take_feedback();
  REQUIRE(batch);
  f.clock.advance(60'000);  // lock expired
  CHECK(calls == 3);

  int late = 0;
  ListenerId id2 = f.hub->subscribe_feedback([&] { ++late; });
  CHECK(late == 0);
  f.clock.advance(0);
  CHECK(late == 1);  // records were already waiting
  CHECK(calls == 4);

  f.hub->unsubscribe_feedback(id);
  f.hub->unsubscribe_feedback(id2);
  f.send("full", "c");
  f.hub->purge_c2d("dev1");
  f.clock.advance(0);
  CHECK(calls == 4);
  CHECK(late == 1);
}

TEST_CASE("emulator::Hub feedback in the SQLite store") {
  auto dir = std::filesystem::temp_directory_path() /
             fmt::format("azhub-feedback-test-{}", std::random_device{}());
  std::filesystem::create_directories(dir);
  {
    Fixture f(make_sqlite_store(dir));
    f.send("full", "a");
    f.send("negative", "b");
    f.hub->purge_c2d("dev1");
    auto batch = f.hub->take_feedback();
    REQUIRE(batch);
    f.hub->abandon_feedback(batch->lock);
  }
  {
    auto store = make_sqlite_store(dir);
    auto entries = store->load_feedback();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].record.original_message_id == "a");
    CHECK(entries[0].record.status == FeedbackStatus::purged);
    CHECK(entries[0].record.description == "Message purged");
    CHECK(entries[0].record.device_id == "dev1");
    CHECK_FALSE(entries[0].record.device_generation_id.empty());
    CHECK(entries[0].record.enqueued_ms == k_now_ms);
    CHECK(entries[0].delivery_count == 1);
    CHECK(entries[1].record.original_message_id == "b");
    store->erase_feedback(entries[0].id);
    CHECK(store->load_feedback().size() == 1);
  }
  std::filesystem::remove_all(dir);
}
