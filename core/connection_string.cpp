#include "core/connection_string.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/sas.hpp"
#include "core/text.hpp"

namespace azhub::core {
namespace {

constexpr std::array<std::string_view, 8> k_known_keys = {"HostName",
                                                          "DeviceId",
                                                          "ModuleId",
                                                          "SharedAccessKey",
                                                          "SharedAccessKeyName",
                                                          "SharedAccessSignature",
                                                          "GatewayHostName",
                                                          "x509"};

Error cs_error(std::string_view detail) {
  return usage_error(fmt::format("connection string: {}", detail));
}


void validate_host(std::string_view value, std::string_view field) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(u) != 0 || u < 0x20 || u >= 0x7F) {
      throw cs_error(
          fmt::format("{} must be a plain host name (no scheme, port, path or spaces)", field));
    }
  }
}

bool looks_like_field_name(std::string_view key) {
  if (key.empty() || key.size() > 32) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

struct Fields {
  std::optional<std::string> host_name, device_id, module_id, key, key_name, signature, gateway,
      x509;
  std::optional<std::string>* slot(std::string_view name) {
    if (name == "HostName") return &host_name;
    if (name == "DeviceId") return &device_id;
    if (name == "ModuleId") return &module_id;
    if (name == "SharedAccessKey") return &key;
    if (name == "SharedAccessKeyName") return &key_name;
    if (name == "SharedAccessSignature") return &signature;
    if (name == "GatewayHostName") return &gateway;
    if (name == "x509") return &x509;
    return nullptr;
  }
};

Fields split_fields(std::string_view text) {
  Fields fields;
  std::size_t index = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(';', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view part = text.substr(start, end - start);
    start = end + 1;
    ++index;
    if (trim(part).empty()) {
      if (end == text.size()) break;  // one trailing ';' is harmless
      throw cs_error(fmt::format("part {} is empty (stray ';')", index));
    }
    // Split on the FIRST '=': base64 keys end in '=' (docs/protocol.md §3.4).
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      throw cs_error(fmt::format("part {} is not Key=Value", index));
    }
    const std::string_view key = part.substr(0, eq);
    std::optional<std::string>* slot = fields.slot(key);
    if (slot == nullptr) {
      for (std::string_view known : k_known_keys) {
        if (iequals(known, key)) {
          throw cs_error(fmt::format(
              "unknown key '{}' (keys are case-sensitive: did you mean '{}'?)", key, known));
        }
      }
      // A pasted key or token can land here as a "key" (it ends in '='): name only what looks
      // like a field name, never something that may be a secret.
      if (!looks_like_field_name(key)) {
        throw cs_error(
            fmt::format("part {} has an unknown key (not shown: it may be a secret)", index));
      }
      throw cs_error(fmt::format("unknown key '{}'", key));
    }
    if (*slot) throw cs_error(fmt::format("duplicate key '{}'", key));
    const std::string_view value = part.substr(eq + 1);
    if (value.empty()) throw cs_error(fmt::format("{} is empty", key));
    *slot = std::string(value);
  }
  return fields;
}

}  // namespace

ConnectionString parse_connection_string(std::string_view text) {
  text = trim(text);
  if (text.empty()) throw cs_error("is empty");
  Fields f = split_fields(text);

  ConnectionString cs;
  if (!f.host_name) throw cs_error("missing HostName");
  validate_host(*f.host_name, "HostName");
  cs.host_name = std::move(*f.host_name);
  if (f.gateway) {
    validate_host(*f.gateway, "GatewayHostName");
    cs.gateway_host_name = std::move(f.gateway);
  }
  if (f.x509) {
    if (iequals(*f.x509, "true")) {
      cs.x509 = true;
    } else if (!iequals(*f.x509, "false")) {
      throw cs_error("x509 must be 'true' or 'false'");
    }
  }
  if (f.key) {
    if (!base64_decode(*f.key)) throw cs_error("SharedAccessKey is not valid base64");
  }

  if (f.key_name) {
    // Service/policy form: HostName;SharedAccessKeyName;SharedAccessKey and nothing else.
    if (f.device_id)
      throw cs_error("SharedAccessKeyName (a policy) cannot be combined with DeviceId");
    if (f.module_id)
      throw cs_error("SharedAccessKeyName (a policy) cannot be combined with ModuleId");
    if (f.signature) {
      throw cs_error("SharedAccessKeyName cannot be combined with SharedAccessSignature");
    }
    if (cs.x509) throw cs_error("SharedAccessKeyName cannot be combined with x509=true");
    if (!f.key) throw cs_error("missing SharedAccessKey (required with SharedAccessKeyName)");
    cs.kind = ConnectionString::Kind::service;
    cs.shared_access_key_name = std::move(f.key_name);
    cs.shared_access_key = std::move(f.key);
    return cs;
  }

  if (!f.device_id) {
    if (f.module_id) throw cs_error("ModuleId requires DeviceId");
    throw cs_error("missing DeviceId (device) or SharedAccessKeyName (service policy)");
  }
  validate_identity_id(*f.device_id, "connection string: DeviceId");
  if (f.module_id) validate_identity_id(*f.module_id, "connection string: ModuleId");
  const int credentials = (f.key ? 1 : 0) + (f.signature ? 1 : 0) + (cs.x509 ? 1 : 0);
  if (f.key && cs.x509) throw cs_error("SharedAccessKey cannot be combined with x509=true");
  if (f.signature && cs.x509) {
    throw cs_error("SharedAccessSignature cannot be combined with x509=true");
  }
  if (f.key && f.signature) {
    throw cs_error("SharedAccessKey cannot be combined with SharedAccessSignature");
  }
  if (credentials == 0) {
    throw cs_error("missing SharedAccessKey (or SharedAccessSignature, or x509=true)");
  }
  if (f.signature) {
    try {
      (void)parse_sas_token(*f.signature);
    } catch (const Error& e) {
      throw cs_error(fmt::format("SharedAccessSignature is not valid ({})", e.what()));
    }
  }
  cs.kind = f.module_id ? ConnectionString::Kind::module : ConnectionString::Kind::device;
  cs.device_id = std::move(f.device_id);
  cs.module_id = std::move(f.module_id);
  cs.shared_access_key = std::move(f.key);
  cs.shared_access_signature = std::move(f.signature);
  return cs;
}

std::string format_connection_string(const ConnectionString& cs) {
  std::string out = fmt::format("HostName={}", cs.host_name);
  if (cs.device_id) out += fmt::format(";DeviceId={}", *cs.device_id);
  if (cs.module_id) out += fmt::format(";ModuleId={}", *cs.module_id);
  if (cs.shared_access_key_name)
    out += fmt::format(";SharedAccessKeyName={}", *cs.shared_access_key_name);
  if (cs.shared_access_key) out += fmt::format(";SharedAccessKey={}", *cs.shared_access_key);
  if (cs.shared_access_signature) {
    out += fmt::format(";SharedAccessSignature={}", *cs.shared_access_signature);
  }
  if (cs.x509) out += ";x509=true";
  if (cs.gateway_host_name) out += fmt::format(";GatewayHostName={}", *cs.gateway_host_name);
  return out;
}

}  // namespace azhub::core
