#include "core/sas.hpp"

#include <limits>
#include <vector>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/encoding.hpp"
#include "core/error.hpp"

namespace azhub::core {
namespace {

constexpr std::string_view k_prefix = "SharedAccessSignature ";

// Canonical decimal only ("0" or no leading zero, no sign): the HMAC covers `se` as sent, and
// verify_sas_signature re-renders it from the integer, so both must agree byte for byte.
std::optional<std::int64_t> parse_canonical_int64(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

std::string device_resource_uri(std::string_view host, std::string_view device_id,
                                std::optional<std::string_view> module_id) {
  std::string uri = fmt::format("{}/devices/{}", host, device_id);
  if (module_id) uri += fmt::format("/modules/{}", *module_id);
  return uri;
}

std::string sas_string_to_sign(std::string_view encoded_sr, std::int64_t expiry) {
  return fmt::format("{}\n{}", encoded_sr, expiry);
}

std::string sas_signature(std::string_view key_b64, std::string_view string_to_sign, SasKey key_use) {
  std::optional<std::string> key;
  if (key_use == SasKey::text) {
    key = std::string(key_b64);
  } else {
    key = base64_decode(key_b64);
    if (!key) throw usage_error("SAS key is not valid base64");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const unsigned char* ok = HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
                                 reinterpret_cast<const unsigned char*>(string_to_sign.data()),
                                 string_to_sign.size(), digest, &digest_len);
  if (ok == nullptr) throw Error(ExitCode::failure, "HMAC-SHA256 failed");
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), digest_len));
}

std::string build_sas_token(std::string_view resource_uri, std::string_view key_b64,
                            std::int64_t expiry, std::optional<std::string_view> key_name, SasKey key_use) {
  const std::string sr = url_encode(resource_uri);
  const std::string sig = sas_signature(key_b64, sas_string_to_sign(sr, expiry), key_use);
  // Field order of the C and Python SDKs (docs/protocol.md §3.1); skn encoded as Node and
  // .NET do, which is the same text for ordinary policy names (§3.2 step 6).
  std::string token = fmt::format("{}sr={}&sig={}&se={}", k_prefix, sr, url_encode(sig), expiry);
  if (key_name) token += fmt::format("&skn={}", url_encode(*key_name));
  return token;
}

SasToken parse_sas_token(std::string_view token) {
  if (token.substr(0, k_prefix.size()) != k_prefix) {
    throw usage_error("SAS token: does not start with 'SharedAccessSignature '");
  }
  std::optional<std::string> sr;
  std::optional<std::string> sig;
  std::optional<std::string_view> se;
  std::optional<std::string> skn;
  for (const auto& field : split_query(token.substr(k_prefix.size()))) {
    if (!field.value) throw usage_error("SAS token: a field is not name=value");
    const std::string_view name = field.key;
    const std::string_view value = *field.value;
    const auto set_once = [&](auto& slot, auto v) {
      if (slot) throw usage_error(fmt::format("SAS token: duplicate field '{}'", name));
      slot = std::move(v);
    };
    if (name == "sr") {
      set_once(sr, std::string(value));
    } else if (name == "sig") {
      set_once(sig, url_decode(value, "SAS token: sig"));
    } else if (name == "se") {
      set_once(se, value);
    } else if (name == "skn") {
      set_once(skn, url_decode(value, "SAS token: skn"));
    }
    // Other fields are ignored, as the SDK parsers do.
  }
  if (!sr || sr->empty()) throw usage_error("SAS token: missing sr");
  if (!sig || sig->empty()) throw usage_error("SAS token: missing sig");
  if (!se) throw usage_error("SAS token: missing se");
  const std::optional<std::int64_t> expiry = parse_canonical_int64(*se);
  if (!expiry) throw usage_error("SAS token: se is not a decimal number of seconds");
  if (skn && skn->empty()) throw usage_error("SAS token: skn is empty");
  return SasToken{std::move(*sr), std::move(*sig), *expiry, std::move(skn)};
}

bool verify_sas_signature(const SasToken& token, std::string_view key_b64, SasKey key_use) {
  if (key_use == SasKey::decoded && !base64_decode(key_b64)) return false;
  const std::string expected = sas_signature(key_b64, sas_string_to_sign(token.sr, token.expiry), key_use);
  if (expected.size() != token.signature.size()) return false;
  return CRYPTO_memcmp(expected.data(), token.signature.data(), expected.size()) == 0;
}

std::int64_t sas_expiry(std::int64_t now, std::int64_t ttl_seconds) {
  if (ttl_seconds <= 0) {
    throw usage_error(
        fmt::format("token TTL must be a positive number of seconds (got {})", ttl_seconds));
  }
  if (now > std::numeric_limits<std::int64_t>::max() - ttl_seconds) {
    throw usage_error(fmt::format("token TTL {} is too large", ttl_seconds));
  }
  return now + ttl_seconds;
}

std::optional<SasResource> parse_sas_resource(std::string_view sr) {
  std::string decoded;
  try {
    decoded = url_decode(sr, "sr");
  } catch (const Error&) {
    return std::nullopt;
  }
  const std::vector<std::string_view> parts = split(decoded, '/');
  for (std::string_view part : parts) {
    if (part.empty()) return std::nullopt;
  }
  SasResource res;
  res.host = std::string(parts[0]);
  switch (parts.size()) {
    case 1:
      return res;
    case 2:
      if (parts[1] != "devices") return std::nullopt;
      res.all_devices = true;
      return res;
    case 3:
      if (parts[1] != "devices") return std::nullopt;
      res.device_id = std::string(parts[2]);
      return res;
    case 5:
      if (parts[1] != "devices" || parts[3] != "modules") return std::nullopt;
      res.device_id = std::string(parts[2]);
      res.module_id = std::string(parts[4]);
      return res;
    default:
      return std::nullopt;
  }
}

bool sas_id_matches(std::string_view segment, std::string_view id) {
  if (segment == id) return true;
  // One more decode for the .NET v1 double encoding; never more (docs/protocol.md §3.3
  // step 3: "50%25off" decoded twice would wrongly become "50%off").
  try {
    return url_decode(segment, "id") == id;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace azhub::core
