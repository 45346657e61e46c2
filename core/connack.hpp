#pragma once
// MQTT 3.1.1 CONNACK return codes, once for the emulator and the device client.
#include <cstdint>
#include <string_view>

namespace azhub::core {

// The CONNACK return codes of MQTT 3.1.1 (§3.2.2.3): what the emulator answers and what the
// device client reports (docs/protocol.md §2.2).
enum class ConnackCode : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_user_name_or_password = 4,
  not_authorized = 5,
};

[[nodiscard]] constexpr std::string_view describe(ConnackCode code) noexcept {
  switch (code) {
    case ConnackCode::accepted: return "accepted";
    case ConnackCode::unacceptable_protocol_version: return "unacceptable protocol version";
    case ConnackCode::identifier_rejected: return "identifier rejected";
    case ConnackCode::server_unavailable: return "server unavailable";
    case ConnackCode::bad_user_name_or_password: return "bad user name or password";
    case ConnackCode::not_authorized: return "not authorized";
  }
  return "unknown CONNACK code";
}

}  // namespace azhub::core
