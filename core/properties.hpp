#pragma once
// Message property bags: "k1=v1&k2=v2" with percent-encoded keys and values (docs/protocol.md
// §5).
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/limits.hpp"

namespace azhub::core {

// System properties by their MQTT keys; absent when not set.
struct SystemProperties {
  std::optional<std::string> message_id;        // $.mid
  std::optional<std::string> correlation_id;    // $.cid
  std::optional<std::string> user_id;           // $.uid
  std::optional<std::string> content_type;      // $.ct
  std::optional<std::string> content_encoding;  // $.ce
  std::optional<std::string> expiry;            // $.exp (ISO 8601 UTC)
  std::optional<std::string> to;                // $.to (C2D)
  std::optional<std::string> creation_time;     // $.ctime
  std::optional<std::string> subject;           // $.sub
  std::optional<std::string> output_name;       // $.on
  std::optional<std::string> ack;               // iothub-ack (C2D)
  auto operator<=>(const SystemProperties&) const = default;
};

struct MessageProperties {
  SystemProperties system;
  // Application properties in order of appearance. A value of nullopt is the "key" form
  // (no '='), distinct from "key=" (empty string).
  std::vector<std::pair<std::string, std::optional<std::string>>> application;
  bool operator==(const MessageProperties&) const = default;
};

// Builds the bag: system properties in the emulator order of §5.3, then application
// properties; every key and value percent-encoded. Empty string for no properties.
[[nodiscard]] std::string build_property_bag(const MessageProperties& props);

// Parses a bag (keys may arrive as "$.x" or "%24.x"). Throws Error(usage) on a malformed escape.
[[nodiscard]] MessageProperties parse_property_bag(std::string_view bag);

// Name and value checks the hub applies (§5.1 charset, §11 sizes); throws Error(usage).
void validate_application_property(std::string_view name, std::string_view value);

// Checks the system properties the hub constrains (docs/protocol.md §5.1): $.mid at most 128
// ASCII characters of the id charset; iothub-ack one of none, positive, negative, full. Throws
// Error(usage) naming the property.
void validate_system_properties(const SystemProperties& system);

// The one rule for a `--prop NAME=VALUE` argument (azhub send, azhub service c2d send): the
// first '=' splits name and value; "NAME=" is an empty value; no '=', an empty name, a name
// starting with "$." (system properties have their own flags) or a name or value the hub
// refuses (validate_application_property) throws Error(usage) "--prop '...': ...".
[[nodiscard]] std::pair<std::string, std::string> parse_property_argument(std::string_view text);

// Message size as the hub counts it: body + system property values + app names and values.
[[nodiscard]] std::size_t message_size(std::string_view body, const MessageProperties& props);

// Throws Error(usage) "`what` is N bytes (body and properties); IoT Hub accepts at most
// `limit`" when message_size() exceeds `limit` (docs/protocol.md §11).
void validate_message_size(std::string_view body, const MessageProperties& props,
                           std::size_t limit = limits::k_d2c_message_bytes,
                           std::string_view what = "message");

}  // namespace azhub::core
