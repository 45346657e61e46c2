#pragma once
// IoT Hub's service error responses (docs/protocol.md §12.3): HTTP status = the first three
// digits of the six-digit errorCode, the `iothub-errorcode` header carries the name, and the body
// is {"Message": "<JSON text>", "ExceptionMessage": ""} in the current form.
#include <string>
#include <string_view>

#include "core/hub_errors.hpp"

namespace azhub::emulator {

// REST handlers throw core::HubError; the server catches it once and turns it into the response.
using core::HubError;

// The `iothub-errorcode` header for `code`: its name in core's table, "ServerError" outside it.
[[nodiscard]] std::string_view hub_error_header(int code);

// The response body for `error`, stamped with `tracking_id` and `timestamp_utc` (ISO 8601).
[[nodiscard]] std::string build_rest_error_body(const HubError& error, std::string_view tracking_id,
                                                std::string_view timestamp_utc);

}  // namespace azhub::emulator
