#pragma once
// IoT Hub's error codes, once (docs/protocol.md §12.3): the six-digit code, its name (the
// `iothub-errorcode` header and the old-generation "ErrorCode:{Name};" prefix), the HTTP status
// (the code's first three digits), the exit code a command returns when the hub answers with it,
// and whether only the emulator uses it (codes for conditions the real hub reports with plain
// HTTP errors: no such path, method not allowed, body too large).
//
// HubError is the one exception type that carries such a code, thrown by the emulator's service
// plane and by the service client when the hub answers with an error.
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace azhub::core {

struct HubErrorInfo {
  int code;               // 404001
  std::string_view name;  // "DeviceNotFound"
  int http_status;        // 404
  ExitCode exit_code;     // what `azhub service …` exits with when the hub answers so
  bool emulator_only;     // not a code of the real hub's table
};

namespace detail {
constexpr HubErrorInfo hub_error(int code, std::string_view name, bool emulator_only = false) {
  const int status = code / 1000;
  const ExitCode exit_code = status == 401   ? ExitCode::connect
                             : status == 504 ? ExitCode::timeout
                                             : ExitCode::failure;
  return HubErrorInfo{code, name, status, exit_code, emulator_only};
}
}  // namespace detail

inline constexpr std::array k_hub_errors{
    detail::hub_error(400000, "BadRequest", true),
    detail::hub_error(400004, "ArgumentInvalid"),
    detail::hub_error(400006, "IotHubFormatError"),
    detail::hub_error(400011, "DeviceDefinedMultipleTimes"),
    detail::hub_error(400027, "ConnectionForcefullyClosedOnNewConnection"),
    detail::hub_error(401002, "IotHubUnauthorizedAccess"),
    detail::hub_error(401003, "IotHubUnauthorized"),
    detail::hub_error(403002, "IotHubQuotaExceeded"),
    detail::hub_error(403004, "DeviceMaximumQueueDepthExceeded"),
    detail::hub_error(403012, "DeviceDisabled"),
    detail::hub_error(403800, "DeviceMaximumInflightMethodExceeded"),
    detail::hub_error(404000, "NotFound", true),
    detail::hub_error(404001, "DeviceNotFound"),
    detail::hub_error(404002, "JobNotFound"),
    detail::hub_error(404010, "ModuleNotFound"),
    detail::hub_error(404103, "DeviceNotOnline"),
    detail::hub_error(404104, "DeviceConnectionClosedRemotely"),
    detail::hub_error(405000, "MethodNotAllowed", true),
    detail::hub_error(409001, "DeviceAlreadyExists"),
    detail::hub_error(409104, "JobAlreadyExists"),
    detail::hub_error(409301, "ModuleAlreadyExistsOnDevice"),
    detail::hub_error(412001, "PreconditionFailed"),
    detail::hub_error(412002, "DeviceMessageLockLost"),
    detail::hub_error(413000, "RequestEntityTooLarge", true),
    detail::hub_error(413001, "MessageTooLarge"),
    detail::hub_error(413002, "TooManyDevices"),
    detail::hub_error(429001, "ThrottlingException"),
    detail::hub_error(429002, "ThrottleBacklogLimitExceeded"),
    detail::hub_error(429003, "ThrottlingBacklogTimeout"),
    detail::hub_error(500001, "ServerError"),
    detail::hub_error(503001, "ServiceUnavailable"),
    detail::hub_error(503005, "ServerBusy"),
    detail::hub_error(504101, "GatewayTimeout"),
};

// The row of `code`, or nullptr.
[[nodiscard]] constexpr const HubErrorInfo* find_hub_error(int code) {
  for (const auto& row : k_hub_errors)
    if (row.code == code) return &row;
  return nullptr;
}

// "DeviceNotFound" for 404001; empty for a code outside the table. (Loops over the table instead
// of comparing find_hub_error's pointer, which is not a constant expression under the sanitizers.)
[[nodiscard]] constexpr std::string_view name_of(int code) {
  for (const auto& row : k_hub_errors)
    if (row.code == code) return row.name;
  return {};
}

// 404001 for "DeviceNotFound" (exact spelling); nullopt for a name outside the table.
[[nodiscard]] constexpr std::optional<int> code_of(std::string_view name) {
  for (const auto& row : k_hub_errors)
    if (row.name == name) return row.code;
  return std::nullopt;
}

// The exit code for a hub error: the table's, or by HTTP class for a code outside it
// (401 → connect, 504 → timeout, anything else → failure).
[[nodiscard]] constexpr ExitCode exit_code_of(int code) {
  for (const auto& row : k_hub_errors)
    if (row.code == code) return row.exit_code;
  return detail::hub_error(code, {}).exit_code;
}

// An error the hub reports with a six-digit code; `info` is the error body's "info" object.
// Messages never contain secrets.
class HubError : public Error {
 public:
  HubError(int code, const std::string& message, nlohmann::json info = nlohmann::json::object())
      : Error(exit_code_of(code), message), m_code(code), m_info(std::move(info)) {}
  [[nodiscard]] int error_code() const noexcept { return m_code; }
  [[nodiscard]] int http_status() const noexcept { return m_code / 1000; }
  [[nodiscard]] const nlohmann::json& info() const noexcept { return m_info; }

 private:
  int m_code;
  nlohmann::json m_info;
};

}  // namespace azhub::core
