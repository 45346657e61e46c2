#pragma once
// A scripted MqttTransport and a hand-driven clock for DeviceClient's unit tests: no sockets, no
// threads, no sleeps. The fake records every request DeviceClient makes and answers from a
// script; a test synchronises on those scripted events, never on time or log wording.
//
// Time only moves when DeviceClient waits for events and none are queued: take_events then runs
// the next `when_idle` step, if any, and otherwise jumps the clock to the deadline it was given,
// as a real wait would end. A session that makes no progress for `k_idle_limit` waits fails the
// test instead of spinning forever.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "device/transport.hpp"

namespace azhub::device::testing {

struct FakeSteadyClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  [[nodiscard]] std::function<std::chrono::steady_clock::time_point()> function() {
    return [this] { return now; };
  }
};

class FakeTransport final : public MqttTransport {
 public:
  static constexpr int k_idle_limit = 100000;

  // How the hub answers one connect(): CONNACK 0, a CONNACK refusal, or no CONNACK at all.
  struct ConnectOutcome {
    std::optional<ConnackCode> connack = ConnackCode::accepted;  // nullopt: transport failure
    std::string text;
  };
  static ConnectOutcome accept() { return {}; }
  static ConnectOutcome refuse(ConnackCode code) { return {code, {}}; }
  static ConnectOutcome unreachable(std::string text) { return {std::nullopt, std::move(text)}; }

  struct Connect {
    std::uint64_t generation = 0;
    ConnectRequest request;
  };
  struct Publish {
    std::uint64_t generation = 0;
    std::string topic;
    std::string payload;
    int token = 0;
  };
  struct Telemetry {
    std::uint64_t generation = 0;
    TelemetryPublish message;
  };
  struct Filters {
    std::uint64_t generation = 0;
    std::vector<std::string> filters;
    int token = 0;
  };

  explicit FakeTransport(FakeSteadyClock& clock) : m_clock(clock) {}

  // --- the script -----------------------------------------------------------------------------
  std::deque<ConnectOutcome> connect_script;  // consumed by connect(); empty: accept
  bool auto_suback = true;                    // answer every SUBSCRIBE with a SUBACK
  bool auto_ack_telemetry = false;            // confirm telemetry as soon as it is handed over
  // What the next control publishes get instead of `ok` (busy: not recorded, as not handed over).
  std::deque<SendResult> publish_script;
  // Called for each control publish / UNSUBSCRIBE after it was recorded; may queue events.
  std::function<void(const Publish&)> on_publish;
  std::function<void(const Filters&)> on_unsubscribe;
  // Run one at a time when DeviceClient waits with nothing queued; may queue events.
  std::deque<std::function<void()>> when_idle;

  // --- what DeviceClient asked for ------------------------------------------------------------
  std::vector<Connect> connects;
  std::vector<Publish> publishes;
  std::vector<std::string> busy_publishes;     // topics answered `busy` by publish_script
  std::vector<std::string> refused_publishes;  // topics answered `refused` by publish_script
  std::vector<Telemetry> telemetry;  // handed over, in order
  std::vector<Filters> subscribes;
  std::vector<Filters> unsubscribes;
  int disconnects = 0;

  // --- events the test injects (for the current generation unless given) ----------------------
  void queue(MqttEvent event) { m_events.push_back(std::move(event)); }
  MqttEvent event(MqttEvent::Kind kind) const {
    MqttEvent e;
    e.kind = kind;
    e.generation = m_generation;
    return e;
  }
  void drop(std::string why = "connection reset") {
    MqttEvent e = event(MqttEvent::Kind::connection_lost);
    e.text = std::move(why);
    queue(std::move(e));
    m_connected = false;
  }
  void deliver(std::string topic, std::string payload) {
    MqttEvent e = event(MqttEvent::Kind::message);
    e.topic = std::move(topic);
    e.payload = std::move(payload);
    e.qos = 1;
    queue(std::move(e));
  }
  void ack_telemetry(std::uint64_t seq, std::optional<std::uint64_t> generation = std::nullopt) {
    MqttEvent e = event(MqttEvent::Kind::telemetry_sent);
    e.seq = seq;
    if (generation) e.generation = *generation;
    queue(std::move(e));
  }
  void unsuback(int token) {
    MqttEvent e = event(MqttEvent::Kind::unsubscribed);
    e.token = token;
    queue(std::move(e));
  }
  [[nodiscard]] std::uint64_t generation() const noexcept { return m_generation; }
  [[nodiscard]] bool connected() const noexcept { return m_connected; }
  // The control publishes of one generation whose topic starts with `prefix`.
  [[nodiscard]] std::vector<Publish> published(std::string_view prefix) const {
    std::vector<Publish> out;
    for (const auto& p : publishes)
      if (p.topic.starts_with(prefix)) out.push_back(p);
    return out;
  }

  // --- MqttTransport --------------------------------------------------------------------------
  std::uint64_t connect(ConnectRequest request) override {
    ++m_generation;
    m_outbox.clear();
    m_connected = false;
    connects.push_back(Connect{m_generation, std::move(request)});
    ConnectOutcome outcome;
    if (!connect_script.empty()) {
      outcome = std::move(connect_script.front());
      connect_script.pop_front();
    }
    if (outcome.connack == ConnackCode::accepted) {
      m_connected = true;
      queue(event(MqttEvent::Kind::connected));
    } else {
      MqttEvent e = event(MqttEvent::Kind::connect_failed);
      e.connack = outcome.connack;
      e.text = outcome.text;
      queue(std::move(e));
    }
    return m_generation;
  }
  bool disconnect(std::chrono::milliseconds) override {
    if (!m_connected) return false;
    ++disconnects;
    m_connected = false;
    queue(event(MqttEvent::Kind::disconnected));
    return true;
  }
  SendResult publish(std::string_view topic, std::string_view payload, int& token) override {
    if (!m_connected) return SendResult::busy;
    if (!publish_script.empty()) {
      const SendResult result = publish_script.front();
      publish_script.pop_front();
      if (result != SendResult::ok) {
        (result == SendResult::busy ? busy_publishes : refused_publishes).emplace_back(topic);
        return result;
      }
    }
    token = ++m_token;
    publishes.push_back(Publish{m_generation, std::string(topic), std::string(payload), token});
    MqttEvent written = event(MqttEvent::Kind::published);
    written.token = token;
    queue(std::move(written));
    if (on_publish) on_publish(publishes.back());
    return SendResult::ok;
  }
  void queue_telemetry(TelemetryPublish message) override { m_outbox.push_back(std::move(message)); }
  void send_telemetry() override {
    if (!m_connected) return;
    while (!m_outbox.empty()) {
      telemetry.push_back(Telemetry{m_generation, std::move(m_outbox.front())});
      m_outbox.pop_front();
      if (auto_ack_telemetry) ack_telemetry(telemetry.back().message.seq);
    }
  }
  SendResult subscribe(const std::vector<std::string>& filters, int, int& token) override {
    if (!m_connected) return SendResult::busy;
    token = ++m_token;
    subscribes.push_back(Filters{m_generation, filters, token});
    if (auto_suback) {
      MqttEvent e = event(MqttEvent::Kind::subscribed);
      e.token = token;
      queue(std::move(e));
    }
    return SendResult::ok;
  }
  SendResult unsubscribe(const std::vector<std::string>& filters, int& token) override {
    if (!m_connected) return SendResult::busy;
    token = ++m_token;
    unsubscribes.push_back(Filters{m_generation, filters, token});
    if (on_unsubscribe) on_unsubscribe(unsubscribes.back());
    return SendResult::ok;
  }
  std::size_t take_events(std::vector<MqttEvent>& out,
                          std::chrono::steady_clock::time_point deadline) override {
    if (m_events.empty() && !when_idle.empty()) {
      auto step = std::move(when_idle.front());
      when_idle.pop_front();
      step();
    }
    if (m_events.empty()) {
      if (++m_idle > k_idle_limit) throw std::runtime_error("fake transport: the session makes no progress");
      if (deadline > m_clock.now) m_clock.now = deadline;
      return 0;
    }
    m_idle = 0;
    const std::size_t n = m_events.size();
    for (auto& e : m_events) out.push_back(std::move(e));
    m_events.clear();
    return n;
  }

 private:
  FakeSteadyClock& m_clock;
  std::uint64_t m_generation = 0;
  bool m_connected = false;
  int m_token = 0;
  int m_idle = 0;
  std::deque<TelemetryPublish> m_outbox;
  std::vector<MqttEvent> m_events;
};

}  // namespace azhub::device::testing
