#pragma once
// IoT Hub's HTTPS message headers: how a message's properties travel on the device-facing
// HTTPS API (telemetry POSTs, C2D receives, docs/protocol.md §6.2) and on the emulator's C2D
// hook that reuses their names (§12.4). Pure.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/properties.hpp"

namespace azhub::core::http_message {

using Headers = std::vector<std::pair<std::string, std::string>>;  // name, value

inline constexpr std::string_view k_app_prefix = "iothub-app-";
// A telemetry POST with this content type carries a batch (parse_batch).
inline constexpr std::string_view k_batch_content_type = "application/vnd.microsoft.iothub.json";

// Where the content type and encoding travel: `iothub`: iothub-contenttype and
// iothub-contentencoding (a device's telemetry POST, as the device SDKs send them); `standard`:
// Content-Type and Content-Encoding, the body's own headers (a C2D receive, the C2D hook).
enum class ContentHeaders { iothub, standard };

// The headers for `props`: iothub-messageid, iothub-correlationid, iothub-userid, iothub-to,
// iothub-expiry, iothub-ack, the content headers, dt-subject (a Plug and Play component) and
// iothub-app-{name} for each application property.
[[nodiscard]] Headers headers_of(const MessageProperties& props, ContentHeaders content);

// The properties `headers` carry (names in any case; the first of a repeated header wins).
// Throws Error(usage) for an application property or system property the hub refuses.
[[nodiscard]] MessageProperties properties_of(const Headers& headers, ContentHeaders content);

// A batch body: a JSON array of {"body": base64, "properties": {"iothub-app-{name}": "v", ...}}
// (the Node device SDK's sendEventBatch). Throws Error(usage) naming what is wrong.
struct BatchItem {
  std::string body;
  MessageProperties properties;
};
[[nodiscard]] std::vector<BatchItem> parse_batch(std::string_view body);

}  // namespace azhub::core::http_message
