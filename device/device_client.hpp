#pragma once
// One device (or module) session with IoT Hub over MQTT: connect with SAS or X.509, renew the
// token before it expires, reconnect with backoff after a drop, resubscribe, resend telemetry the
// hub did not acknowledge, correlate twin requests by $rid. Commands see only this class.
//
// No thread of its own: every waiting call (send_telemetry, flush, next_*, get_twin, ...) pumps
// the session on the caller's thread, so all state is touched by one thread only.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/identity.hpp"
#include "core/properties.hpp"
#include "core/proxy.hpp"
#include "device/backoff.hpp"
#include "device/credentials.hpp"
#include "device/inflight_window.hpp"
#include "device/recent_ids.hpp"
#include "device/request_tracker.hpp"
#include "device/transport.hpp"

namespace azhub::device {

enum class Transport { mqtt, websocket };

struct DeviceSettings {
  core::Identity identity;           // HostName is used for the username and the token
  std::string connect_host;          // where TCP goes: HostName, or GatewayHostName
  int port = 8883;
  Transport transport = Transport::mqtt;
  bool tls = true;
  std::optional<std::string> ca_file;
  std::optional<std::string> cert_file;
  std::optional<std::string> cert_key_file;
  std::optional<core::ProxyUrl> proxy;  // WebSockets only: the HTTP CONNECT proxy (core/proxy.hpp)
  int keep_alive_s = 60;
  std::optional<std::string> model_id;
  std::string product;               // DeviceClientType, e.g. "azhub/0.1.0"
  CredentialSource credentials;
  // Telemetry publishes in flight at the MQTT client (sent, not yet confirmed). The client is
  // handed up to as many again, staged, so that each confirmation's callback sends the next
  // itself (docs/conventions.md §5) without waking this thread per message.
  std::size_t window = 100;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds backoff_initial{std::chrono::milliseconds(250)};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
  std::function<void(int level, std::string_view message)> trace;  // never given secrets
  std::function<std::int64_t()> now_unix_ms;                        // wall clock for tokens
  std::function<double()> jitter;                                   // uniform in [0, 1]
  // The session's clock (backoff, renewal, request and drain deadlines, waits); unset: the
  // real steady_clock. Unit tests drive a fake one together with a fake transport.
  std::function<std::chrono::steady_clock::time_point()> steady_now;
  const std::atomic<bool>* interrupted = nullptr;
};

// The server URI Paho is given for these settings ("ssl://h:8883", "wss://h:443/$iothub/websocket").
[[nodiscard]] std::string server_uri(const DeviceSettings& settings);

struct TelemetryAck {
  std::uint64_t seq = 0;
  std::chrono::steady_clock::duration latency{};  // from send_telemetry to the PUBACK
  int attempts = 1;                               // > 1 when it was resent after a drop
};

struct ReceivedC2dMessage {
  std::string body;
  core::MessageProperties properties;
};

struct DesiredUpdate {
  std::int64_t version = 0;
  nlohmann::json patch;  // the desired patch (with "$version"), or the whole desired section
  bool full = false;     // true: re-read after a reconnect, `patch` is the whole section
};

struct IncomingMethodCall {
  std::string name;
  std::string rid;
  std::string payload;  // JSON text, empty when the service sent null
};

class DeviceClient {
 public:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;  // nullopt: no limit

  explicit DeviceClient(DeviceSettings settings);
  // Runs the session over `transport` instead of Paho (the unit tests' scripted fake).
  DeviceClient(DeviceSettings settings, std::unique_ptr<MqttTransport> transport);
  ~DeviceClient();
  DeviceClient(const DeviceClient&) = delete;
  DeviceClient& operator=(const DeviceClient&) = delete;

  // What to subscribe to, before connect(); resubscribed after every reconnect.
  void want_c2d() { m_want_c2d = true; }
  void want_methods() { m_want_methods = true; }
  void want_twin() { m_want_twin = true; }
  void want_desired() { m_want_twin = m_want_desired = true; }

  // Connects and subscribes. Throws Error(connect) when the hub cannot be reached or refuses
  // (CONNACK 5 says "not authorized"), Error(interrupted) on Ctrl-C.
  void connect();

  // Queues one telemetry message; waits (pumping) while the window is full. Returns its seq.
  std::uint64_t send_telemetry(const core::MessageProperties& properties, std::string body, int qos);
  // Called on this thread for each confirmed telemetry message.
  void on_telemetry_ack(std::function<void(const TelemetryAck&)> handler) {
    m_ack_handler = std::move(handler);
  }
  // Waits until every queued telemetry message is confirmed (true), or `deadline` / Ctrl-C (false).
  bool flush(Deadline deadline);
  [[nodiscard]] std::size_t unacknowledged() const noexcept;
  // Keeps the session going (acks, reconnects, renewals) until `until` or Ctrl-C.
  void wait_until(std::chrono::steady_clock::time_point until);

  // The next C2D message, or nullopt at `deadline` / Ctrl-C. Redeliveries of a message id
  // already returned are dropped.
  [[nodiscard]] std::optional<ReceivedC2dMessage> next_c2d(Deadline deadline);

  // Twin GET: {"desired":…,"reported":…}. Throws Error(timeout) without an answer in time,
  // Error(failure) for an error status.
  [[nodiscard]] nlohmann::json get_twin(std::chrono::milliseconds timeout);
  // Reported merge patch; returns the new reported $version (0 when the hub did not say).
  std::int64_t patch_reported(const nlohmann::json& patch, std::chrono::milliseconds timeout);
  // The next desired-property update, or nullopt at `deadline` / Ctrl-C.
  [[nodiscard]] std::optional<DesiredUpdate> next_desired(Deadline deadline);

  [[nodiscard]] std::optional<IncomingMethodCall> next_method(Deadline deadline);
  // Answers `rid`; sent as soon as the session is up.
  void respond_method(const std::string& rid, int status, std::string payload);

  // Ends the delivery of C2D messages, desired updates and method calls without losing any the
  // hub already handed over. Paho acknowledges a QoS 1 PUBLISH as soon as it arrives, and the
  // hub completes a C2D message on that acknowledgement, so a message that reached azhub must be
  // printed or handled. This unsubscribes from those topics and waits for the UNSUBACK (MQTT
  // delivers every PUBLISH the hub sent before it, first); reconnects no longer subscribe.
  // Afterwards next_c2d / next_desired / next_method with a past deadline drain what arrived.
  // Waits at most 5 s, or 0.5 s after Ctrl-C (an interrupted command still prints what was
  // acknowledged, and exits within a second); returns false when the UNSUBACK did not come.
  bool stop_receiving();

  // Waits up to `grace` for telemetry still in flight, then disconnects.
  void close(std::chrono::milliseconds grace);

  [[nodiscard]] bool interrupted() const noexcept {
    return m_settings.interrupted != nullptr && m_settings.interrupted->load();
  }
  [[nodiscard]] int connections() const noexcept { return m_connections; }  // CONNACK 0 count

 private:
  enum class State { idle, connecting, subscribing, ready, renewing, backing_off, closed };
  using Clock = std::chrono::steady_clock;

  struct TwinResult {
    int status = 0;
    std::optional<std::int64_t> version;
    std::string payload;
    std::string error;  // set: the request never went out (why)
  };
  struct ControlPublish {
    std::string topic;
    std::string payload;
    std::string twin_rid;  // the twin request's $rid; empty for a method response
  };

  void start_connect();
  void pump(Deadline deadline);
  void handle(MqttEvent& event);
  void handle_message(MqttEvent& event);
  void on_ready();
  void on_lost(std::string_view why);
  void finish_renewal();
  // Hands control publishes and what the window allows to the transport. The transport is
  // asked to send its staged telemetry when something was staged now, or always when `nudge`.
  void send_pending(bool nudge = true);
  // A control publish the transport refused for good: fails its twin request, or says so.
  void report_refused(const ControlPublish& publish);
  [[nodiscard]] Clock::time_point now() const { return m_settings.steady_now(); }
  void run_timers();
  // Publishes a twin GET (empty `payload`) or reported patch; returns its $rid.
  std::string start_twin_request(std::string payload, std::chrono::milliseconds timeout);
  TwinResult await_twin(const std::string& rid, std::string_view what);
  void trace(int level, std::string_view message) const;
  [[nodiscard]] std::string where() const;

  DeviceSettings m_settings;
  std::unique_ptr<MqttTransport> m_conn;
  State m_state = State::idle;
  std::uint64_t m_generation = 0;
  int m_subscribe_token = 0;
  int m_connections = 0;
  bool m_want_c2d = false, m_want_methods = false, m_want_twin = false, m_want_desired = false;
  std::vector<std::string> m_receive_filters;  // C2D/desired/method filters of this connection
  int m_unsubscribe_token = 0;
  bool m_unsubscribed = false;                 // the UNSUBACK for m_unsubscribe_token arrived
  std::string m_fatal;               // set when the session can not go on
  int m_fatal_code = 0;
  Backoff m_backoff;
  Clock::time_point m_retry_at{};
  std::optional<Clock::time_point> m_renew_at;
  Clock::time_point m_renewal_deadline{};
  bool m_disconnect_sent = false;  // renewing: DISCONNECT handed to Paho
  bool m_renewable = false;        // the credential source makes a new token per connect
  int m_refusals = 0;              // CONNACK 5 in a row while reconnecting

  InflightWindow m_window;  // 2 x settings.window: in flight at the client, and staged there
  std::uint64_t m_next_seq = 1;
  std::unordered_map<std::uint64_t, Clock::time_point> m_enqueued_at;
  std::function<void(const TelemetryAck&)> m_ack_handler;
  std::deque<ControlPublish> m_control;  // QoS 0 publishes awaiting `ready`
  std::vector<int> m_control_tokens;  // control publishes handed to Paho, not yet written

  RequestTracker m_requests;
  std::map<std::string, TwinResult> m_twin_results;
  std::vector<std::string> m_expired_rids;
  std::string m_resync_rid;  // the GET that re-reads desired after a reconnect
  std::int64_t m_desired_version = 0;

  std::deque<ReceivedC2dMessage> m_c2d;
  RecentIds m_seen_c2d{4096};
  std::deque<DesiredUpdate> m_desired;
  std::deque<IncomingMethodCall> m_methods;
  std::vector<MqttEvent> m_events;  // reused between pumps
};

}  // namespace azhub::device
