// Group commit (docs/conventions.md §6): the SQLite store gathers writes into one transaction,
// Hub commits at the end of the event-loop turn (or after HubOptions::commit_delay), and
// nothing waiting in Hub::when_durable runs before the commit, or at all if the commit fails.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "emulator/hub.hpp"
#include "emulator/store.hpp"
#include "hub_fixture.hpp"

namespace azhub::emulator {
namespace {

using testing::FakeClock;
using testing::FakeSession;
using testing::HubFixture;

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               fmt::format("azhub-commit-test-{}", std::random_device{}());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

IdentityRecord identity(const std::string& id) {
  IdentityRecord r;
  r.key = {id, {}};
  r.primary_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
  r.secondary_key = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
  return r;
}

// A memory store with transactions: writes are "pending" until commit(), which can be made to
// fail. Counts commits.
class GroupStore final : public Store {
 public:
  std::unique_ptr<Store> inner = make_memory_store();
  int commits = 0;
  bool fail_next_commit = false;
  bool in_tx = false;
  std::function<void()> on_pending;

  void wrote() {
    if (in_tx) return;
    in_tx = true;
    if (on_pending) on_pending();
  }
  StoreSnapshot load() override { return inner->load(); }
  void put_identity(const IdentityRecord& r) override { wrote(), inner->put_identity(r); }
  void erase_identity(const IdentityKey& k) override { wrote(), inner->erase_identity(k); }
  void put_twin(const TwinRecord& t) override { wrote(), inner->put_twin(t); }
  void put_c2d(const QueuedC2dMessage& m) override { wrote(), inner->put_c2d(m); }
  void erase_c2d(std::uint64_t id) override { wrote(), inner->erase_c2d(id); }
  void erase_c2d_of(const std::string& d) override { wrote(), inner->erase_c2d_of(d); }
  std::vector<FeedbackEntry> load_feedback() override { return inner->load_feedback(); }
  void put_feedback(const FeedbackEntry& e) override { wrote(), inner->put_feedback(e); }
  void erase_feedback(std::uint64_t id) override { wrote(), inner->erase_feedback(id); }
  void put_d2c(const D2cMessage& m, std::size_t keep) override { wrote(), inner->put_d2c(m, keep); }
  void put_policy(const Policy& p) override { wrote(), inner->put_policy(p); }
  std::vector<core::jobs::Job> load_jobs() override { return inner->load_jobs(); }
  std::vector<core::jobs::DeviceJob> load_device_jobs() override { return inner->load_device_jobs(); }
  void put_job(const core::jobs::Job& j) override { wrote(), inner->put_job(j); }
  void put_device_jobs(const std::vector<core::jobs::DeviceJob>& j) override { wrote(), inner->put_device_jobs(j); }
  void put_session(const SessionRecord& r) override { wrote(), inner->put_session(r); }
  void erase_session(const IdentityKey& k) override { wrote(), inner->erase_session(k); }
  bool pending() const override { return in_tx; }
  void set_on_pending(std::function<void()> fn) override { on_pending = std::move(fn); }
  void commit() override {
    if (!in_tx) return;
    if (fail_next_commit) throw core::Error(core::ExitCode::failure, "state database: cannot commit: disk is full");
    in_tx = false;
    ++commits;
  }
};

void telemetry(HubFixture& f, FakeSession& s, std::uint16_t packet_id) {
  f.hub->handle_packet(s, mqtt::Publish{"devices/dev1/messages/events/", "m", 1, false, false, packet_id});
}

}  // namespace

TEST_CASE("emulator SQLite store: writes are one transaction until commit(), and a clean close commits") {
  TempDir dir;
  auto store = make_sqlite_store(dir.path);
  int pending_calls = 0;
  store->set_on_pending([&] { ++pending_calls; });
  CHECK_FALSE(store->pending());
  store->put_identity(identity("a"));
  store->put_identity(identity("b"));
  CHECK(store->pending());
  CHECK(pending_calls == 1);  // once per group, not per write
  // Another connection to the same database sees nothing of an open group.
  CHECK(make_sqlite_store(dir.path)->load().identities.empty());
  store->commit();
  CHECK_FALSE(store->pending());
  CHECK(make_sqlite_store(dir.path)->load().identities.size() == 2);

  store->put_identity(identity("c"));
  CHECK(pending_calls == 2);
  store.reset();  // a clean stop between a write and its commit
  CHECK(make_sqlite_store(dir.path)->load().identities.size() == 3);
}

TEST_CASE("emulator SQLite store: a several-statement write inside a group is whole") {
  TempDir dir;
  auto store = make_sqlite_store(dir.path);
  store->put_identity(identity("a"));
  TwinRecord t;
  t.key = {"a", {}};
  store->put_twin(t);
  store->erase_identity({"a", {}});  // identity, twin, session and C2D rows, in one savepoint
  store->put_identity(identity("b"));
  store->commit();
  auto snap = make_sqlite_store(dir.path)->load();
  REQUIRE(snap.identities.size() == 1);
  CHECK(snap.identities[0].key.device_id == "b");
  CHECK(snap.twins.empty());
}

TEST_CASE("emulator::Hub group commit: one commit for a turn's writes, and waiters run only after it") {
  auto owned = std::make_unique<GroupStore>();
  GroupStore& store = *owned;
  HubFixture f(std::move(owned));
  f.clock.advance(0);  // dev1's creation is committed
  const int before = store.commits;
  CHECK(f.hub->durable());

  FakeSession s;
  f.online(s);
  f.clock.advance(0);
  for (std::uint16_t id = 1; id <= 5; ++id) telemetry(f, s, id);
  CHECK_FALSE(f.hub->durable());
  int ran = 0;
  f.hub->when_durable([&] { ++ran; });
  f.hub->when_durable([&] { ++ran; });
  CHECK(ran == 0);  // not inside the call, and not before the commit
  f.clock.advance(0);
  CHECK(ran == 2);
  CHECK(store.commits == before + 2);  // the session's connect, then the five captures in one
  CHECK(f.hub->durable());

  // Nothing pending: the waiter still runs later, never inside the call.
  f.hub->when_durable([&] { ++ran; });
  CHECK(ran == 2);
  f.clock.advance(0);
  CHECK(ran == 3);
}

TEST_CASE("emulator::Hub group commit: commit_delay holds waiters until it has passed") {
  auto owned = std::make_unique<GroupStore>();
  GroupStore& store = *owned;
  FakeClock clock;
  HubOptions o;
  o.commit_delay = std::chrono::milliseconds(50);
  Hub hub(o, store, clock);
  hub.create_identity(identity("dev1"));
  int ran = 0;
  hub.when_durable([&] { ++ran; });
  clock.advance(49);
  CHECK(ran == 0);
  CHECK_FALSE(hub.durable());
  clock.advance(1);
  CHECK(ran == 1);
  CHECK(store.commits == 1);
}

TEST_CASE("emulator::Hub group commit: a failed commit reports once and releases no waiter") {
  auto owned = std::make_unique<GroupStore>();
  GroupStore& store = *owned;
  FakeClock clock;
  std::vector<std::string> failures;
  HubOptions o;
  o.on_store_failure = [&](std::string_view why) { failures.emplace_back(why); };
  Hub hub(o, store, clock);
  clock.advance(0);
  store.fail_next_commit = true;
  hub.create_identity(identity("dev1"));
  int ran = 0;
  hub.when_durable([&] { ++ran; });
  clock.advance(0);
  CHECK(ran == 0);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0] == "state database: cannot commit: disk is full");
  CHECK_FALSE(hub.durable());
  // Later writes and waiters: still nothing is released, and the failure is not reported again.
  hub.create_identity(identity("dev2"));
  hub.when_durable([&] { ++ran; });
  clock.advance(1000);
  CHECK(ran == 0);
  CHECK(failures.size() == 1);
}

}  // namespace azhub::emulator
