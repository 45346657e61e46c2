#pragma once
// Percent-encoding as IoT Hub expects it, and base64 (OpenSSL).
#include <optional>
#include <string>
#include <string_view>

namespace azhub::core {

// Percent-encodes every byte outside `A-Z a-z 0-9 - _ . ~` as %XX with uppercase hex.
// Space is %20, never '+'. (iothub-protocol.md §3.2 step 2, §5)
[[nodiscard]] std::string url_encode(std::string_view text);

// Decodes %XX sequences (either hex case). '+' stays '+'. Throws Error(usage) naming
// `what` on a truncated or non-hex escape.
[[nodiscard]] std::string url_decode(std::string_view text, std::string_view what = "value");

// Standard alphabet, padded.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

// Strict decode of standard, padded base64; nullopt if `text` is not valid base64.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace azhub::core
