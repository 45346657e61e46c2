#include "emulator/rest_error.hpp"

#include <doctest/doctest.h>

using azhub::emulator::build_rest_error_body;
using azhub::emulator::rest_error_name;
using azhub::emulator::RestError;

TEST_CASE("emulator::build_rest_error_body") {
  SUBCASE("current form: the details as JSON text inside Message") {
    const RestError error(404103, "device offline", {{"timeout", "00:00:00"}});
    CHECK(error.http_status() == 404);
    CHECK(build_rest_error_body(error, "req-1", "2026-11-26T14:00:00.000Z") ==
          R"({"ExceptionMessage":"","Message":"{\"errorCode\":404103,\"info\":{\"timeout\":\"00:00:00\"},)"
          R"(\"message\":\"device offline\",\"timestampUtc\":\"2026-11-26T14:00:00.000Z\",)"
          R"(\"trackingId\":\"req-1\"}"})");
  }
  SUBCASE("info defaults to an empty object") {
    const auto body = nlohmann::json::parse(
        build_rest_error_body(RestError(404001, "device 'x' not found"), "t", "ts"));
    const auto inner = nlohmann::json::parse(body.at("Message").get<std::string>());
    CHECK(inner.at("errorCode") == 404001);
    CHECK(inner.at("info") == nlohmann::json::object());
    CHECK(inner.at("message") == "device 'x' not found");
  }
}

TEST_CASE("emulator::rest_error_name") {
  CHECK(rest_error_name(400004) == "ArgumentInvalid");
  CHECK(rest_error_name(401002) == "IotHubUnauthorizedAccess");
  CHECK(rest_error_name(403004) == "DeviceMaximumQueueDepthExceeded");
  CHECK(rest_error_name(404001) == "DeviceNotFound");
  CHECK(rest_error_name(404010) == "ModuleNotFound");
  CHECK(rest_error_name(404103) == "DeviceNotOnline");
  CHECK(rest_error_name(409001) == "DeviceAlreadyExists");
  CHECK(rest_error_name(409301) == "ModuleAlreadyExistsOnDevice");
  CHECK(rest_error_name(412001) == "PreconditionFailed");
  CHECK(rest_error_name(413001) == "MessageTooLarge");
  CHECK(rest_error_name(504101) == "GatewayTimeout");
  CHECK(rest_error_name(123456) == "ServerError");
}
