#include "service/service_client.hpp"

#include <doctest/doctest.h>

#include "core/connection_string.hpp"

namespace core = azhub::core;
namespace service = azhub::service;
using core::ExitCode;

TEST_CASE("service::service_error_exit_code") {
  const auto code_of = [](int status, std::optional<int> error_code) {
    core::ServiceError error;
    error.status = status;
    error.error_code = error_code;
    return service::service_error_exit_code(error);
  };
  CHECK(code_of(401, 401002) == ExitCode::connect);
  CHECK(code_of(401, std::nullopt) == ExitCode::connect);
  CHECK(code_of(403, 401003) == ExitCode::connect);
  CHECK(code_of(504, 504101) == ExitCode::timeout);
  CHECK(code_of(404, 404103) == ExitCode::failure);
  CHECK(code_of(404, 404001) == ExitCode::failure);
  CHECK(code_of(412, 412001) == ExitCode::failure);
  CHECK(code_of(400, 400004) == ExitCode::failure);
  CHECK(code_of(500, std::nullopt) == ExitCode::failure);
}

TEST_CASE("service::ServiceClient") {
  SUBCASE("refuses a device connection string") {
    service::ServiceClientOptions options;
    options.connection = core::parse_connection_string(
        "HostName=h.example;DeviceId=d1;SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    try {
      service::ServiceClient client(std::move(options));
      FAIL("no Error thrown");
    } catch (const core::Error& e) {
      CHECK(e.code() == ExitCode::usage);
      CHECK(std::string(e.what()).rfind("service connection string: expected HostName=", 0) == 0);
    }
  }
  SUBCASE("error_of parses the hub's error response") {
    service::HttpResponse response;
    response.status = 404;
    response.headers = {{"iothub-errorcode", "DeviceNotFound"}};
    response.body = R"({"Message":"ErrorCode:DeviceNotFound;Device d9 not found","ExceptionMessage":""})";
    const auto error = service::ServiceClient::error_of(response);
    CHECK(core::format_service_error(error) == "DeviceNotFound (404001): Device d9 not found");
  }
  SUBCASE("HttpResponse::header") {
    service::HttpResponse response;
    response.headers = {{"etag", "\"x\""}};
    CHECK(response.header("etag") == "\"x\"");
    CHECK_FALSE(response.header("content-type"));
  }
}
