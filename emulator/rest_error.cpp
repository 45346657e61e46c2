#include "emulator/rest_error.hpp"

namespace azhub::emulator {

std::string_view hub_error_header(int code) {
  const auto name = core::name_of(code);
  return name.empty() ? std::string_view("ServerError") : name;
}

std::string build_rest_error_body(const HubError& error, std::string_view tracking_id,
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
