#pragma once
// IoT Hub's AMQP dialect (docs/protocol.md §15): link addresses, claims-based security (CBS)
// request and reply fields, how a C2D message's fields map to IoT Hub's message properties, and
// which AMQP error condition stands for which IoT Hub error. The one home of these rules for
// the emulator's AMQP listener and for `azhub service`'s AMQP client.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// The condition a disposition or detach carries for IoT Hub error `hub_code` (core/hub_errors.hpp).
[[nodiscard]] std::string_view condition_for(int hub_code);
// The IoT Hub error code a client reports for `condition` (0 when there is none).
[[nodiscard]] int hub_code_for(std::string_view condition);

}  // namespace azhub::core::amqp
