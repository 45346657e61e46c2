#include "core/hub_errors.hpp"

#include <set>

#include <doctest/doctest.h>

#include "core/service_requests.hpp"

namespace core = azhub::core;
using core::ExitCode;

TEST_CASE("core::k_hub_errors is one consistent table") {
  std::set<int> codes;
  std::set<std::string_view> names;
  for (const auto& row : core::k_hub_errors) {
    CHECK(codes.insert(row.code).second);
    CHECK(names.insert(row.name).second);
    CHECK(row.http_status == row.code / 1000);
    CHECK(core::name_of(row.code) == row.name);
    CHECK(core::code_of(row.name) == row.code);
  }
  CHECK(core::name_of(404001) == "DeviceNotFound");
  CHECK(core::name_of(403004) == "DeviceMaximumQueueDepthExceeded");
  CHECK(core::name_of(503005) == "ServerBusy");
  CHECK(core::name_of(123456).empty());
  CHECK_FALSE(core::code_of("devicenotfound"));
  CHECK(core::find_hub_error(404000)->emulator_only);
  CHECK_FALSE(core::find_hub_error(404001)->emulator_only);
  static_assert(core::name_of(404103) == "DeviceNotOnline");
}

TEST_CASE("core::exit_code_of") {
  CHECK(core::exit_code_of(401002) == ExitCode::connect);
  CHECK(core::exit_code_of(504101) == ExitCode::timeout);
  CHECK(core::exit_code_of(400004) == ExitCode::failure);
  CHECK(core::exit_code_of(404103) == ExitCode::failure);
  CHECK(core::exit_code_of(401999) == ExitCode::connect);  // outside the table: by HTTP class
  const auto of = [](int status, std::optional<int> error_code) {
    core::ServiceError error;
    error.status = status;
    error.error_code = error_code;
    return core::exit_code_of(error);
  };
  CHECK(of(401, 401002) == ExitCode::connect);
  CHECK(of(401, std::nullopt) == ExitCode::connect);
  CHECK(of(403, 401003) == ExitCode::connect);
  CHECK(of(504, 504101) == ExitCode::timeout);
  CHECK(of(504, std::nullopt) == ExitCode::timeout);
  CHECK(of(404, 404001) == ExitCode::failure);
  CHECK(of(412, 412001) == ExitCode::failure);
  CHECK(of(400, 400004) == ExitCode::failure);
  CHECK(of(500, std::nullopt) == ExitCode::failure);
}

TEST_CASE("core::HubError") {
  const core::HubError error(404001, "device 'x' not found");
  CHECK(error.error_code() == 404001);
  CHECK(error.http_status() == 404);
  CHECK(error.code() == ExitCode::failure);
  CHECK(error.info() == nlohmann::json::object());
}
