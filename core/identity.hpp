#pragma once
// A device or module identity and the MQTT CONNECT fields derived from it (docs/protocol.md §2).
#include <optional>
#include <string>
#include <string_view>

namespace azhub::core {

inline constexpr std::string_view k_api_version = "2021-04-12";

struct Identity {
  std::string host;  // HostName (never the gateway)
  std::string device_id;
  std::optional<std::string> module_id;
};

// "{device}" or "{device}/{module}".
[[nodiscard]] std::string mqtt_client_id(const Identity& id);

// "{host}/{device}[/{module}]/?api-version=..&DeviceClientType=..[&model-id=..]", values
// percent-encoded, host and ids never encoded.
[[nodiscard]] std::string mqtt_username(const Identity& id, std::string_view product,
                                        std::optional<std::string_view> model_id = {},
                                        std::string_view api_version = k_api_version);

struct UsernameParts {
  std::string host;
  std::string device_id;
  std::optional<std::string> module_id;
  std::optional<std::string> api_version;
  std::optional<std::string> model_id;
};
// Parses a CONNECT username (both "/?" and "/" before the query are accepted). nullopt when it
// does not have the IoT Hub shape.
[[nodiscard]] std::optional<UsernameParts> parse_mqtt_username(std::string_view username);

// True for a character IoT Hub allows in device and module ids and message ids (§12.2):
// ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '.
[[nodiscard]] bool is_identity_char(char c);

// Throws Error(usage) naming `what` if `id` is not a valid device/module id (≤128 chars,
// docs/protocol.md §12.2 charset).
void validate_identity_id(std::string_view id, std::string_view what);

// Looser than validate_identity_id, for tools that only sign or address a resource (azhub sas):
// throws Error(usage) naming `what` unless `id` is 1..128 bytes without '/' or control
// characters, i.e. it stays one path segment of a resource URI.
void validate_id_segment(std::string_view id, std::string_view what);

// True for an X.509 thumbprint as IoT Hub stores it: 40 (SHA-1) or 64 (SHA-256) hex digits,
// either case (colon-separated copies are not the hub's form).
[[nodiscard]] bool is_thumbprint(std::string_view thumbprint);

// Throws Error(usage) "`what`: expected 40 or 64 hex digits (SHA-1 or SHA-256 thumbprint)"
// unless is_thumbprint(`thumbprint`).
void validate_thumbprint(std::string_view thumbprint, std::string_view what);

// Throws Error(usage) "`what`: must be base64 of 16 to 64 bytes" unless `key` is a symmetric
// key IoT Hub accepts (docs/protocol.md §12.2).
void validate_symmetric_key(std::string_view key, std::string_view what);

// Throws Error(usage) naming `what` unless `seconds` is 0 to limits::k_keepalive_max_client_s,
// the largest MQTT keep-alive whose 1.5× server timeout stays under the hub's idle cap (§2.3).
void validate_keep_alive(int seconds, std::string_view what);

// Throws Error(usage) naming `what` unless `model_id` is a Digital Twins Model Identifier as
// IoT Plug and Play takes it in the MQTT user name (§10): "dtmi:" then ':'-separated segments
// (a letter, then letters, digits or '_', not ending in '_'), then an optional ";version"
// (1 to 999999999, optionally ".minor"); at most limits::k_model_id_max_chars characters.
void validate_model_id(std::string_view model_id, std::string_view what);

}  // namespace azhub::core
