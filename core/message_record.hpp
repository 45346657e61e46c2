#pragma once
// A message as azhub prints it for scripts (-o json): the record shared by `azhub listen` (C2D)
// and the emulator's D2C record that `azhub service monitor` prints, so that both have the same
// members: {"body","bodyEncoding","systemProperties":{...},"properties":{...}}.
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/properties.hpp"

namespace azhub::core {

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
[[nodiscard]] bool is_valid_utf8(std::string_view text);

// The system properties keyed by IoT Hub's long names (messageId, correlationId, userId,
// contentType, contentEncoding, expiryTimeUtc, to, creationTimeUtc, subject, outputName, ack);
// absent ones are left out.
[[nodiscard]] nlohmann::json system_properties_to_json(const SystemProperties& system);

// {"body","bodyEncoding","systemProperties","properties"}: the body as text when it is valid
// UTF-8 ("bodyEncoding":"utf-8"), else base64 ("base64"); application properties by name, a
// key-only property as null.
[[nodiscard]] nlohmann::json message_record_json(std::string_view body, const MessageProperties& properties);

}  // namespace azhub::core
