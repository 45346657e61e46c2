// The Event Hubs-compatible endpoint's view of captured D2C messages (emulator/hub*.cpp,
// docs/protocol.md §15.7): a device's partition (FNV-1a of its id, modulo 4), the sequence
// number in it, kept across a restart over the same store, numbered at load when missing.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/sas.hpp"
#include "emulator/hub.hpp"
#include "emulator/store.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"

using namespace azhub::emulator;
using azhub::emulator::testing::FakeClock;

using azhub::emulator::testing::FakeSession;

namespace {

constexpr const char* k_host = "hub.example";


struct Fixture {
  std::unique_ptr<Store> store;
  FakeClock clock;
  std::unique_ptr<Hub> hub;
  std::size_t keep = 10000;

  explicit Fixture(std::unique_ptr<Store> s = make_memory_store()) : store(std::move(s)) { open(); }
  void open() {
    hub.reset();
    HubOptions o;
    o.host_name = k_host;
    o.d2c_keep = keep;
    hub = std::make_unique<Hub>(o, *store, clock);
  }
  // Connects device `id` (created if new) on `s`.
  void online(FakeSession& s, const std::string& id) {
    IdentityKey key{id, {}};
    auto identity = hub->get_identity(key);
    if (!identity) {
      IdentityRecord r;
      r.key = key;
      identity = hub->create_identity(r);
    }
    mqtt::Connect c;
    c.client_id = id;
    c.username = std::string(k_host) + "/" + id + "/?api-version=2021-04-12";
    c.password = azhub::core::build_sas_token(azhub::core::device_resource_uri(k_host, id, std::nullopt),
                                              identity->primary_key, clock.now / 1000 + 7200);
    c.clean_session = true;
    REQUIRE(hub->connect(s, c, {}).code == mqtt::ConnectReturn::accepted);
  }
  void send(FakeSession& s, const std::string& id, const std::string& body) {
    hub->handle_packet(s, mqtt::Publish{"devices/" + id + "/messages/events/", body, 0, false, false, 0});
  }
};

// FNV-1a 32-bit, independently.
std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 0x811c9dc5u;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 0x01000193u;
  }
  return h;
}

}  // namespace

TEST_CASE("emulator::d2c_partition_of: FNV-1a of the device id, modulo 4") {
  CHECK(k_d2c_partitions == 4);
  // Known answers (FNV-1a("a") = 0xe40c292c).
  CHECK(fnv1a("a") == 0xe40c292cu);
  CHECK(d2c_partition_of("a") == 0xe40c292cu % 4);
  CHECK(d2c_partition_of("") == 0x811c9dc5u % 4);
  CHECK(d2c_partition_of("dev1") == 3);
  CHECK(d2c_partition_of("dev2") == 2);
  CHECK(d2c_partition_of("dev3") == 1);
  CHECK(d2c_partition_of("dev4") == 0);
  for (const char* id : {"dev1", "sensor-42", "x", "Thermostat", "a.b-c_d", "\xc3\xa9t\xc3\xa9"}) {
    CAPTURE(id);
    CHECK(d2c_partition_of(id) == fnv1a(id) % 4);
    CHECK(d2c_partition_of(id) < k_d2c_partitions);
  }
  // Case matters: device ids are case-sensitive.
  CHECK(d2c_partition_of("Dev1") == fnv1a("Dev1") % 4);
}

TEST_CASE("emulator::Hub D2C partitions: each message gets its device's partition and the next number there") {
  Fixture f;
  FakeSession s1, s2, s4, s5;
  f.online(s1, "dev1");  // partition 3
  f.online(s2, "dev2");  // partition 2
  f.online(s4, "dev4");  // partition 0
  f.online(s5, "dev5");  // partition 3, like dev1
  f.send(s1, "dev1", "a");
  f.send(s2, "dev2", "b");
  f.send(s1, "dev1", "c");
  f.send(s5, "dev5", "d");
  f.send(s4, "dev4", "e");
  f.send(s2, "dev2", "f");
  const auto& retained = f.hub->d2c_retained();
  REQUIRE(retained.size() == 6);
  struct Want {
    const char* body;
    std::uint32_t partition;
    std::int64_t sequence;
  };
  const std::array<Want, 6> want{{{"a", 3, 0}, {"b", 2, 0}, {"c", 3, 1}, {"d", 3, 2}, {"e", 0, 0}, {"f", 2, 1}}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    CAPTURE(i);
    CHECK(retained[i].body == want[i].body);
    CHECK(retained[i].sequence_number == i + 1);
    CHECK(retained[i].partition == want[i].partition);
    CHECK(retained[i].partition_sequence == want[i].sequence);
  }
  CHECK(f.hub->last_d2c_sequence() == 6);
  // d2c_since sees the same numbers.
  const auto since = f.hub->d2c_since(2, 10);
  REQUIRE(since.size() == 4);
  CHECK(since[0].partition == 3);
  CHECK(since[0].partition_sequence == 1);
}

TEST_CASE("emulator::Hub D2C partitions: listeners see the numbered message") {
  Fixture f;
  FakeSession s;
  f.online(s, "dev1");
  std::vector<D2cMessage> seen;
  f.hub->subscribe_d2c([&](const D2cMessage& m) { seen.push_back(m); });
  f.send(s, "dev1", "x");
  f.send(s, "dev1", "y");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].partition == 3);
  CHECK(seen[0].partition_sequence == 0);
  CHECK(seen[1].partition_sequence == 1);
}

TEST_CASE("emulator::Hub D2C partitions: numbering goes on after old messages are dropped") {
  Fixture f;
  f.keep = 2;
  f.open();
  FakeSession s;
  f.online(s, "dev1");
  for (const char* b : {"0", "1", "2", "3", "4"}) f.send(s, "dev1", b);
  const auto& retained = f.hub->d2c_retained();
  REQUIRE(retained.size() == 2);
  CHECK(retained[0].body == "3");
  CHECK(retained[0].partition_sequence == 3);
  CHECK(retained[1].partition_sequence == 4);
}

TEST_CASE("emulator::Hub D2C partitions: kept across a restart over the same store") {
  Fixture f;
  {
    FakeSession s1, s2;
    f.online(s1, "dev1");
    f.online(s2, "dev2");
    f.send(s1, "dev1", "a");
    f.send(s1, "dev1", "b");
    f.send(s2, "dev2", "c");
    f.hub->disconnected(s1, true);
    f.hub->disconnected(s2, true);
  }
  f.open();
  {
    const auto& retained = f.hub->d2c_retained();
    REQUIRE(retained.size() == 3);
    CHECK(retained[0].partition == 3);
    CHECK(retained[0].partition_sequence == 0);
    CHECK(retained[1].partition_sequence == 1);
    CHECK(retained[2].partition == 2);
    CHECK(retained[2].partition_sequence == 0);
    CHECK(f.hub->last_d2c_sequence() == 3);
  }
  // New messages continue each partition's numbering.
  FakeSession s1, s4;
  f.online(s1, "dev1");
  f.online(s4, "dev4");
  f.send(s1, "dev1", "d");
  f.send(s4, "dev4", "e");
  const auto& retained = f.hub->d2c_retained();
  REQUIRE(retained.size() == 5);
  CHECK(retained[3].sequence_number == 4);
  CHECK(retained[3].partition == 3);
  CHECK(retained[3].partition_sequence == 2);
  CHECK(retained[4].partition == 0);
  CHECK(retained[4].partition_sequence == 0);
}

TEST_CASE("emulator::Hub D2C partitions: stored messages without numbers are numbered at load, in capture order") {
  std::unique_ptr<Store> store = make_memory_store();
  auto row = [](std::uint64_t seq, const char* device, std::int64_t partition_sequence, std::uint32_t partition = 0) {
    D2cMessage m;
    m.sequence_number = seq;
    m.enqueued_ms = 1'800'000'000'000 + static_cast<std::int64_t>(seq);
    m.source = IdentityKey{device, {}};
    m.body = "m" + std::to_string(seq);
    m.partition = partition;
    m.partition_sequence = partition_sequence;
    return m;
  };
  store->put_d2c(row(1, "dev1", -1), 100);
  store->put_d2c(row(2, "dev2", -1), 100);
  store->put_d2c(row(3, "dev1", -1), 100);
  Fixture f(std::move(store));
  const auto& retained = f.hub->d2c_retained();
  REQUIRE(retained.size() == 3);
  CHECK(retained[0].partition == 3);
  CHECK(retained[0].partition_sequence == 0);
  CHECK(retained[1].partition == 2);
  CHECK(retained[1].partition_sequence == 0);
  CHECK(retained[2].partition == 3);
  CHECK(retained[2].partition_sequence == 1);
  CHECK(f.hub->last_d2c_sequence() == 3);
  FakeSession s;
  f.online(s, "dev1");
  f.send(s, "dev1", "new");
  REQUIRE(f.hub->d2c_retained().size() == 4);
  CHECK(f.hub->d2c_retained().back().sequence_number == 4);
  CHECK(f.hub->d2c_retained().back().partition_sequence == 2);
}

TEST_CASE("emulator::Hub D2C partitions: stored numbers are kept, and new ones follow the highest") {
  std::unique_ptr<Store> store = make_memory_store();
  D2cMessage m;
  m.sequence_number = 7;
  m.source = IdentityKey{"dev1", {}};
  m.partition = 3;
  m.partition_sequence = 41;
  store->put_d2c(m, 100);
  Fixture f(std::move(store));
  REQUIRE(f.hub->d2c_retained().size() == 1);
  CHECK(f.hub->d2c_retained()[0].partition_sequence == 41);
  FakeSession s;
  f.online(s, "dev1");
  f.send(s, "dev1", "next");
  REQUIRE(f.hub->d2c_retained().size() == 2);
  CHECK(f.hub->d2c_retained()[1].sequence_number == 8);
  CHECK(f.hub->d2c_retained()[1].partition_sequence == 42);
}

TEST_CASE("emulator::Hub D2C partitions: a SQLite store keeps partition and number across a restart") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("azhub-partitions-test-" + std::to_string(static_cast<unsigned long long>(::getpid())));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    Fixture f(make_sqlite_store(dir));
    FakeSession s1, s2;
    f.online(s1, "dev1");
    f.online(s2, "dev2");
    f.send(s1, "dev1", "a");
    f.send(s2, "dev2", "b");
    f.send(s1, "dev1", "c");
    f.hub->disconnected(s1, true);
    f.hub->disconnected(s2, true);
  }
  {
    Fixture f(make_sqlite_store(dir));
    const auto& retained = f.hub->d2c_retained();
    REQUIRE(retained.size() == 3);
    CHECK(retained[0].partition == 3);
    CHECK(retained[0].partition_sequence == 0);
    CHECK(retained[1].partition == 2);
    CHECK(retained[1].partition_sequence == 0);
    CHECK(retained[2].partition == 3);
    CHECK(retained[2].partition_sequence == 1);
  }
  std::filesystem::remove_all(dir);
}
