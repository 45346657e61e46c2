#pragma once
// One MQTT 3.1.1 client handle over Paho MQTT C async. The only code that includes MQTTAsync.h.
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

namespace azhub::device {

struct MqttSettings {
  std::string server_uri;  // "ssl://h:p", "wss://h:p/$iothub/websocket", "tcp://h:p" or "ws://..."
  std::string client_id;
  bool tls = true;
  std::optional<std::string> ca_file;        // added to the system trust store
  std::optional<std::string> cert_file;      // X.509 client certificate (PEM)
  std::optional<std::string> cert_key_file;  // its private key (PEM)
  std::optional<std::string> https_proxy;    // for wss:// through an HTTP(S) proxy
  int max_inflight = 512;                    // telemetry publishes handed to Paho, unconfirmed
};

struct MqttEvent {
  enum class Kind {
    connected,         // CONNACK 0; `session_present`
    connect_failed,    // `code`: CONNACK return code (1-5) or a negative Paho code; `text`
    connection_lost,   // `text`: cause, when Paho knows one
    disconnected,      // our DISCONNECT completed
    published,         // `token` confirmed (PUBACK for QoS 1, written for QoS 0)
    publish_failed,    // `token` will not be confirmed
    subscribed,        // `token`; `code` = granted QoS of the first filter (0x80 = refused)
    subscribe_failed,  // `token`
    unsubscribed,      // `token`: UNSUBACK, so every PUBLISH the hub sent before it has arrived
    unsubscribe_failed,  // `token`
    message,           // `topic`, `payload`, `qos`, `dup`
    telemetry_sent,    // telemetry `seq` confirmed (PUBACK for QoS 1, written for QoS 0)
    telemetry_failed,  // telemetry `seq` will not be confirmed on this connection
  };
  Kind kind = Kind::message;
  std::uint64_t generation = 0;  // which connect() the event belongs to
  int token = 0;
  std::uint64_t seq = 0;
  int code = 0;
  bool session_present = false;
  int qos = 0;
  bool dup = false;
  std::string topic;  // or the failure text
  std::string payload;
};

class MqttConnection {
 public:
  // Creates the Paho handle. Throws Error(usage) when Paho refuses the URI or options.
  explicit MqttConnection(MqttSettings settings);
  ~MqttConnection();
  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;

  // Starts a CONNECT (CleanSession=1: azhub resubscribes and resends itself). The outcome
  // arrives as a connected / connect_failed event carrying the returned generation.
  std::uint64_t connect(std::string username, std::optional<std::string> password,
                        int keep_alive_s, int connect_timeout_s);

  // Starts a DISCONNECT that waits up to `timeout` for in-flight work; a `disconnected` event
  // follows. Returns false when Paho refused (e.g. not connected).
  bool disconnect(std::chrono::milliseconds timeout);

  // Hands a PUBLISH to Paho. Returns Paho's return code (0 = accepted) and sets `token`.
  int publish(std::string_view topic, std::string_view payload, int qos, int& token);

  // Telemetry goes through an outbox: Paho gets the next message as soon as fewer than
  // `max_inflight` are unconfirmed, either on this thread or straight from the confirmation
  // callback of an earlier one. Sending from Paho's own thread saves the hand-off to this
  // thread and back per message (bench/README.md); the order of `queue_telemetry` calls is
  // kept. Each message is confirmed by a telemetry_sent / telemetry_failed event with its seq.
  struct Telemetry {
    std::uint64_t seq = 0;
    std::string topic;
    std::string payload;
    int qos = 1;
  };
  void queue_telemetry(Telemetry message);
  // Hands queued telemetry to Paho while the window allows.
  void send_telemetry();

  // SUBSCRIBE to `filters` at `qos`; the outcome arrives as subscribed / subscribe_failed.
  int subscribe(const std::vector<std::string>& filters, int qos, int& token);

  // UNSUBSCRIBE from `filters`; the outcome arrives as unsubscribed / unsubscribe_failed.
  int unsubscribe(const std::vector<std::string>& filters, int& token);

  // Moves every queued event into `out` (appending), waiting until `deadline` only if there is
  // none. Returns the number moved.
  std::size_t take_events(std::vector<MqttEvent>& out, std::chrono::steady_clock::time_point deadline);

  [[nodiscard]] std::uint64_t generation() const noexcept { return m_generation; }

  // Paho's text for a return code, for messages.
  [[nodiscard]] static std::string describe(int code);

 private:
  struct CallbackContext {
    MqttConnection* self;
    std::uint64_t generation;
  };
  struct Callbacks;  // Paho-typed trampolines, defined in the .cpp
  friend struct Callbacks;
  struct TelemetrySlot {  // the callback context of one telemetry publish in flight
    MqttConnection* self = nullptr;
    std::uint64_t generation = 0;
    std::uint64_t seq = 0;
    std::size_t index = 0;
  };
  void push(MqttEvent event);
  void send_telemetry(bool from_callback);
  void release_slot(const TelemetrySlot& slot, MqttEvent event);

  MqttSettings m_settings;
  std::string m_username;  // kept alive for Paho for the duration of a connect
  std::optional<std::string> m_password;
  std::string m_ca_path;
  std::atomic<std::uint64_t> m_generation{0};  // read by Paho threads
  std::deque<std::unique_ptr<CallbackContext>> m_contexts;  // never freed while the handle lives

  std::mutex m_mutex;
  std::condition_variable m_ready;
  std::vector<MqttEvent> m_events;  // guarded by m_mutex
  bool m_waiting = false;           // guarded by m_mutex: a consumer sleeps on m_ready

  // Telemetry outbox, guarded by m_mutex. Slots are made per connection and never reused by a
  // later one, so a late callback of an old connection cannot be taken for a new message.
  std::deque<Telemetry> m_outbox;
  std::deque<std::unique_ptr<std::vector<TelemetrySlot>>> m_slot_sets;
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
