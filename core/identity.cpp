#include "core/identity.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace azhub::core {
namespace {


bool starts_with_query_key(std::string_view segment) {
  return segment.starts_with("api-version=") || segment.starts_with("DeviceClientType=") ||
         segment.starts_with("model-id=");
}

bool parse_query(std::string_view query, UsernameParts& parts) {
  for (const auto& [key, raw] : split_query(query)) {
    std::string value;
    try {
      value = url_decode(raw.value_or(""), "username");
    } catch (const Error&) {
      return false;
    }
    if (key == "api-version") parts.api_version = std::move(value);
    if (key == "model-id") parts.model_id = std::move(value);
  }
  return true;
}

}  // namespace

std::string mqtt_client_id(const Identity& id) {
  if (id.module_id) return fmt::format("{}/{}", id.device_id, *id.module_id);
  return id.device_id;
}

std::string mqtt_username(const Identity& id, std::string_view product,
                          std::optional<std::string_view> model_id, std::string_view api_version) {
  // Host and ids go raw; only query values are percent-encoded (docs/protocol.md §2.1).
  std::string out = fmt::format("{}/{}/", id.host, mqtt_client_id(id));
  out += fmt::format("?api-version={}", url_encode(api_version));
  if (!product.empty()) out += fmt::format("&DeviceClientType={}", url_encode(product));
  if (model_id) out += fmt::format("&model-id={}", url_encode(*model_id));
  return out;
}

std::optional<UsernameParts> parse_mqtt_username(std::string_view username) {
  std::string_view path;
  std::string_view query;
  // Ids may contain '?', but query values are percent-encoded, so the LAST "/?" starts the query.
  const std::size_t q = username.rfind("/?");
  if (q != std::string_view::npos) {
    path = username.substr(0, q);
    query = username.substr(q + 2);
  } else {
    // Old C SDK form without '?': "{host}/{id}/api-version=..." (§2.1).
    path = username;
    const std::size_t slash = username.rfind('/');
    if (slash != std::string_view::npos) {
      const std::string_view last = username.substr(slash + 1);
      if (last.empty() || starts_with_query_key(last)) {
        path = username.substr(0, slash);
        query = last;
      }
    }
  }
  UsernameParts parts;
  std::size_t start = 0;
  int index = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    start = end + 1;
    if (segment.empty()) return std::nullopt;
    switch (index++) {
      case 0:
        parts.host = std::string(segment);
        break;
      case 1:
        parts.device_id = std::string(segment);
        break;
      case 2:
        parts.module_id = std::string(segment);
        break;
      default:
        return std::nullopt;
    }
  }
  if (index < 2) return std::nullopt;
  if (!parse_query(query, parts)) return std::nullopt;
  return parts;
}

bool is_identity_char(char c) {
  constexpr std::string_view k_id_specials = "-:.+%_#*?!(),=@;$'";
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         k_id_specials.find(c) != std::string_view::npos;
}

void validate_identity_id(std::string_view id, std::string_view what) {
  if (id.empty()) throw usage_error(fmt::format("{} is empty", what));
  if (id.size() > limits::k_id_max_chars) {
    throw usage_error(fmt::format("{} is {} characters long; IoT Hub allows at most {}", what,
                                  id.size(), limits::k_id_max_chars));
  }
  for (char c : id) {
    if (!is_identity_char(c)) {
      throw usage_error(
          fmt::format("{} contains {}; IoT Hub ids allow letters, digits and - : . + % _ # * ? ! ( "
                      ") , = @ ; $ '",
                      what, describe_byte(c)));
    }
  }
}

void validate_id_segment(std::string_view id, std::string_view what) {
  if (id.empty()) throw usage_error(fmt::format("{} is empty", what));
  if (id.size() > limits::k_id_max_chars) {
    throw usage_error(fmt::format("{} is {} characters long; IoT Hub allows at most {}", what,
                                  id.size(), limits::k_id_max_chars));
  }
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || u < 0x20 || u == 0x7F) {
      throw usage_error(
          fmt::format("{} contains {}, which cannot be part of an id", what, describe_byte(c)));
    }
  }
}

bool is_thumbprint(std::string_view thumbprint) {
  return (thumbprint.size() == 40 || thumbprint.size() == 64) &&
         std::all_of(thumbprint.begin(), thumbprint.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

void validate_thumbprint(std::string_view thumbprint, std::string_view what) {
  if (!is_thumbprint(thumbprint))
    throw usage_error(fmt::format("{}: expected 40 or 64 hex digits (SHA-1 or SHA-256 thumbprint)", what));
}

void validate_symmetric_key(std::string_view key, std::string_view what) {
  const auto bytes = base64_decode(key);
  if (!bytes || bytes->size() < 16 || bytes->size() > 64)
    throw usage_error(fmt::format("{}: must be base64 of 16 to 64 bytes", what));
}

void validate_keep_alive(int seconds, std::string_view what) {
  if (seconds < 0 || seconds > limits::k_keepalive_max_client_s) {
    throw usage_error(fmt::format("{} {}: must be 0 to {} seconds (the hub's idle limit)", what, seconds,
                                  limits::k_keepalive_max_client_s));
  }
}

namespace {

bool is_dtmi_segment(std::string_view segment) {
  const auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (segment.empty() || !alpha(segment.front()) || segment.back() == '_') return false;
  return std::all_of(segment.begin(), segment.end(), [&](char c) { return alpha(c) || digit(c) || c == '_'; });
}

bool is_dtmi_version_number(std::string_view number) {
  return !number.empty() && number.size() <= 9 && number.front() != '0' &&
         std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_dtmi(std::string_view text) {
  constexpr std::string_view k_scheme = "dtmi:";
  if (!text.starts_with(k_scheme)) return false;
  text.remove_prefix(k_scheme.size());
  const auto semi = text.find(';');
  const std::string_view path = text.substr(0, semi);
  if (semi != std::string_view::npos) {
    const std::string_view version = text.substr(semi + 1);
    const auto dot = version.find('.');
    if (!is_dtmi_version_number(version.substr(0, dot))) return false;
    if (dot != std::string_view::npos && !is_dtmi_version_number(version.substr(dot + 1))) return false;
  }
  std::size_t start = 0;
  while (true) {
    const auto colon = path.find(':', start);
    if (!is_dtmi_segment(path.substr(start, colon - start))) return false;
    if (colon == std::string_view::npos) return true;
    start = colon + 1;
  }
}

}  // namespace

void validate_model_id(std::string_view model_id, std::string_view what) {
  if (model_id.size() > limits::k_model_id_max_chars || !is_dtmi(model_id)) {
    throw usage_error(fmt::format("{} '{}': expected a DTMI such as dtmi:com:example:Thermostat;1", what,
                                  model_id.substr(0, 200)));
  }
}

}  // namespace azhub::core
