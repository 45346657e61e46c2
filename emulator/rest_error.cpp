#include "emulator/rest_error.hpp"

#include <utility>

namespace azhub::emulator {

std::string_view rest_error_name(int error_code) {
  static constexpr std::pair<int, std::string_view> k_names[] = {
      {400000, "BadRequest"},
      {400004, "ArgumentInvalid"},
      {400006, "IotHubFormatError"},
      {400027, "ConnectionForcefullyClosedOnNewConnection"},
      {401002, "IotHubUnauthorizedAccess"},
      {401003, "IotHubUnauthorized"},
      {403002, "IotHubQuotaExceeded"},
      {403004, "DeviceMaximumQueueDepthExceeded"},
      {403012, "DeviceDisabled"},
      {404000, "NotFound"},
      {404001, "DeviceNotFound"},
      {404010, "ModuleNotFound"},
      {404103, "DeviceNotOnline"},
      {404104, "DeviceConnectionClosedRemotely"},
      {405000, "MethodNotAllowed"},
      {409001, "DeviceAlreadyExists"},
      {409301, "ModuleAlreadyExistsOnDevice"},
      {412001, "PreconditionFailed"},
      {412002, "DeviceMessageLockLost"},
      {413000, "RequestEntityTooLarge"},
      {413001, "MessageTooLarge"},
      {429001, "ThrottlingException"},
      {429002, "ThrottleBacklogLimitExceeded"},
      {429003, "ThrottlingBacklogTimeout"},
      {500001, "ServerError"},
      {503001, "ServiceUnavailable"},
      {503005, "ServerBusy"},
      {504101, "GatewayTimeout"},
  };
  for (const auto& [code, name] : k_names)
    if (code == error_code) return name;
  return "ServerError";
}

std::string build_rest_error_body(const RestError& error, std::string_view tracking_id,
                                  std::string_view timestamp_utc) {
  const nlohmann::json inner = {
      {"errorCode", error.error_code()},
      {"trackingId", tracking_id},
      {"message", error.what()},
      {"info", error.info()},
      {"timestampUtc", timestamp_utc},
  };
  // The current form nests the details as JSON *text* inside "Message" (§12.3).
  const nlohmann::json outer = {{"Message", inner.dump()}, {"ExceptionMessage", ""}};
  return outer.dump();
}

}  // namespace azhub::emulator
