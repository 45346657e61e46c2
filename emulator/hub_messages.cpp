// Hub: cloud-to-device queues (docs/protocol.md §6; their feedback records are in
// hub_feedback.cpp) and device-to-cloud capture (§2.5, §11).
#include <algorithm>

#include <fmt/format.h>

#include "core/amqp_message.hpp"
#include "core/duration.hpp"
#include "core/feedback.hpp"
#include "core/limits.hpp"
#include "core/topics.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

QueuedC2dMessage Hub::send_c2d(const std::string& device_id, C2dSend message) {
  State& s = *m_state;
  IdentityKey key{device_id, {}};
  s.identity_or_throw(key);
  s.drop_expired_c2d(device_id);
  auto& queue = s.c2d[device_id];
  if (queue.size() >= core::limits::k_c2d_queue_depth)
    throw HubError(403004, fmt::format("C2D queue of '{}' is full ({} messages)", device_id,
                                       core::limits::k_c2d_queue_depth));
  std::int64_t now = s.now();
  QueuedC2dMessage m;
  m.device_id = device_id;
  m.body = std::move(message.body);
  m.properties = std::move(message.properties);
  m.properties.system.to = fmt::format("/devices/{}/messages/deviceBound", device_id);
  if (!m.properties.system.message_id) m.properties.system.message_id = random_hex(16);
  if (m.properties.system.ack && *m.properties.system.ack == "none") m.properties.system.ack.reset();
  if (message.expiry_ms) {
    if (*message.expiry_ms <= now) throw HubError(400004, "C2D expiry is in the past");
    if (*message.expiry_ms > now + core::limits::k_c2d_max_ttl_s * 1000)
      throw HubError(400004, "C2D expiry is more than 48 hours away");
    m.expiry_ms = *message.expiry_ms;
    m.properties.system.expiry = core::format_iso8601(m.expiry_ms, true);
  } else {
    m.expiry_ms = now + core::limits::k_c2d_default_ttl_s * 1000;
  }
  std::size_t size = core::message_size(m.body, m.properties);
  if (size > core::limits::k_c2d_message_bytes)
    throw HubError(413001, fmt::format("C2D message is {} bytes, over the {} byte limit", size,
                                       core::limits::k_c2d_message_bytes));
  m.enqueued_ms = now;
  m.id = ++s.last_c2d_id;
  s.store.put_c2d(m);
  queue.push_back(m);
  s.arm_c2d_expiry(m);
  s.log(1, "c2d: queued message for {} ({} queued)", device_id, queue.size());
  if (Connection* c = s.connection_of(key)) s.deliver_c2d(*c);
  return m;
}

std::size_t Hub::purge_c2d(const std::string& device_id) {
  State& s = *m_state;
  s.identity_or_throw(IdentityKey{device_id, {}});
  auto it = s.c2d.find(device_id);
  std::size_t n = it == s.c2d.end() ? 0 : it->second.size();
  if (it != s.c2d.end()) {
    for (const auto& m : it->second) s.feedback(m, core::FeedbackStatus::purged);
  }
  s.store.erase_c2d_of(device_id);
  s.c2d.erase(device_id);
  // Acks for purged in-flight messages then match nothing, which complete_c2d tolerates.
  if (Connection* c = s.connection_of(IdentityKey{device_id, {}})) c->c2d_inflight.clear();
  s.log(1, "c2d: purged {} message(s) of {}", n, device_id);
  return n;
}

std::vector<QueuedC2dMessage> Hub::queued_c2d(const std::string& device_id) const {
  m_state->identity_or_throw(IdentityKey{device_id, {}});
  m_state->drop_expired_c2d(device_id);
  auto it = m_state->c2d.find(device_id);
  if (it == m_state->c2d.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void Hub::State::drop_expired_c2d(const std::string& device_id) {
  auto it = c2d.find(device_id);
  if (it == c2d.end()) return;
  std::int64_t t = now();
  auto& queue = it->second;
  for (auto m = queue.begin(); m != queue.end();) {
    if (m->expiry_ms <= t) {
      log(1, "c2d: message for {} expired", device_id);
      feedback(*m, core::FeedbackStatus::expired);
      store.erase_c2d(m->id);
      m = queue.erase(m);
    } else {
      ++m;
    }
  }
}

void Hub::State::arm_c2d_expiry(const QueuedC2dMessage& m) {
  State* state = this;
  const std::uint64_t id = m.id;
  const std::string device_id = m.device_id;
  const auto in = std::chrono::milliseconds(std::max<std::int64_t>(0, m.expiry_ms - now()));
  c2d_expiry_timers[id] = clock.start_timer(in, [state, id, device_id] {
    state->c2d_expiry_timers.erase(id);
    state->drop_expired_c2d(device_id);
  });
}

void Hub::State::deliver_c2d(Connection& c) {
  auto sub = c.kinds.find(core::SubscriptionKind::c2d);
  if (sub == c.kinds.end() || c.key.module_id) return;
  drop_expired_c2d(c.key.device_id);
  auto it = c2d.find(c.key.device_id);
  if (it == c2d.end()) return;
  auto& queue = it->second;
  std::uint8_t qos = sub->second;
  for (auto m = queue.begin(); m != queue.end();) {
    bool in_flight = std::any_of(c.c2d_inflight.begin(), c.c2d_inflight.end(),
                                 [&](const auto& p) { return p.second == m->id; });
    if (in_flight || http_locked(m->id)) {
      ++m;
      continue;
    }
    // Delivered the maximum number of times and not completed: dead-lettered (§6, §6.1).
    if (m->delivery_count >= core::limits::k_c2d_max_delivery_count) {
      log(1, "c2d: message for {} not completed after {} deliveries, dropped",
          c.key.device_id, m->delivery_count);
      feedback(*m, core::FeedbackStatus::delivery_count_exceeded);
      store.erase_c2d(m->id);
      m = queue.erase(m);
      continue;
    }
    mqtt::Publish p;
    p.topic = core::build_c2d_topic(c.key.device_id, m->properties);
    p.payload = m->body;
    p.qos = qos;
    // Sent before but never acknowledged (an earlier connection): a redelivery.
    p.dup = qos == 1 && m->delivery_count > 0;
    m->delivery_count += 1;
    if (qos == 1) {
      p.packet_id = next_packet_id(c);
      c.c2d_inflight.emplace_back(p.packet_id, m->id);
      store.put_c2d(*m);
      c.session->send(std::move(p));
      start_c2d_lock(c, m->id, p.packet_id);
      ++m;
    } else {
      // A QoS 0 subscriber completes the message when it is sent (§6).
      c.session->send(std::move(p));
      feedback(*m, core::FeedbackStatus::success);
      store.erase_c2d(m->id);
      m = queue.erase(m);
    }
    log(2, "c2d: delivered a message to {} (QoS {})", c.key.device_id, qos);
  }
}

void Hub::State::start_c2d_lock(Connection& c, std::uint64_t message_id, std::uint16_t packet_id) {
  // Unacknowledged for a minute: the lock expires and the message is sent again, marked DUP,
  // on the same connection (§6), until deliver_c2d finds its delivery count used up (§6.1).
  State* state = this;
  IdentityKey key = c.key;
  std::uint64_t serial = c.serial;
  start_loose_timer(k_c2d_lock, [state, key, serial, message_id, packet_id] {
    Connection* live = state->connection_of(key);
    if (live == nullptr || live->serial != serial) return;
    auto& inflight = live->c2d_inflight;
    auto it = std::find(inflight.begin(), inflight.end(), std::make_pair(packet_id, message_id));
    if (it == inflight.end()) return;
    inflight.erase(it);
    state->log(1, "c2d: lock expired for a message to {}, redelivering", to_string(key));
    state->deliver_c2d(*live);
  });
}

void Hub::State::complete_c2d(Connection& c, std::uint16_t packet_id) {
  if (c.c2d_inflight.empty() || c.c2d_inflight.front().first != packet_id) {
    bool known = std::any_of(c.c2d_inflight.begin(), c.c2d_inflight.end(),
                             [&](const auto& p) { return p.first == packet_id; });
    // PUBACKs must follow PUBLISH order (MQTT-4.6.0-2, §6); an ack for something never sent
    // (or purged meanwhile) is ignored.
    if (known) throw HubError(400004, "PUBACK out of order");
    return;
  }
  std::uint64_t id = c.c2d_inflight.front().second;
  c.c2d_inflight.pop_front();
  if (finish_c2d(c.key.device_id, id, core::FeedbackStatus::success))
    log(2, "c2d: {} completed a message", c.key.device_id);
}

QueuedC2dMessage* Hub::State::queued_message(const std::string& device_id, std::uint64_t id) {
  auto queue = c2d.find(device_id);
  if (queue == c2d.end()) return nullptr;
  auto m = std::find_if(queue->second.begin(), queue->second.end(), [&](const QueuedC2dMessage& x) { return x.id == id; });
  return m == queue->second.end() ? nullptr : &*m;
}

bool Hub::State::finish_c2d(const std::string& device_id, std::uint64_t id, core::FeedbackStatus status) {
  auto queue = c2d.find(device_id);
  if (queue == c2d.end()) return false;
  auto m = std::find_if(queue->second.begin(), queue->second.end(), [&](const QueuedC2dMessage& x) { return x.id == id; });
  if (m == queue->second.end()) return false;
  feedback(*m, status);
  store.erase_c2d(id);
  queue->second.erase(m);
  return true;
}

bool Hub::State::http_locked(std::uint64_t message_id) const {
  return std::any_of(http_c2d_locks.begin(), http_c2d_locks.end(),
                     [&](const auto& l) { return l.second.message_id == message_id; });
}

std::optional<Hub::LockedC2d> Hub::receive_c2d_http(const std::string& device_id) {
  State& s = *m_state;
  const IdentityKey key{device_id, {}};
  s.identity_or_throw(key);
  s.drop_expired_c2d(device_id);
  auto it = s.c2d.find(device_id);
  if (it == s.c2d.end()) return std::nullopt;
  const Connection* live = s.connection_of(key);
  for (auto& m : it->second) {
    const bool in_flight = live != nullptr && std::any_of(live->c2d_inflight.begin(), live->c2d_inflight.end(),
                                                          [&](const auto& p) { return p.second == m.id; });
    if (in_flight || s.http_locked(m.id)) continue;
    std::string token = core::amqp::to_string(core::amqp::random_uuid());
    State* state = &s;
    const TimerId timer = s.clock.start_timer(k_c2d_lock, [state, token, device_id] {
      // Lapsed: the message is available again, without counting a delivery (§6).
      state->http_c2d_locks.erase(token);
      state->log(1, "c2d: the lock of a message received over HTTPS by {} lapsed", device_id);
      if (Connection* c = state->connection_of(IdentityKey{device_id, {}})) state->deliver_c2d(*c);
    });
    s.http_c2d_locks[token] = State::HttpC2dLock{device_id, m.id, timer};
    s.identities.at(key).last_activity_ms = s.now();
    s.log(2, "c2d: {} received a message over HTTPS", device_id);
    return LockedC2d{m, std::move(token)};
  }
  return std::nullopt;
}

void Hub::settle_c2d_http(const std::string& device_id, std::string_view lock_token, C2dSettlement how) {
  State& s = *m_state;
  const IdentityKey key{device_id, {}};
  s.identity_or_throw(key);
  auto lock = s.http_c2d_locks.find(std::string(lock_token));
  const HubError lost(412002, "The message lock is lost: it lapsed after 60 s, the message was already settled, or "
                              "the lock token is not one this device received");
  if (lock == s.http_c2d_locks.end() || lock->second.device_id != device_id) throw lost;
  const std::uint64_t id = lock->second.message_id;
  s.clock.cancel_timer(lock->second.timer);
  s.http_c2d_locks.erase(lock);
  QueuedC2dMessage* m = s.queued_message(device_id, id);
  if (m == nullptr) throw lost;  // purged or expired meanwhile
  s.identities.at(key).last_activity_ms = s.now();
  if (how == C2dSettlement::abandon) {
    // Over HTTPS only an abandon counts a delivery (§6.2); the 10th is the last.
    m->delivery_count += 1;
    if (m->delivery_count >= core::limits::k_c2d_max_delivery_count) {
      s.log(1, "c2d: message for {} abandoned {} times, dropped", device_id, m->delivery_count);
      s.finish_c2d(device_id, id, core::FeedbackStatus::delivery_count_exceeded);
      return;
    }
    s.store.put_c2d(*m);
    s.log(1, "c2d: {} abandoned a message over HTTPS", device_id);
    if (Connection* c = s.connection_of(key)) s.deliver_c2d(*c);
    return;
  }
  const bool complete = how == C2dSettlement::complete;
  s.finish_c2d(device_id, id, complete ? core::FeedbackStatus::success : core::FeedbackStatus::rejected);
  s.log(complete ? 2 : 1, fmt::format("c2d: {} {} a message over HTTPS", device_id, complete ? "completed" : "rejected"));
}

void Hub::State::capture_d2c(const IdentityKey& source, std::string body,
                             core::MessageProperties props) {
  D2cMessage m;
  m.sequence_number = last_d2c_sequence + 1;
  m.enqueued_ms = now();
  m.source = source;
  m.body = std::move(body);
  // A Plug and Play device's messages carry its model id and component (docs/protocol.md §10).
  if (const auto twin = twins.find(source); twin != twins.end() && twin->second.model_id &&
                                            !twin->second.model_id->empty()) {
    m.data_schema = *twin->second.model_id;
    m.data_subject = props.system.subject;
  }
  m.properties = std::move(props);
  assign_partition(m);
  store.put_d2c(m, options.d2c_keep);
  last_d2c_sequence = m.sequence_number;
  log(2, "d2c: message {} from {} ({} bytes)", m.sequence_number, to_string(source), m.body.size());
  if (d2c_listeners.empty()) {
    d2c.push_back(std::move(m));  // nobody else needs it: no second copy
    while (d2c.size() > options.d2c_keep) d2c.pop_front();
    return;
  }
  d2c.push_back(m);
  while (d2c.size() > options.d2c_keep) d2c.pop_front();
  // A listener may unsubscribe itself (or others) while being called.
  auto listeners = d2c_listeners;
  for (auto& [id, fn] : listeners) {
    if (d2c_listeners.count(id) != 0) fn(m);
  }
}

std::vector<D2cMessage> Hub::d2c_since(std::uint64_t after, std::size_t max) const {
  std::vector<D2cMessage> out;
  for (const auto& m : m_state->d2c) {
    if (out.size() >= max) break;
    if (m.sequence_number > after) out.push_back(m);
  }
  return out;
}

std::uint64_t Hub::last_d2c_sequence() const noexcept { return m_state->last_d2c_sequence; }

const std::deque<D2cMessage>& Hub::d2c_retained() const noexcept { return m_state->d2c; }

std::uint32_t d2c_partition_of(std::string_view device_id) noexcept {
  std::uint32_t h = 2166136261u;
  for (const char c : device_id) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h % k_d2c_partitions;
}

void Hub::State::assign_partition(D2cMessage& m) {
  m.partition = d2c_partition_of(m.source.device_id);
  m.partition_sequence = ++last_partition_sequence[m.partition];
}

ListenerId Hub::subscribe_d2c(D2cListener listener) {
  ListenerId id = m_state->next_listener++;
  m_state->d2c_listeners[id] = std::move(listener);
  return id;
}

void Hub::unsubscribe_d2c(ListenerId id) { m_state->d2c_listeners.erase(id); }

}  // namespace azhub::emulator
