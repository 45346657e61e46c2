#include "emulator/rest_error.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/duration.hpp"

namespace azhub::emulator {

std::string_view hub_error_header(int code) {
  const auto name = core::name_of(code);
  return name.empty() ? std::string_view("ServerError") : name;
}

ErrorBodyForm error_body_form(RestResource resource) {
  switch (resource) {
    case RestResource::devices:
    case RestResource::device:
    case RestResource::modules:
    case RestResource::module:
    case RestResource::twin:
    case RestResource::module_twin:
      return ErrorBodyForm::registry;
    default:
      return ErrorBodyForm::json;
  }
}

std::string build_rest_error_body(const HubError& error, ErrorBodyForm form, std::string_view tracking_id,
                                  std::int64_t now_unix_ms) {
  using ordered = nlohmann::ordered_json;
  if (form == ErrorBodyForm::registry) {
    std::string id(tracking_id);
    id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
    // "11/26/2026 14:00:00": the US-style UTC time of the hub's ExceptionMessage.
    const std::string iso = core::format_iso8601(now_unix_ms, false);  // 2026-11-26T14:00:00Z
    const std::string stamp = fmt::format("{}/{}/{} {}", iso.substr(5, 2), iso.substr(8, 2), iso.substr(0, 4),
                                          iso.substr(11, 8));
    const ordered outer = {
        {"Message", fmt::format("ErrorCode:{};{}", hub_error_header(error.error_code()), error.what())},
        {"ExceptionMessage", fmt::format("Tracking ID:{}-G:0-TimeStamp:{}", id, stamp)},
    };
    return outer.dump();
  }
  const ordered inner = {
      {"errorCode", error.error_code()},
      {"trackingId", tracking_id},
      {"message", error.what()},
      {"info", error.info()},
      {"timestampUtc", core::format_iso8601(now_unix_ms, true)},
  };
  // The current form nests the details as JSON *text* inside "Message" (§12.3).
  const ordered outer = {{"Message", inner.dump()}, {"ExceptionMessage", ""}};
  return outer.dump();
}

}  // namespace azhub::emulator
