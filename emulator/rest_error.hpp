#pragma once
// IoT Hub's service error responses (docs/protocol.md §12.3): HTTP status = the first three
// digits of the six-digit errorCode, the `iothub-errorcode` header carries the name, and the body
// is {"Message": "<JSON text>", "ExceptionMessage": ""} in the current form.
#include <string>
#include <string_view>

#include <cstdint>

#include "core/hub_errors.hpp"
#include "emulator/rest_route.hpp"

namespace azhub::emulator {

// REST handlers throw core::HubError; the server catches it once and turns it into the response.
using core::HubError;

// The `iothub-errorcode` header for `code`: its name in core's table, "ServerError" outside it.
[[nodiscard]] std::string_view hub_error_header(int code);

// The two forms of IoT Hub's error body (docs/protocol.md §12.3), chosen per path as the real
// hub answers, because each official SDK maps errors from the form it gets:
//  - registry: {"Message":"ErrorCode:DeviceNotFound;<text>","ExceptionMessage":"Tracking ID:
//    <id>-G:0-TimeStamp:<MM/dd/yyyy HH:mm:ss>"} on /devices and /twins paths (Microsoft's Node
//    service SDK reads the error name from this prefix only: DeviceNotFoundError);
//  - json: {"Message":"{\"errorCode\":404103,\"trackingId\":…,\"message\":…,\"info\":{},
//    \"timestampUtc\":…}","ExceptionMessage":""} on method invoke and everything else.
// Members are in the hub's order. Both forms go with the `iothub-errorcode` header.
enum class ErrorBodyForm { registry, json };

// The error body form for a request on `resource`.
[[nodiscard]] ErrorBodyForm error_body_form(RestResource resource);

// The response body for `error`, stamped with `tracking_id` and the time `now_unix_ms`.
[[nodiscard]] std::string build_rest_error_body(const HubError& error, ErrorBodyForm form,
                                                std::string_view tracking_id, std::int64_t now_unix_ms);

}  // namespace azhub::emulator
