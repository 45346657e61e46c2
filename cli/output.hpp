#pragma once
// Every record a command prints, in text or as one JSON object per line (-o json). Commands hand
// records here and never format them themselves; data goes to stdout, diagnostics to stderr.
// JSON member names follow IoT Hub's camelCase (messageId, systemProperties, ...); the man pages
// list every member of every record.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/io.hpp"
#include "device/device_client.hpp"

namespace azhub::cli {

// `send`: one acknowledged telemetry message.
struct SendAckRecord {
  std::uint64_t seq = 0;
  std::string message_id;
  double latency_ms = 0;
};

// `method serve`: one invocation and how it was answered.
struct MethodCallRecord {
  std::string method;
  std::string rid;
  int status = 0;
  double duration_ms = 0;
  std::string outcome;  // "handler", "fixed", "not handled", "handler failed", "timed out", ...
};

// The JSON forms (-o json), exposed for tests.
// {"seq","messageId","latencyMs"}
[[nodiscard]] nlohmann::json send_ack_json(const SendAckRecord& record);
// {"body","bodyEncoding","systemProperties":{...},"properties":{...}}: the members a D2C record of
// `azhub service monitor` has too, with the same names and types (a body that is not UTF-8 is
// base64 with "bodyEncoding":"base64"; absent system properties are left out).
[[nodiscard]] nlohmann::json c2d_json(const device::ReceivedC2dMessage& message);
// {"version","full","desired"}
[[nodiscard]] nlohmann::json desired_json(const device::DesiredUpdate& update);
// {"method","rid","status","durationMs","outcome"}
[[nodiscard]] nlohmann::json method_call_json(const MethodCallRecord& record);
// The text forms.
[[nodiscard]] std::string c2d_text(const device::ReceivedC2dMessage& message);
[[nodiscard]] std::string method_call_text(const MethodCallRecord& record);
// One line of JSON; invalid UTF-8 in strings is replaced rather than thrown on.
[[nodiscard]] std::string json_line(const nlohmann::json& value);

class Output {
 public:
  explicit Output(Io& io) : m_io(io) {}

  void send_ack(const SendAckRecord& record);          // json only; text prints nothing per message
  void c2d(const device::ReceivedC2dMessage& message);
  void twin(const nlohmann::json& twin);               // text: indented JSON
  void reported_version(std::int64_t version);
  void desired(const device::DesiredUpdate& update);
  void method_call(const MethodCallRecord& record);    // text: a log line on stderr

 private:
  Io& m_io;
};

}  // namespace azhub::cli
