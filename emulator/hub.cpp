// Hub: construction, policies, service authorization and the identity registry. Twins, messages,
// methods and the device plane live in hub_twin.cpp, hub_messages.cpp, hub_methods.cpp and
// hub_device_plane.cpp.
#include "emulator/hub.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <cctype>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/identity.hpp"
#include "core/sas.hpp"
#include "core/text.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

std::string to_string(const IdentityKey& key) {
  return key.module_id ? key.device_id + "/" + *key.module_id : key.device_id;
}

std::string_view to_string(AuthType type) {
  switch (type) {
    case AuthType::sas: return "sas";
    case AuthType::self_signed: return "selfSigned";
    case AuthType::certificate_authority: return "certificateAuthority";
    case AuthType::none: return "none";
  }
  return "none";
}

std::optional<AuthType> parse_auth_type(std::string_view text) {
  if (text == "sas") return AuthType::sas;
  if (text == "selfSigned") return AuthType::self_signed;
  if (text == "certificateAuthority") return AuthType::certificate_authority;
  if (text == "none") return AuthType::none;
  return std::nullopt;
}

std::string counter_etag(std::uint64_t counter) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<char>(counter & 0xFF);
    counter >>= 8;
  }
  return core::base64_encode(bytes);
}

bool if_match_ok(std::optional<std::string_view> if_match, std::string_view etag) {
  if (!if_match) return true;
  std::string_view v = *if_match;
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  return v == "*" || v == etag;
}

std::string random_base64(std::size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(bytes)) != 1)
    throw HubError(500001, "random number generator failed");
  return core::base64_encode(buf);
}

std::string random_hex(std::size_t bytes) {
  std::string buf(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(bytes)) != 1)
    throw HubError(500001, "random number generator failed");
  std::string out;
  for (unsigned char c : buf) out += fmt::format("{:02x}", c);
  return out;
}

namespace {

Policy make_policy(std::string name, unsigned rights) {
  return Policy{std::move(name), random_base64(32), random_base64(32), rights};
}

std::vector<Policy> default_policies() {
  return {
      make_policy("iothubowner", right_registry_read | right_registry_write |
                                     right_service_connect | right_device_connect),
      make_policy("service", right_service_connect),
      make_policy("device", right_device_connect),
      make_policy("registryRead", right_registry_read),
      make_policy("registryReadWrite", right_registry_read | right_registry_write),
  };
}

TwinRecord new_twin(const IdentityKey& key) {
  TwinRecord twin;
  twin.key = key;
  return twin;
}

void validate_credentials(IdentityRecord& r) {
  if (r.auth_type == AuthType::sas) {
    for (const std::string* key : {&r.primary_key, &r.secondary_key}) {
      if (!key->empty()) core::validate_symmetric_key(*key, "symmetric key");
    }
    if (r.primary_key.empty()) r.primary_key = random_base64(32);
    if (r.secondary_key.empty()) r.secondary_key = random_base64(32);
    r.primary_thumbprint.reset();
    r.secondary_thumbprint.reset();
  } else {
    r.primary_key.clear();
    r.secondary_key.clear();
  }
  if (r.auth_type == AuthType::self_signed) {
    if (!r.primary_thumbprint || r.primary_thumbprint->empty())
      throw HubError(400004, "selfSigned authentication needs a primary thumbprint");
    for (auto* t : {&r.primary_thumbprint, &r.secondary_thumbprint}) {
      if (!*t || (*t)->empty()) {
        t->reset();
        continue;
      }
      core::validate_thumbprint(**t, "thumbprint");
    }
  } else if (r.auth_type != AuthType::sas) {
    r.primary_thumbprint.reset();
    r.secondary_thumbprint.reset();
  }
}

}  // namespace

// --- State helpers ------------------------------------------------------------------------

HubError Hub::State::not_found(const IdentityKey& key) const {
  // A module of a missing device is DeviceNotFound, as the service answers.
  if (key.module_id && identities.count(IdentityKey{key.device_id, {}}) != 0)
    return HubError(404010, fmt::format("module '{}' not found on device '{}'", *key.module_id,
                                        key.device_id));
  return HubError(404001, fmt::format("device '{}' not found", key.device_id));
}

IdentityRecord& Hub::State::identity_or_throw(const IdentityKey& key) {
  auto it = identities.find(key);
  if (it == identities.end()) throw not_found(key);
  return it->second;
}

TwinRecord& Hub::State::twin_or_throw(const IdentityKey& key) {
  identity_or_throw(key);
  return twins.at(key);
}

IdentityRecord Hub::State::with_runtime(const IdentityRecord& record) const {
  IdentityRecord r = record;
  r.connected = current.count(r.key) != 0;
  auto changed = connection_changed_ms.find(r.key);
  r.connection_state_updated_ms = changed == connection_changed_ms.end() ? 0 : changed->second;
  if (!r.key.module_id) {
    auto q = c2d.find(r.key.device_id);
    std::int64_t t = now();
    r.c2d_message_count = q == c2d.end() ? 0
                                         : static_cast<std::size_t>(std::count_if(
                                               q->second.begin(), q->second.end(),
                                               [t](const QueuedC2dMessage& m) { return m.expiry_ms > t; }));
  }
  return r;
}

std::string Hub::State::new_etag() {
  // Opaque to clients (§8.2); base64 of decimal digits like the real deviceEtag.
  return core::base64_encode(fmt::format("{}{}", now(), next_etag++));
}

Connection* Hub::State::connection_of(const IdentityKey& key) {
  auto it = current.find(key);
  if (it == current.end()) return nullptr;
  return &connections.at(it->second);
}

void Hub::State::close_connection(const IdentityKey& key, std::string_view reason) {
  auto it = current.find(key);
  if (it == current.end()) return;
  Session* session = it->second;
  // Let go first, so the session's later disconnected() is a no-op and no Will is sent for a
  // connection the hub ended itself.
  Connection& c = connections.at(session);
  if (c.expiry_timer != 0) clock.cancel_timer(c.expiry_timer);
  connections.erase(session);
  current.erase(it);
  connection_changed_ms[key] = now();
  log(1, "closing connection of {}: {}", to_string(key), reason);
  session->close(reason);
}

std::uint16_t Hub::State::next_packet_id(Connection& c) {
  std::uint16_t id = c.next_packet_id;
  c.next_packet_id = static_cast<std::uint16_t>(id == 65535 ? 1 : id + 1);
  return id;
}

// --- Hub ----------------------------------------------------------------------------------

void Hub::State::schedule_commit() {
  if (commit_scheduled || store_failed) return;
  commit_scheduled = true;
  start_loose_timer(options.commit_delay, [this] {
    commit_scheduled = false;
    commit_now();
  });
}

void Hub::State::commit_now() {
  if (store_failed) return;
  try {
    store.commit();
  } catch (const core::Error& e) {
    // Nothing written since the last commit is durable: what waits for it is never sent.
    store_failed = true;
    durable_waiters.clear();
    log(1, "emulator: {}", e.what());
    if (options.on_store_failure) options.on_store_failure(e.what());
    return;
  }
  // A waiter may write (and wait) again: it joins the next group.
  auto waiters = std::move(durable_waiters);
  durable_waiters.clear();
  for (auto& then : waiters) then();
}

bool Hub::durable() const { return !m_state->store.pending() && !m_state->store_failed; }

void Hub::when_durable(std::function<void()> then) {
  State& s = *m_state;
  if (s.store_failed) return;
  if (!s.store.pending()) {
    s.start_loose_timer(std::chrono::milliseconds(0), std::move(then));
    return;
  }
  s.durable_waiters.push_back(std::move(then));
  s.schedule_commit();
}

Hub::Hub(HubOptions options, Store& store, Clock& clock)
    : m_state(std::make_unique<State>(std::move(options), store, clock)) {
  State& s = *m_state;
  s.hub = this;
  StoreSnapshot snap = store.load();
  for (auto& r : snap.identities) s.identities[r.key] = std::move(r);
  for (auto& t : snap.twins) s.twins[t.key] = std::move(t);
  for (auto& m : snap.c2d) {
    s.last_c2d_id = std::max(s.last_c2d_id, m.id);
    s.c2d[m.device_id].push_back(std::move(m));
  }
  for (auto& m : snap.d2c) {
    s.last_d2c_sequence = std::max(s.last_d2c_sequence, m.sequence_number);
    // Captured before partitions existed: numbered now, in capture order.
    if (m.partition_sequence < 0) {
      s.assign_partition(m);
    } else {
      s.last_partition_sequence[m.partition] = std::max(s.last_partition_sequence[m.partition], m.partition_sequence);
    }
    s.d2c.push_back(std::move(m));
  }
  for (auto& r : snap.sessions) s.sessions[r.key] = std::move(r);
  s.policies = std::move(snap.policies);
  if (s.policies.empty()) {
    s.policies = default_policies();
    for (const auto& p : s.policies) store.put_policy(p);
  }
  // A twin for every identity, even if the store lost track of one.
  for (const auto& [key, record] : s.identities) {
    if (s.twins.count(key) == 0) s.twins[key] = new_twin(key);
  }
  for (const auto& [device, queue] : s.c2d) {
    for (const auto& m : queue) s.arm_c2d_expiry(m);
  }
  s.load_jobs();
}

Hub::~Hub() {
  // Waiters hold their connections; let those go while the state they may call is whole.
  m_state->durable_waiters.clear();
  m_state->store.set_on_pending(nullptr);
  // A clean stop: what was written is committed (nothing waiting for it runs any more).
  if (!m_state->store_failed) {
    try {
      m_state->store.commit();
    } catch (const core::Error& e) {
      m_state->log(1, "emulator: {}", e.what());
    }
  }
  for (const auto& [id, timer] : m_state->c2d_expiry_timers) m_state->clock.cancel_timer(timer);
  for (const auto& [token, lock] : m_state->http_c2d_locks) m_state->clock.cancel_timer(lock.timer);
  for (const TimerId id : m_state->loose_timers) m_state->clock.cancel_timer(id);
  for (auto& [rid, call] : m_state->methods) {
    if (call.timer != 0) m_state->clock.cancel_timer(call.timer);
  }
  for (auto& [session, c] : m_state->connections) {
    if (c.expiry_timer != 0) m_state->clock.cancel_timer(c.expiry_timer);
  }
  for (auto& [id, run] : m_state->jobs) m_state->cancel_job_timers(run);
}

const std::string& Hub::host_name() const noexcept { return m_state->options.host_name; }

const std::vector<Policy>& Hub::policies() const noexcept { return m_state->policies; }

const Policy* Hub::find_policy(std::string_view name) const {
  for (const auto& p : m_state->policies) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

IdentityRecord Hub::create_identity(IdentityRecord record) {
  State& s = *m_state;
  try {
    core::validate_identity_id(record.key.device_id, "deviceId");
    if (record.key.module_id) core::validate_identity_id(*record.key.module_id, "moduleId");
  } catch (const core::Error& e) {
    throw HubError(400004, e.what());
  }
  if (record.key.module_id && s.identities.count(IdentityKey{record.key.device_id, {}}) == 0)
    throw HubError(404001, fmt::format("device '{}' not found", record.key.device_id));
  if (s.identities.count(record.key) != 0) {
    if (record.key.module_id)
      throw HubError(409301, fmt::format("module '{}' already exists", to_string(record.key)));
    throw HubError(409001, fmt::format("device '{}' already exists", record.key.device_id));
  }
  validate_credentials(record);
  record.generation_id = fmt::format("6{:017}", static_cast<std::uint64_t>(s.now()) * 10000 +
                                                   s.next_etag % 10000);
  record.etag = s.new_etag();
  record.connected = false;
  record.c2d_message_count = 0;
  record.connection_state_updated_ms = 0;
  if (record.status_updated_ms == 0 && record.status == DeviceStatus::disabled)
    record.status_updated_ms = s.now();
  TwinRecord twin = new_twin(record.key);
  s.store.put_identity(record);
  s.store.put_twin(twin);
  s.identities[record.key] = record;
  s.twins[record.key] = std::move(twin);
  s.log(1, "registry: created {} ({})", to_string(record.key), to_string(record.auth_type));
  return s.with_runtime(record);
}

IdentityRecord Hub::update_identity(IdentityRecord record, std::optional<std::string_view> if_match) {
  State& s = *m_state;
  IdentityRecord& existing = s.identity_or_throw(record.key);
  if (!if_match_ok(if_match, existing.etag))
    throw HubError(412001, fmt::format("etag of '{}' does not match If-Match", to_string(record.key)));
  if (record.auth_type == AuthType::sas && record.primary_key.empty() &&
      existing.auth_type == AuthType::sas) {
    record.primary_key = existing.primary_key;
    record.secondary_key = existing.secondary_key.empty() ? record.secondary_key : existing.secondary_key;
  }
  validate_credentials(record);
  IdentityRecord updated = existing;
  bool credentials_changed = updated.auth_type != record.auth_type ||
                             updated.primary_key != record.primary_key ||
                             updated.secondary_key != record.secondary_key ||
                             updated.primary_thumbprint != record.primary_thumbprint ||
                             updated.secondary_thumbprint != record.secondary_thumbprint;
  if (updated.status != record.status) updated.status_updated_ms = s.now();
  updated.status = record.status;
  updated.status_reason = record.status_reason;
  updated.auth_type = record.auth_type;
  updated.primary_key = record.primary_key;
  updated.secondary_key = record.secondary_key;
  updated.primary_thumbprint = record.primary_thumbprint;
  updated.secondary_thumbprint = record.secondary_thumbprint;
  updated.iot_edge = record.iot_edge;
  if (record.key.module_id) updated.managed_by = record.managed_by;
  updated.etag = s.new_etag();
  s.store.put_identity(updated);
  existing = updated;
  s.log(1, "registry: updated {}", to_string(record.key));
  if (updated.status == DeviceStatus::disabled) {
    s.close_connection(record.key, "identity disabled");
    if (!record.key.module_id) {
      for (auto& [key, r] : s.identities) {
        if (key.module_id && key.device_id == record.key.device_id)
          s.close_connection(key, "device disabled");
      }
    }
  } else if (credentials_changed) {
    s.close_connection(record.key, "credentials changed");
  }
  return s.with_runtime(updated);
}

HubError Hub::not_found(const IdentityKey& key) const { return m_state->not_found(key); }

std::optional<IdentityRecord> Hub::get_identity(const IdentityKey& key) const {
  auto it = m_state->identities.find(key);
  if (it == m_state->identities.end()) return std::nullopt;
  return m_state->with_runtime(it->second);
}

std::vector<IdentityRecord> Hub::list_devices() const {
  std::vector<IdentityRecord> out;
  for (const auto& [key, r] : m_state->identities) {
    if (!key.module_id) out.push_back(m_state->with_runtime(r));
  }
  return out;
}

std::vector<IdentityKey> Hub::identity_keys(const std::optional<IdentityKey>& after, bool modules,
                                            std::size_t max) const {
  const auto& ids = m_state->identities;
  std::vector<IdentityKey> out;
  for (auto it = after ? ids.upper_bound(*after) : ids.begin(); it != ids.end() && out.size() < max; ++it) {
    if (it->first.module_id.has_value() == modules) out.push_back(it->first);
  }
  return out;
}

std::vector<IdentityRecord> Hub::list_modules(const std::string& device_id) const {
  m_state->identity_or_throw(IdentityKey{device_id, {}});
  std::vector<IdentityRecord> out;
  for (const auto& [key, r] : m_state->identities) {
    if (key.module_id && key.device_id == device_id) out.push_back(m_state->with_runtime(r));
  }
  return out;
}

void Hub::delete_identity(const IdentityKey& key, std::optional<std::string_view> if_match) {
  State& s = *m_state;
  IdentityRecord& existing = s.identity_or_throw(key);
  if (!if_match_ok(if_match, existing.etag))
    throw HubError(412001, fmt::format("etag of '{}' does not match If-Match", to_string(key)));
  s.store.erase_identity(key);
  std::vector<IdentityKey> gone{key};
  if (!key.module_id) {
    for (const auto& [k, r] : s.identities) {
      if (k.module_id && k.device_id == key.device_id) gone.push_back(k);
    }
    s.c2d.erase(key.device_id);
  }
  for (const auto& k : gone) {
    s.close_connection(k, "identity deleted");
    s.identities.erase(k);
    s.twins.erase(k);
    s.sessions.erase(k);
  }
  s.log(1, "registry: deleted {}", to_string(key));
}

bool Hub::is_connected(const IdentityKey& key) const { return m_state->current.count(key) != 0; }

void Hub::close_all(std::string_view reason) {
  std::vector<IdentityKey> keys;
  for (const auto& [key, session] : m_state->current) keys.push_back(key);
  for (const auto& key : keys) m_state->close_connection(key, reason);
}

}  // namespace azhub::emulator
