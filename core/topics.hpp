#pragma once
// Builders and parsers for every IoT Hub MQTT topic (docs/protocol.md §4). Parsers return
// nullopt for a topic of another feature and throw Error(usage) for one of theirs that is
// malformed.
#include <optional>
#include <string>
#include <string_view>

#include "core/identity.hpp"
#include "core/properties.hpp"

namespace azhub::core {

// --- telemetry (D2C) -------------------------------------------------------------------------
// "devices/{d}/messages/events/{bag}" or the module form.
[[nodiscard]] std::string build_telemetry_topic(const Identity& id, const MessageProperties& props);
struct TelemetryTopic {
  std::string device_id;
  std::optional<std::string> module_id;
  MessageProperties properties;
};
// Accepts "events", "events/", "events/?bag", "events/bag".
[[nodiscard]] std::optional<TelemetryTopic> parse_telemetry_topic(std::string_view topic);

// --- C2D -------------------------------------------------------------------------------------
[[nodiscard]] std::string build_c2d_subscription(
    std::string_view device_id);  // ".../devicebound/#"
[[nodiscard]] std::string build_c2d_topic(std::string_view device_id,
                                          const MessageProperties& props);
struct C2dTopic {
  std::string device_id;
  MessageProperties properties;
};
[[nodiscard]] std::optional<C2dTopic> parse_c2d_topic(std::string_view topic);

// --- twin ------------------------------------------------------------------------------------
// The HTTP path of MQTT over WebSockets, on the hub's HTTPS port (docs/protocol.md §1).
inline constexpr std::string_view k_websocket_path = "/$iothub/websocket";
// The WebSocket subprotocols IoT Hub serves on that path: MQTT and AMQP (docs/protocol.md §15.1).
inline constexpr std::string_view k_websocket_mqtt_subprotocol = "mqtt";
inline constexpr std::string_view k_websocket_amqp_subprotocol = "AMQPWSB10";
// Where Event Hubs (the built-in D2C endpoint) serves AMQP over WebSockets (§15.7).
inline constexpr std::string_view k_servicebus_websocket_path = "/$servicebus/websocket";

inline constexpr std::string_view k_twin_response_filter = "$iothub/twin/res/#";
inline constexpr std::string_view k_twin_desired_filter = "$iothub/twin/PATCH/properties/desired/#";
[[nodiscard]] std::string build_twin_get_topic(std::string_view rid);
[[nodiscard]] std::string build_twin_patch_reported_topic(std::string_view rid);
// Device -> hub twin requests.
struct TwinRequest {
  enum class Kind { get, patch_reported };
  Kind kind;
  std::string rid;
};
[[nodiscard]] std::optional<TwinRequest> parse_twin_request_topic(std::string_view topic);

[[nodiscard]] std::string build_twin_response_topic(int status, std::string_view rid,
                                                    std::optional<std::int64_t> version = {});
struct TwinResponse {
  int status = 0;
  std::string rid;
  std::optional<std::int64_t> version;
};
[[nodiscard]] std::optional<TwinResponse> parse_twin_response_topic(std::string_view topic);

[[nodiscard]] std::string build_twin_desired_topic(std::int64_t version);
// "$iothub/twin/PATCH/properties/desired/?$version={v}" -> v
[[nodiscard]] std::optional<std::int64_t> parse_twin_desired_topic(std::string_view topic);

// --- direct methods --------------------------------------------------------------------------
inline constexpr std::string_view k_method_filter = "$iothub/methods/POST/#";
[[nodiscard]] std::string build_method_request_topic(std::string_view name, std::string_view rid);
struct MethodRequest {
  std::string name;
  std::string rid;
};
[[nodiscard]] std::optional<MethodRequest> parse_method_request_topic(std::string_view topic);

[[nodiscard]] std::string build_method_response_topic(int status, std::string_view rid);
struct MethodResponse {
  int status = 0;
  std::string rid;
};
[[nodiscard]] std::optional<MethodResponse> parse_method_response_topic(std::string_view topic);

// Throws Error(usage) unless `name` is a valid method name (docs/protocol.md §9.1).
void validate_method_name(std::string_view name);

// --- publish rules ---------------------------------------------------------------------------
// Throws Error(usage) "QoS 2 is not supported by IoT Hub; use 0 or 1" for 2, and a similar
// message for anything else outside 0..1 (docs/protocol.md §2.5).
void validate_qos(int qos);

// Throws Error(usage) unless `rid` can be echoed in a topic query: non-empty, no '&', '/', '#',
// '+' or control characters. Request ids are opaque and passed through byte-for-byte (§4).
void validate_request_id(std::string_view rid);

// --- subscriptions ---------------------------------------------------------------------------
enum class SubscriptionKind { c2d, twin_response, twin_desired, methods };
// Which documented filter `filter` is for the given identity, or nullopt if it is not one the
// hub supports (docs/protocol.md §2.4; '+' in place of the device id is accepted).
[[nodiscard]] std::optional<SubscriptionKind> classify_subscription(const Identity& id,
                                                                    std::string_view filter);

}  // namespace azhub::core
