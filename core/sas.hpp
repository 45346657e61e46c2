#pragma once
// Shared access signature tokens (docs/protocol.md §3).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace azhub::core {

// "{host}/devices/{device}[/modules/{module}]", unencoded.
[[nodiscard]] std::string device_resource_uri(std::string_view host, std::string_view device_id,
                                              std::optional<std::string_view> module_id = {});

// `encoded_sr` + "\n" + decimal `expiry`.
[[nodiscard]] std::string sas_string_to_sign(std::string_view encoded_sr, std::int64_t expiry);

// How a key signs (docs/protocol.md §15.7): IoT Hub and its SDKs use the base64-decoded key
// bytes; Event Hubs and its SDKs use the key text's UTF-8 bytes as the HMAC key.
enum class SasKey { decoded, text };

// base64(HMAC-SHA256(base64decode(`key_b64`), `string_to_sign`)) (with SasKey::text, the key's
// own bytes). Throws Error(usage) if a decoded key is not valid base64.
[[nodiscard]] std::string sas_signature(std::string_view key_b64, std::string_view string_to_sign,
                                        SasKey key_use = SasKey::decoded);

struct SasToken {
  std::string sr;         // as it appears in the token (percent-encoded)
  std::string signature;  // base64, decoded from the sig= parameter
  std::int64_t expiry = 0;
  std::optional<std::string> key_name;  // skn
};

// "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" for the unencoded `resource_uri`.
[[nodiscard]] std::string build_sas_token(std::string_view resource_uri, std::string_view key_b64,
                                          std::int64_t expiry,
                                          std::optional<std::string_view> key_name = {},
                                          SasKey key_use = SasKey::decoded);

// Parses a token in any field order. Throws Error(usage) ("SAS token: ...") when malformed.
[[nodiscard]] SasToken parse_sas_token(std::string_view token);

// True when `token.signature` is the HMAC of `token.sr` exactly as sent and `token.expiry` under
// `key_b64` (constant-time comparison). False for an undecodable key.
[[nodiscard]] bool verify_sas_signature(const SasToken& token, std::string_view key_b64,
                                        SasKey key_use = SasKey::decoded);

// Expiry from `now` + `ttl_seconds`; throws Error(usage) if ttl is not positive.
[[nodiscard]] std::int64_t sas_expiry(std::int64_t now, std::int64_t ttl_seconds);

// The resource a token's `sr` names after one URL-decode, split into parts
// (docs/protocol.md §3.3 steps 3-4). nullopt when `sr` does not name a hub resource.
struct SasResource {
  std::string host;
  std::optional<std::string> device_id;  // absent for "{host}" and "{host}/devices"
  std::optional<std::string> module_id;
  bool all_devices = false;  // "{host}/devices"
};
[[nodiscard]] std::optional<SasResource> parse_sas_resource(std::string_view sr);

// True when the id segment `segment` (decoded once) names `id`, either directly or after one
// more decode (the .NET SDK's double encoding). (docs/protocol.md §3.3 step 3)
[[nodiscard]] bool sas_id_matches(std::string_view segment, std::string_view id);

}  // namespace azhub::core
