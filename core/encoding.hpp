#pragma once
// Percent-encoding as IoT Hub expects it, and base64 (OpenSSL).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace azhub::core {

// Percent-encodes every byte outside `A-Z a-z 0-9 - _ . ~` as %XX with uppercase hex.
// Space is %20, never '+'. (docs/protocol.md §3.2 step 2, §5)
[[nodiscard]] std::string url_encode(std::string_view text);

// Decodes %XX sequences (either hex case). '+' stays '+'. Throws Error(usage) naming
// `what` on a truncated or non-hex escape.
[[nodiscard]] std::string url_decode(std::string_view text, std::string_view what = "value");

// One '&'-separated pair of a query string, property bag or SAS token, as sent (not decoded).
struct QueryPair {
  std::string_view key;
  std::optional<std::string_view> value;  // nullopt for the key-only form "k" (no '=')
};

// The one splitter of "k1=v1&k2&k3=" texts (MQTT user names, twin/method topic queries,
// property bags, SAS tokens, REST query strings): splits on '&', then at the first '='; empty
// pairs ("a=1&&b=2", a trailing '&') are skipped. Keys and values are left encoded.
[[nodiscard]] std::vector<QueryPair> split_query(std::string_view query);

// Standard alphabet, padded.
[[nodiscard]] std::string base64_encode(std::string_view bytes);

// Decodes standard, padded base64: length a multiple of 4, only the standard alphabet, '=' only
// as final padding; nullopt otherwise (no whitespace, no URL-safe alphabet, no missing padding).
// Like OpenSSL and Python, unused low bits of the last character are not checked.
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace azhub::core
