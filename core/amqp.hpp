#pragma once
// IoT Hub's AMQP dialect (docs/protocol.md §15): link addresses, claims-based security (CBS)
// request and reply fields, how a C2D message's fields map to IoT Hub's message properties, and
// which AMQP error condition stands for which IoT Hub error. The one home of these rules for
// the emulator's AMQP listener and for `azhub service`'s AMQP client.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/amqp_message.hpp"
#include "core/properties.hpp"

namespace azhub::core::amqp {

inline constexpr std::uint16_t k_amqps_port = 5671;

// --- addresses (§15.2) ---------------------------------------------------------------------
inline constexpr std::string_view k_cbs_address = "$cbs";
// The service's C2D sender link target; each message's `to` names the device.
inline constexpr std::string_view k_c2d_send_address = "/messages/devicebound";
// The service's feedback receiver link source.
inline constexpr std::string_view k_feedback_address = "/messages/serviceBound/feedback";

// "/devices/{id}/messages/devicebound" (the id percent-encoded as a path segment).
[[nodiscard]] std::string c2d_to(std::string_view device_id);
// The device id of a C2D message's `to`, or nullopt when it is not of that form.
[[nodiscard]] std::optional<std::string> parse_c2d_to(std::string_view to);

// Case-insensitive, "/" at the start optional: how the hub compares link addresses.
[[nodiscard]] bool same_address(std::string_view a, std::string_view b);

// --- claims-based security (§15.3) ---------------------------------------------------------
inline constexpr std::string_view k_cbs_operation = "operation";        // application property
inline constexpr std::string_view k_cbs_put_token = "put-token";
inline constexpr std::string_view k_cbs_type = "type";
inline constexpr std::string_view k_cbs_name = "name";                  // the token's audience
inline constexpr std::string_view k_cbs_sas_type = "servicebus.windows.net:sastoken";
inline constexpr std::string_view k_cbs_sas_type_iothub = "azure-devices.net:sastoken";
inline constexpr std::string_view k_cbs_status_code = "status-code";
inline constexpr std::string_view k_cbs_status_description = "status-description";

struct PutToken {
  std::string audience;
  std::string token;
  std::string type;
};
// The put-token request in `request`, or the reason it is not one (wrong operation, a type
// that is not a SAS token, no audience, no token body).
[[nodiscard]] std::optional<PutToken> parse_put_token(const Message& request, std::string* why);
// A put-token request for `token` on `audience` (the SDKs' form: string body, reply-to
// `reply_to`, a fresh message id).
[[nodiscard]] Message make_put_token(std::string_view audience, std::string_view token, std::string_view reply_to);
// The reply to `request`: correlation-id = its message-id, to = its reply-to, status-code
// (an int, as the SDKs read it) and status-description.
[[nodiscard]] Message make_cbs_reply(const Message& request, int status, std::string_view description);
struct CbsReply {
  int status = 0;
  std::string description;
};
// Reads a CBS reply; nullopt when it has no status-code.
[[nodiscard]] std::optional<CbsReply> parse_cbs_reply(const Message& reply);

// --- message properties (§15.4, §15.7) --------------------------------------------------------
// IoT Hub's system properties of an AMQP message (message id, correlation id, user id,
// content type and encoding, expiry and creation time as ISO 8601) and its application
// properties as text.
[[nodiscard]] MessageProperties properties_of(const Message& message);
// The reverse: sets those AMQP fields of `m` and appends the application properties. A time
// that is not ISO 8601 is left out.
void set_properties(Message& m, const MessageProperties& properties);

// --- C2D messages (§15.4) --------------------------------------------------------------------
inline constexpr std::string_view k_ack_property = "iothub-ack";
// IoT Hub's properties of a C2D message the service sent: message id, correlation id,
// content type/encoding, user id, expiry (absolute-expiry-time), iothub-ack and the other
// application properties (values as text).
[[nodiscard]] MessageProperties c2d_properties_of(const Message& message);
// The AMQP message a service sends for `body` with `properties` to `device_id`.
[[nodiscard]] Message make_c2d_message(std::string_view device_id, std::string_view body,
                                       const MessageProperties& properties,
                                       std::optional<std::int64_t> expiry_ms);

// --- the Event Hubs-compatible endpoint (§15.7) ------------------------------------------
inline constexpr std::string_view k_management_address = "$management";
inline constexpr std::string_view k_management_operation = "operation";
inline constexpr std::string_view k_management_read = "READ";
inline constexpr std::string_view k_eventhub_type = "com.microsoft:eventhub";
inline constexpr std::string_view k_partition_type = "com.microsoft:partition";
inline constexpr std::string_view k_selector_filter = "apache.org:selector-filter:string";
inline constexpr std::uint64_t k_selector_filter_code = 0x0000468C00000004;
inline constexpr std::string_view k_sequence_annotation = "x-opt-sequence-number";
inline constexpr std::string_view k_offset_annotation = "x-opt-offset";
inline constexpr std::string_view k_enqueued_time_annotation = "x-opt-enqueued-time";
inline constexpr std::string_view k_default_consumer_group = "$Default";

// The built-in endpoint's Event Hub name for hub host `host`: its first DNS label ("myhub" for
// myhub.azure-devices.net), the name the portal shows.
[[nodiscard]] std::string event_hub_name(std::string_view host);
// "Endpoint=sb://{host}/;SharedAccessKeyName=..;SharedAccessKey=..;EntityPath={name}".
[[nodiscard]] std::string event_hubs_connection_string(std::string_view host, std::string_view entity,
                                                       std::string_view policy, std::string_view key);

struct ConsumerAddress {
  std::string entity;
  std::string consumer_group;
  std::uint32_t partition = 0;
};
// "{entity}/ConsumerGroups/{group}/Partitions/{n}", optionally after "amqps://host[:port]/" or "/".
[[nodiscard]] std::optional<ConsumerAddress> parse_consumer_address(std::string_view address);
[[nodiscard]] std::string consumer_address(const ConsumerAddress& address);
// True for a link to IoT Hub's own `messages/events` node, which the hub answers with a
// redirect to the Event Hubs-compatible endpoint.
[[nodiscard]] bool is_hub_events_address(std::string_view address);

// A consumer's start, from the selector filter "amqp.annotation.x-opt-offset > '-1'" and its
// sequence-number and enqueued-time forms (`>` or `>=`, value quoted or not).
struct EventPosition {
  enum class Kind { offset, sequence, enqueued_time, latest };
  Kind kind = Kind::offset;
  bool inclusive = false;
  std::int64_t value = -1;  // offset / sequence number / Unix milliseconds
};
// nullopt (with `why`) for a filter azhub does not understand.
[[nodiscard]] std::optional<EventPosition> parse_event_filter(std::string_view filter, std::string* why);
[[nodiscard]] std::string event_filter(const EventPosition& position);

// The record `azhub service monitor -o json` prints for an event read from the Event
// Hubs-compatible endpoint: sequenceNumber, partition, offset, enqueuedTime, deviceId,
// moduleId, then core::message_record_json's body, bodyEncoding, systemProperties and
// properties, and the hub's other annotations (iothub-*, dt-*) under "annotations".
[[nodiscard]] nlohmann::ordered_json event_record_json(const Message& event, std::string_view partition);

// --- device links (§15.6) ------------------------------------------------------------------
// What a device or module link is for, from its address (optionally after "amqps://host/"):
//   /devices/{d}/messages/events            telemetry (the device sends); for a module, its
//                                           receiver on the same address takes input messages
//   /devices/{d}/messages/devicebound       C2D (the device receives)
//   /devices/{d}/methods/devicebound        direct methods (one link each way)
//   /devices/{d}/twin                       twin requests and responses (one link each way)
// and the same under /devices/{d}/modules/{m}/. Ids are percent-decoded.
enum class DeviceEndpoint { telemetry, c2d, methods, twin };
struct DeviceAddress {
  std::string device_id;
  std::optional<std::string> module_id;
  DeviceEndpoint endpoint = DeviceEndpoint::telemetry;
};
[[nodiscard]] std::optional<DeviceAddress> parse_device_address(std::string_view address);
[[nodiscard]] std::string device_address(const DeviceAddress& address);

// Attach property pairing a device's two method or twin links ("methods:{uuid}", "twin:{uuid}").
inline constexpr std::string_view k_channel_correlation_id = "com.microsoft:channel-correlation-id";
// Direct methods: the request's application property naming the method, the response's status.
inline constexpr std::string_view k_method_name_property = "IoThub-methodname";
inline constexpr std::string_view k_method_status_property = "IoThub-status";
// Twin requests: message annotations `operation` (GET, PATCH, PUT, DELETE) and `resource`;
// responses: annotations `status` (int) and `version` (long).
inline constexpr std::string_view k_twin_operation = "operation";
inline constexpr std::string_view k_twin_resource = "resource";
inline constexpr std::string_view k_twin_status = "status";
inline constexpr std::string_view k_twin_version = "version";
inline constexpr std::string_view k_twin_reported_resource = "/properties/reported";
inline constexpr std::string_view k_twin_desired_resource = "/notifications/twin/properties/desired";

// --- errors (§15.5) ------------------------------------------------------------------------
inline constexpr std::string_view k_not_found = "amqp:not-found";
inline constexpr std::string_view k_unauthorized = "amqp:unauthorized-access";
inline constexpr std::string_view k_resource_limit = "amqp:resource-limit-exceeded";
inline constexpr std::string_view k_message_size_exceeded = "amqp:link:message-size-exceeded";
inline constexpr std::string_view k_invalid_field = "amqp:invalid-field";
inline constexpr std::string_view k_internal_error = "amqp:internal-error";
inline constexpr std::string_view k_not_allowed = "amqp:not-allowed";
inline constexpr std::string_view k_decode_error = "amqp:decode-error";
inline constexpr std::string_view k_redirect = "amqp:link:redirect";
inline constexpr std::string_view k_detach_forced = "amqp:link:detach-forced";

// The condition a disposition or detach carries for IoT Hub error `hub_code` (core/hub_errors.hpp).
[[nodiscard]] std::string_view condition_for(int hub_code);
// The IoT Hub error code a client reports for `condition` (0 when there is none).
[[nodiscard]] int hub_code_for(std::string_view condition);

}  // namespace azhub::core::amqp
