#include "emulator/rest_error.hpp"

#include <doctest/doctest.h>

using azhub::emulator::build_rest_error_body;
using azhub::emulator::hub_error_header;
using azhub::emulator::HubError;
using azhub::emulator::ErrorBodyForm;
using azhub::emulator::error_body_form;
using azhub::emulator::RestResource;

TEST_CASE("emulator::build_rest_error_body") {
  constexpr std::int64_t k_ms = 1'795'701'600'000;  // 2026-11-26T14:00:00.000Z
  SUBCASE("JSON form: the details as JSON text inside Message, members in the hub's order") {
    const HubError error(404103, "device offline", {{"timeout", "00:00:00"}});
    CHECK(error.http_status() == 404);
    CHECK(build_rest_error_body(error, ErrorBodyForm::json, "req-1", k_ms) ==
          R"({"Message":"{\"errorCode\":404103,\"trackingId\":\"req-1\",\"message\":\"device offline\",)"
          R"(\"info\":{\"timeout\":\"00:00:00\"},\"timestampUtc\":\"2026-11-26T14:00:00.000Z\"}",)"
          R"("ExceptionMessage":""})");
  }
  SUBCASE("info defaults to an empty object") {
    const auto body = nlohmann::json::parse(
        build_rest_error_body(HubError(404103, "device 'x' is offline"), ErrorBodyForm::json, "t", k_ms));
    const auto inner = nlohmann::json::parse(body.at("Message").get<std::string>());
    CHECK(inner.at("errorCode") == 404103);
    CHECK(inner.at("info") == nlohmann::json::object());
  }
  SUBCASE("registry form: the error name as the Message prefix, the tracking id in ExceptionMessage") {
    CHECK(build_rest_error_body(HubError(404001, "device 'x' not found"), ErrorBodyForm::registry,
                                "0a1b2c3d-0000-4000-8000-00000000abcd", k_ms) ==
          R"({"Message":"ErrorCode:DeviceNotFound;device 'x' not found",)"
          R"("ExceptionMessage":"Tracking ID:0a1b2c3d00004000800000000000abcd-G:0-TimeStamp:11/26/2026 14:00:00"})");
  }
  SUBCASE("the form follows the path") {
    CHECK(error_body_form(RestResource::device) == ErrorBodyForm::registry);
    CHECK(error_body_form(RestResource::twin) == ErrorBodyForm::registry);
    CHECK(error_body_form(RestResource::module_twin) == ErrorBodyForm::registry);
    CHECK(error_body_form(RestResource::methods) == ErrorBodyForm::json);
    CHECK(error_body_form(RestResource::c2d_send) == ErrorBodyForm::json);
  }
}

TEST_CASE("emulator::hub_error_header") {
  CHECK(hub_error_header(404001) == "DeviceNotFound");
  CHECK(hub_error_header(404000) == "NotFound");
  CHECK(hub_error_header(123456) == "ServerError");
}
