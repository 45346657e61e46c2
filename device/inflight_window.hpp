#pragma once
// Telemetry waiting for the hub's PUBACK: a bounded window of publishes in flight plus the queue
// behind it. Pure bookkeeping (no MQTT, no clock) so that the resend rules are unit-testable.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace azhub::device {

struct Outgoing {
  std::uint64_t seq = 0;  // caller's number, increasing in enqueue order
  std::string topic;
  std::string payload;
  int qos = 1;
  int attempts = 0;  // how many times it was handed to the transport
};

class InflightWindow {
 public:
  explicit InflightWindow(std::size_t capacity) : m_capacity(capacity == 0 ? 1 : capacity) {}

  // Queues a message behind everything already queued.
  void enqueue(Outgoing message);

  // True when a queued message may go out now (window not full).
  [[nodiscard]] bool can_send() const noexcept {
    return !m_queue.empty() && m_in_flight.size() < m_capacity;
  }

  // The next message to send (the lowest queued seq). Only valid when can_send().
  [[nodiscard]] const Outgoing& front() const { return m_queue.front(); }

  // The front message was handed to the transport, which will confirm it by `key` (its seq,
  // or a transport token): it moves into the window.
  void mark_sent(std::uint64_t key);

  // The transport confirmed `key` (PUBACK, or written for QoS 0). Returns the message, or
  // nullopt for a key this window does not know (e.g. one from before a reconnect).
  [[nodiscard]] std::optional<Outgoing> acknowledge(std::uint64_t key);

  // The transport gave up on `key`: the message goes back into the queue in seq order.
  void fail(std::uint64_t key);

  // The connection dropped: every message in flight goes back into the queue in seq order, ahead
  // of the ones never sent, so the hub sees the resends in the original order. Returns how many.
  std::size_t requeue_all();

  [[nodiscard]] std::size_t in_flight() const noexcept { return m_in_flight.size(); }
  [[nodiscard]] std::size_t queued() const noexcept { return m_queue.size(); }
  [[nodiscard]] bool idle() const noexcept { return m_queue.empty() && m_in_flight.empty(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }

 private:
  void requeue(Outgoing message);

  std::size_t m_capacity;
  std::deque<Outgoing> m_queue;                    // ascending seq
  std::unordered_map<std::uint64_t, Outgoing> m_in_flight;  // by key
};

}  // namespace azhub::device
