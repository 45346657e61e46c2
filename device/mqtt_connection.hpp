#pragma once
// One MQTT 3.1.1 client handle over Paho MQTT C async, the MqttTransport DeviceClient runs on
// (device/transport.hpp). The only code that includes MQTTAsync.h.
// Paho calls back on its own threads; every callback copies what it needs into an MqttEvent and
// queues it, so the owner handles all events on its own thread (docs/conventions.md §5). One
// deliberate exception: a telemetry publish's onSuccess hands the next queued telemetry publish
// to Paho (MQTTAsync_send) from Paho's thread, under a try-lock, which keeps order and is
// what makes QoS 1 throughput close to a bare Paho publisher (bench/README.md).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/proxy.hpp"
#include "device/transport.hpp"

namespace azhub::device {

struct MqttSettings {
  std::string server_uri;  // "ssl://h:p", "wss://h:p/$iothub/websocket", "tcp://h:p" or "ws://..."
  std::string client_id;
  bool tls = true;
  std::optional<std::string> ca_file;        // added to the system trust store
  std::optional<std::string> cert_file;      // X.509 client certificate (PEM)
  std::optional<std::string> cert_key_file;  // its private key (PEM)
  // An HTTP CONNECT proxy for ws:// or wss:// (azhub's decision, core/proxy.hpp), and the
  // host and port its tunnel goes to (for the probe that explains a failed connect).
  std::optional<core::ProxyUrl> proxy;
  std::string target_host;
  int target_port = 0;
  int max_inflight = 512;                    // telemetry publishes handed to Paho, unconfirmed
};

class MqttConnection final : public MqttTransport {
 public:
  // Creates the Paho handle. Throws Error(usage) when Paho refuses the URI or options.
  explicit MqttConnection(MqttSettings settings);
  // Disconnects first when Paho is still connected (a handle is never destroyed connected),
  // then destroys the handle.
  ~MqttConnection() override;
  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;

  std::uint64_t connect(ConnectRequest request) override;
  bool disconnect(std::chrono::milliseconds timeout) override;
  SendResult publish(std::string_view topic, std::string_view payload, int& token) override;

  // Paho gets the next telemetry message as soon as fewer than `max_inflight` are unconfirmed,
  // either on this thread or straight from the confirmation callback of an earlier one. Sending
  // from Paho's own thread saves the hand-off to this thread and back per message
  // (bench/README.md); the order of `queue_telemetry` calls is kept.
  void queue_telemetry(TelemetryPublish message) override;
  void send_telemetry() override;

  SendResult subscribe(const std::vector<std::string>& filters, int qos, int& token) override;
  SendResult unsubscribe(const std::vector<std::string>& filters, int& token) override;

  std::size_t take_events(std::vector<MqttEvent>& out,
                          std::chrono::steady_clock::time_point deadline) override;

  [[nodiscard]] std::uint64_t generation() const noexcept { return m_generation; }

  // Paho's text for a return code, for messages.
  [[nodiscard]] static std::string describe(int code);
  // How a Paho return code of a send, subscribe or unsubscribe call reads as a SendResult.
  [[nodiscard]] static SendResult classify(int rc) noexcept;

 private:
  // The callback context of one connection (generation): every connect, disconnect, publish,
  // subscribe and unsubscribe of that connection calls back with it. `outstanding` counts the
  // requests Paho accepted whose callback has not run yet; once the connection is replaced and
  // the count is 0, Paho holds no pointer to it and it is freed (collect()).
  struct CallbackContext {
    MqttConnection* self = nullptr;
    std::uint64_t generation = 0;
    std::size_t outstanding = 0;  // guarded by m_mutex
  };
  struct SlotSet;
  struct TelemetrySlot {  // the callback context of one telemetry publish in flight
    MqttConnection* self = nullptr;
    std::uint64_t generation = 0;
    std::uint64_t seq = 0;
    std::size_t index = 0;
    SlotSet* set = nullptr;
  };
  // The telemetry slots of one connection (about 16 KB at the default window). Slots are made
  // per connection and never reused by a later one, so a late callback of an old connection
  // cannot be taken for a new message; the set is freed like a CallbackContext.
  struct SlotSet {
    std::uint64_t generation = 0;
    std::vector<TelemetrySlot> slots;
    std::size_t outstanding = 0;  // guarded by m_mutex: slots handed to Paho, not called back
  };
  struct Callbacks;  // Paho-typed trampolines, defined in the .cpp
  friend struct Callbacks;

  // The current connection's context with one more request counted, for a Paho call about to
  // be made on the owner's thread; nullptr before the first connect.
  CallbackContext* begin_request();
  // Paho did not accept the request begun with `c`: no callback will come for it.
  void abandon_request(CallbackContext* c);
  // A callback's last touch of its context: queues `event` and uncounts the request. Never throws.
  void finish_request(CallbackContext& c, MqttEvent&& event) noexcept;
  // Frees the contexts and slot sets of replaced connections that nothing can call back with.
  // Caller holds m_mutex.
  void collect();
  // True when the handle is not connected and no accepted request still owes a callback.
  bool quiet_for_retirement();
  void push(MqttEvent event);
  void send_telemetry(bool from_callback);
  void release_slot(TelemetrySlot& slot, MqttEvent&& event) noexcept;

  MqttSettings m_settings;
  std::string m_username;  // kept alive for Paho for the duration of a connect
  std::optional<std::string> m_password;
  std::string m_ca_path;
  std::string m_proxy_option;  // Paho's httpsProxy/httpProxy: "[user:password@]host:port"
  std::atomic<std::uint64_t> m_generation{0};  // read by Paho threads

  std::mutex m_mutex;
  std::condition_variable m_ready;
  std::vector<MqttEvent> m_events;  // guarded by m_mutex
  // !m_events.empty(), readable without the lock: a take that would not wait skips the lock
  // when there is nothing (the owner polls once per message while sending).
  std::atomic<bool> m_has_events{false};
  bool m_waiting = false;           // guarded by m_mutex: a consumer sleeps on m_ready
  std::deque<std::unique_ptr<CallbackContext>> m_contexts;  // guarded by m_mutex; back(): current

  // Telemetry outbox, guarded by m_mutex.
  std::deque<TelemetryPublish> m_outbox;
  std::deque<std::unique_ptr<SlotSet>> m_slot_sets;  // back(): the current connection's
  std::vector<std::size_t> m_free_slots;
  // Held while taking from the outbox and calling MQTTAsync_send, so that Paho sees the
  // messages in order whichever thread sends. Callbacks only try it (see send_telemetry).
  std::mutex m_send_mutex;

  struct HandleDeleter {
    void operator()(void* handle) const noexcept;
  };
  std::unique_ptr<void, HandleDeleter> m_handle;  // last member: destroyed first
};

}  // namespace azhub::device
