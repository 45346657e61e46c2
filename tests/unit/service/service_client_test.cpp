#include "service/service_client.hpp"

#include <doctest/doctest.h>

#include "core/connection_string.hpp"

namespace core = azhub::core;
namespace service = azhub::service;
using core::ExitCode;

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
  SUBCASE("error_for adds the hint and the exit code") {
    service::HttpResponse response;
    response.status = 412;
    response.body = R"({"Message":"ErrorCode:PreconditionFailed;etag mismatch","ExceptionMessage":""})";
    const auto error = service::ServiceClient::error_for(response, "read it again");
    CHECK(std::string(error.what()) == "PreconditionFailed (412001): etag mismatch (read it again)");
    CHECK(error.code() == ExitCode::failure);
  }
  SUBCASE("HttpResponse::header") {
    service::HttpResponse response;
    response.headers = {{"etag", "\"x\""}};
    CHECK(response.header("etag") == "\"x\"");
    CHECK_FALSE(response.header("content-type"));
  }
}
