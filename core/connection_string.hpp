#pragma once
// IoT Hub connection strings: device, module, X.509, fixed-token and service/policy forms.
// (docs/protocol.md §3.4)
#include <optional>
#include <string>
#include <string_view>

namespace azhub::core {

struct ConnectionString {
  enum class Kind { device, module, service };
  Kind kind = Kind::device;
  std::string host_name;
  std::optional<std::string> device_id;
  std::optional<std::string> module_id;
  std::optional<std::string> shared_access_key;        // base64, validated
  std::optional<std::string> shared_access_key_name;   // policy name (service form)
  std::optional<std::string> shared_access_signature;  // "SharedAccessSignature sr=..."
  std::optional<std::string> gateway_host_name;
  bool x509 = false;
};

// Parses `text`. Throws Error(usage) with a message that starts "connection string: " and
// names the field (unknown key, duplicate key, missing HostName, bad base64 key, ...). Secret
// values never appear in messages.
[[nodiscard]] ConnectionString parse_connection_string(std::string_view text);

// The canonical text form (keys in the order of docs/protocol.md §3.4).
[[nodiscard]] std::string format_connection_string(const ConnectionString& cs);

}  // namespace azhub::core
