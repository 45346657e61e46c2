#pragma once
// IoT Hub's service error responses (docs/protocol.md §12.3): HTTP status = the first three
// digits of the six-digit errorCode, the `iothub-errorcode` header carries the name, and the body
// is {"Message": "<JSON text>", "ExceptionMessage": ""} in the current form.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace azhub::emulator {

// Thrown by REST handlers and caught once by the API, which turns it into the response.
class RestError : public std::runtime_error {
 public:
  // `error_code` is IoT Hub's six-digit code (404001); `message` is the human text.
  RestError(int error_code, const std::string& message, nlohmann::json info = nlohmann::json::object())
      : std::runtime_error(message), m_error_code(error_code), m_info(std::move(info)) {}
  [[nodiscard]] int error_code() const noexcept { return m_error_code; }
  [[nodiscard]] int http_status() const noexcept { return m_error_code / 1000; }
  [[nodiscard]] const nlohmann::json& info() const noexcept { return m_info; }

 private:
  int m_error_code;
  nlohmann::json m_info;
};

// The error name of §12.3's table for `error_code` ("DeviceNotFound"); codes outside the table
// (emulator-only: 404000 NotFound, 405000 MethodNotAllowed, 413000 RequestEntityTooLarge,
// 400000 BadRequest) get their own names; anything else "ServerError".
[[nodiscard]] std::string_view rest_error_name(int error_code);

// The response body for `error`, stamped with `tracking_id` and `timestamp_utc` (ISO 8601).
[[nodiscard]] std::string build_rest_error_body(const RestError& error, std::string_view tracking_id,
                                                std::string_view timestamp_utc);

}  // namespace azhub::emulator
