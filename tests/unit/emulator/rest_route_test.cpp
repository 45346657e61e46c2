#include "emulator/rest_route.hpp"

#include <doctest/doctest.h>

#include "core/error.hpp"

using azhub::emulator::parse_rest_route;
using azhub::emulator::RestResource;

TEST_CASE("emulator::parse_rest_route") {
  SUBCASE("IoT Hub paths") {
    const struct {
      const char* target;
      RestResource resource;
      const char* device;
      const char* module;
    } rows[] = {
        {"/devices", RestResource::devices, "", nullptr},
        {"/devices/", RestResource::devices, "", nullptr},
        {"/devices/dev1", RestResource::device, "dev1", nullptr},
        {"/devices/dev1/modules", RestResource::modules, "dev1", nullptr},
        {"/devices/dev1/modules/m1", RestResource::module, "dev1", "m1"},
        {"/devices/dev1/commands", RestResource::device_commands, "dev1", nullptr},
        {"/twins/dev1", RestResource::twin, "dev1", nullptr},
        {"/twins/dev1/modules/m1", RestResource::module_twin, "dev1", "m1"},
        {"/twins/dev1/methods", RestResource::methods, "dev1", nullptr},
        {"/twins/dev1/modules/m1/methods", RestResource::module_methods, "dev1", "m1"},
        {"/_emulator/health", RestResource::health, "", nullptr},
        {"/_emulator/devices/dev1/messages/deviceBound", RestResource::c2d_send, "dev1", nullptr},
        {"/_emulator/devices/dev1/messages/devicebound", RestResource::c2d_send, "dev1", nullptr},
        {"/_emulator/messages/events", RestResource::events, "", nullptr},
        {"/_emulator/messages/events/stream", RestResource::events_stream, "", nullptr},
        {"/devices/query", RestResource::devices_query, "", nullptr},
        {"/statistics/devices", RestResource::statistics_devices, "", nullptr},
        {"/statistics/service", RestResource::statistics_service, "", nullptr},
    };
    for (const auto& row : rows) {
      const std::string text = row.target;
      CAPTURE(text);
      const auto route = parse_rest_route(row.target);
      REQUIRE(route.has_value());
      CHECK(route->resource == row.resource);
      CHECK(route->device_id == row.device);
      if (row.module == nullptr) CHECK_FALSE(route->module_id.has_value());
      else CHECK(route->module_id == std::optional<std::string>(row.module));
    }
  }

  SUBCASE("ids are percent-decoded, '+' kept") {
    const auto route = parse_rest_route("/twins/a%23b%3Fc+d%2520/modules/m%24edge?api-version=1");
    REQUIRE(route.has_value());
    CHECK(route->device_id == "a#b?c+d%20");
    CHECK(route->module_id == std::optional<std::string>("m$edge"));
    CHECK(route->path == "/twins/a%23b%3Fc+d%2520/modules/m%24edge");
  }

  SUBCASE("query parameters are decoded, the first occurrence wins") {
    const auto route =
        parse_rest_route("/_emulator/messages/events?since=5&device=dev%201&device=x&flag&a+b=c+d");
    REQUIRE(route.has_value());
    CHECK(route->query.at("since") == "5");
    CHECK(route->query.at("device") == "dev 1");
    CHECK(route->query.at("flag") == "");
    CHECK(route->query.at("a+b") == "c+d");
    CHECK(route->path == "/_emulator/messages/events");
  }

  SUBCASE("unknown paths") {
    for (const char* target : {"", "devices", "/", "/devicesx", "/devices//modules",
                               "/devices/a/b", "/devices/a/modules//", "/devices/a/modules/m/x",
                               "/twins", "/twins/", "/twins/a/b", "/twins/a/modules/m/x",
                               "/_emulator", "/_emulator/devices/a/messages",
                               "/_emulator/messages/events/other", "/messages/events"}) {
      const std::string text = target;
      CAPTURE(text);
      CHECK_FALSE(parse_rest_route(text).has_value());
    }
  }

  SUBCASE("a malformed escape is an error") {
    CHECK_THROWS_WITH_AS((void)parse_rest_route("/devices/a%2"), doctest::Contains("device id"),
                         azhub::core::Error);
    CHECK_THROWS_AS((void)parse_rest_route("/devices/a?x=%zz"), azhub::core::Error);
  }
}

TEST_CASE("emulator::rest_method_allowed") {
  using azhub::emulator::rest_allowed_methods;
  using azhub::emulator::rest_method_allowed;
  CHECK(rest_method_allowed(RestResource::device, "PUT"));
  CHECK(rest_method_allowed(RestResource::device, "DELETE"));
  CHECK_FALSE(rest_method_allowed(RestResource::device, "PATCH"));
  CHECK(rest_method_allowed(RestResource::twin, "PATCH"));
  CHECK_FALSE(rest_method_allowed(RestResource::twin, "DELETE"));
  CHECK(rest_method_allowed(RestResource::methods, "POST"));
  CHECK_FALSE(rest_method_allowed(RestResource::methods, "GET"));
  CHECK(rest_method_allowed(RestResource::device_commands, "DELETE"));
  CHECK_FALSE(rest_method_allowed(RestResource::events, "POST"));
  CHECK_FALSE(rest_method_allowed(RestResource::device, "GE"));
  CHECK(rest_allowed_methods(RestResource::module) == "GET, PUT, DELETE");
  CHECK(rest_allowed_methods(RestResource::module_twin) == "GET, PUT, PATCH");
  CHECK(rest_allowed_methods(RestResource::devices) == "GET, POST");
  CHECK(rest_allowed_methods(RestResource::devices_query) == "POST");
  CHECK(rest_allowed_methods(RestResource::statistics_devices) == "GET");
  CHECK(rest_allowed_methods(RestResource::statistics_service) == "GET");
  CHECK(azhub::emulator::is_emulator_path(RestResource::events_stream));
  CHECK_FALSE(azhub::emulator::is_emulator_path(RestResource::devices));
}

TEST_CASE("emulator::parse_rest_route: the device-facing HTTPS API and feedback over REST") {
  auto route = parse_rest_route("/devices/dev%231/messages/events?api-version=2020-09-30");
  REQUIRE(route);
  CHECK(route->resource == RestResource::device_events);
  CHECK(route->device_id == "dev#1");
  CHECK_FALSE(route->module_id);
  route = parse_rest_route("/devices/dev1/modules/m1/messages/events");
  REQUIRE(route);
  CHECK(route->resource == RestResource::device_events);
  CHECK(route->module_id == "m1");
  for (const char* spelling : {"/devices/dev1/messages/deviceBound", "/devices/dev1/messages/devicebound",
                               "/devices/dev1/Messages/DeviceBound"}) {
    CAPTURE(spelling);
    route = parse_rest_route(spelling);
    REQUIRE(route);
    CHECK(route->resource == RestResource::device_bound);
    CHECK(route->device_id == "dev1");
  }
  route = parse_rest_route("/devices/dev1/messages/devicebound/0b1c-lock?api-version=x&reject");
  REQUIRE(route);
  CHECK(route->resource == RestResource::device_bound_lock);
  CHECK(route->lock_token == "0b1c-lock");
  CHECK(route->query.contains("reject"));
  route = parse_rest_route("/devices/dev1/messages/deviceBound/0b1c-lock/abandon");
  REQUIRE(route);
  CHECK(route->resource == RestResource::device_bound_abandon);
  CHECK(route->lock_token == "0b1c-lock");
  route = parse_rest_route("/messages/serviceBound/feedback");
  REQUIRE(route);
  CHECK(route->resource == RestResource::feedback);
  route = parse_rest_route("/messages/servicebound/feedback/12");
  REQUIRE(route);
  CHECK(route->resource == RestResource::feedback_lock);
  CHECK(route->lock_token == "12");
  route = parse_rest_route("/messages/serviceBound/feedback/12/abandon");
  REQUIRE(route);
  CHECK(route->resource == RestResource::feedback_abandon);
  for (const char* bad : {"/devices/dev1/messages", "/devices/dev1/messages/deviceBound/lock/complete",
                          "/devices/dev1/messages/other", "/messages/serviceBound", "/messages/serviceBound/feedback/1/x",
                          "/devices/dev1/modules/m1/messages/deviceBound"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_rest_route(bad));
  }
  CHECK(azhub::emulator::is_device_path(RestResource::device_bound));
  CHECK_FALSE(azhub::emulator::is_device_path(RestResource::feedback));
  CHECK(azhub::emulator::rest_allowed_methods(RestResource::device_bound_lock) == "DELETE");
  CHECK(azhub::emulator::rest_allowed_methods(RestResource::device_events) == "POST");
}
