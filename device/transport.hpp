#pragma once
// The seam between DeviceClient's session logic and the MQTT client library: what DeviceClient
// asks of one MQTT 3.1.1 client handle, with typed outcomes instead of Paho's return codes.
// MqttConnection (device/mqtt_connection.*) implements it over Paho; the unit tests implement it
// with a scripted fake (tests/unit/device/fake_transport.hpp), so the reconnect, renewal,
// resubscribe and resend rules run without sockets or sleeps (docs/conventions.md §5).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/connack.hpp"

namespace azhub::device {

// What became of a request handed to the transport.
enum class SendResult {
  ok,       // accepted; its outcome arrives as an event
  busy,     // not now (window or command queue full, not connected): try again later
  refused,  // will never be accepted as asked (bad topic, bad options, ...): report it
};

// The CONNACK return codes, from core (docs/protocol.md §2.2).
using core::ConnackCode;
using core::describe;

// "connection refused: not authorized (CONNACK 5)", for messages.
[[nodiscard]] inline std::string refusal_text(ConnackCode code) {
  return "connection refused: " + std::string(describe(code)) + " (CONNACK " +
         std::to_string(static_cast<int>(code)) + ")";
}

struct MqttEvent {
  enum class Kind {
    connected,         // CONNACK 0; `session_present`
    connect_failed,    // `connack`: the hub's refusal, or nullopt for a transport failure; `text`
    connection_lost,   // `text`: cause, when the transport knows one
    disconnected,      // our DISCONNECT completed
    published,         // `token` confirmed (written, for the QoS 0 control publishes)
    publish_failed,    // `token` will not be confirmed
    subscribed,        // `token`; `refused`: the hub refused the first filter (granted 0x80)
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
  std::optional<ConnackCode> connack;  // connect_failed: the CONNACK return code, if one came
  bool refused = false;                // subscribed: granted QoS 0x80
  bool session_present = false;
  int qos = 0;
  bool dup = false;
  std::string topic;    // message
  std::string payload;  // message
  std::string text;     // connect_failed, connection_lost, *_failed: what went wrong
};

// One telemetry message for the transport's outbox.
struct TelemetryPublish {
  std::uint64_t seq = 0;
  std::string topic;
  std::string payload;
  int qos = 1;
};

struct ConnectRequest {
  std::string username;
  std::optional<std::string> password;  // nullopt: X.509
  int keep_alive_s = 60;
  int connect_timeout_s = 30;
};

class MqttTransport {
 public:
  virtual ~MqttTransport() = default;

  // Starts a CONNECT (CleanSession=1: the caller resubscribes and resends itself) and a new
  // generation, which it returns. The outcome arrives as a connected / connect_failed event of
  // that generation; events of older generations may still arrive and are to be ignored.
  virtual std::uint64_t connect(ConnectRequest request) = 0;

  // Starts a DISCONNECT that waits up to `timeout` for in-flight work; a `disconnected` event
  // follows. Returns false when there is nothing to disconnect.
  virtual bool disconnect(std::chrono::milliseconds timeout) = 0;

  // Hands a QoS 0 control PUBLISH (twin request, method response) over; on `ok`, sets `token`,
  // which a published / publish_failed event confirms.
  virtual SendResult publish(std::string_view topic, std::string_view payload, int& token) = 0;

  // Telemetry goes through an outbox, in the order of the queue_telemetry calls. Each message
  // is confirmed by a telemetry_sent / telemetry_failed event with its seq. A new connect()
  // empties the outbox: the caller queues again whatever was not confirmed.
  virtual void queue_telemetry(TelemetryPublish message) = 0;
  // Hands queued telemetry over while the transport's window allows.
  virtual void send_telemetry() = 0;

  // SUBSCRIBE / UNSUBSCRIBE; on `ok`, sets `token`, and the outcome arrives as
  // subscribed / subscribe_failed or unsubscribed / unsubscribe_failed.
  virtual SendResult subscribe(const std::vector<std::string>& filters, int qos, int& token) = 0;
  virtual SendResult unsubscribe(const std::vector<std::string>& filters, int& token) = 0;

  // Moves every queued event into `out` (appending), waiting until `deadline` only if there is
  // none. `deadline` is on the caller's clock (DeviceSettings::steady_now). Returns the number
  // moved.
  virtual std::size_t take_events(std::vector<MqttEvent>& out,
                                  std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace azhub::device
