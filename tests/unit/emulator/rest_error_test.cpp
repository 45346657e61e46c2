#include "emulator/rest_error.hpp"

#include <doctest/doctest.h>

using azhub::emulator::build_rest_error_body;
using azhub::emulator::hub_error_header;
using azhub::emulator::HubError;

TEST_CASE("emulator::build_rest_error_body") {
  SUBCASE("current form: the details as JSON text inside Message") {
    const HubError error(404103, "device offline", {{"timeout", "00:00:00"}});
    CHECK(error.http_status() == 404);
    CHECK(build_rest_error_body(error, "req-1", "2026-11-26T14:00:00.000Z") ==
          R"({"ExceptionMessage":"","Message":"{\"errorCode\":404103,\"info\":{\"timeout\":\"00:00:00\"},)"
          R"(\"message\":\"device offline\",\"timestampUtc\":\"2026-11-26T14:00:00.000Z\",)"
          R"(\"trackingId\":\"req-1\"}"})");
  }
  SUBCASE("info defaults to an empty object") {
    const auto body = nlohmann::json::parse(
        build_rest_error_body(HubError(404001, "device 'x' not found"), "t", "ts"));
    const auto inner = nlohmann::json::parse(body.at("Message").get<std::string>());
    CHECK(inner.at("errorCode") == 404001);
    CHECK(inner.at("info") == nlohmann::json::object());
    CHECK(inner.at("message") == "device 'x' not found");
  }
}

TEST_CASE("emulator::hub_error_header") {
  CHECK(hub_error_header(404001) == "DeviceNotFound");
  CHECK(hub_error_header(404000) == "NotFound");
  CHECK(hub_error_header(123456) == "ServerError");
}
