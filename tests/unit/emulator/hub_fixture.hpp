#pragma once
// A Hub over a memory store and a FakeClock with one device, dev1, for the Hub unit tests: SAS
// tokens, CONNECT packets and an MQTT session (FakeSession) brought online.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sas.hpp"
#include "emulator/hub.hpp"
#include "fake_clock.hpp"
#include "fake_session.hpp"

namespace azhub::emulator::testing {

struct HubFixture {
  std::unique_ptr<Store> store;
  FakeClock clock;
  std::unique_ptr<Hub> hub;
  IdentityRecord dev1;
  std::vector<std::string> logs;

  explicit HubFixture(std::unique_ptr<Store> s = make_memory_store()) : store(std::move(s)) {
    open();
    IdentityRecord r;
    r.key = {"dev1", {}};
    dev1 = hub->create_identity(r);
  }
  // A fresh Hub over the same store (a restart).
  void open() {
    hub.reset();
    HubOptions o;
    o.host_name = "hub.example";
    o.log = [this](int, std::string_view m) { logs.emplace_back(m); };
    hub = std::make_unique<Hub>(o, *store, clock);
  }
  // A SAS token for `key` signed with `k`.
  std::string token(const IdentityKey& key, const std::string& k, std::int64_t ttl_s = 3600) const {
    std::optional<std::string_view> module;
    if (key.module_id) module = *key.module_id;
    return core::build_sas_token(core::device_resource_uri("hub.example", key.device_id, module), k,
                                 clock.now / 1000 + ttl_s);
  }
  static mqtt::Connect connect_packet(const IdentityKey& key, const std::string& password, bool clean = false) {
    mqtt::Connect c;
    c.client_id = to_string(key);
    c.username = "hub.example/" + to_string(key) + "/?api-version=2021-04-12";
    c.password = password;
    c.clean_session = clean;
    return c;
  }
  mqtt::ConnectReturn connect(FakeSession& s, const IdentityKey& key, const std::string& password, bool clean = false,
                              ConnectInfo info = {}) {
    return hub->connect(s, connect_packet(key, password, clean), info).code;
  }
  // dev1 connected over MQTT with its primary key.
  FakeSession& online(FakeSession& s, bool clean = false) {
    REQUIRE(connect(s, dev1.key, token(dev1.key, dev1.primary_key), clean) == mqtt::ConnectReturn::accepted);
    clock.advance(0);
    return s;
  }
  void subscribe(FakeSession& s, std::vector<std::pair<std::string, std::uint8_t>> filters) {
    hub->handle_packet(s, mqtt::Subscribe{1, std::move(filters)});
  }
};

}  // namespace azhub::emulator::testing
