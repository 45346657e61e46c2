// Fuzzes the emulator's REST request-target parser (emulator/rest_route) and the D2C stream
// filter read from its query: any target must give a route, nullopt or a refusal, never a
// crash; a route's resource answers the method and Allow questions.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/error.hpp"
#include "emulator/rest_request.hpp"
#include "emulator/rest_route.hpp"
#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  using namespace azhub::emulator;
  try {
    const auto route = parse_rest_route(input);
    if (!route) return 0;
    for (const char* method : {"GET", "PUT", "PATCH", "POST", "DELETE"}) (void)rest_method_allowed(route->resource, method);
    FUZZ_CHECK(!rest_allowed_methods(route->resource).empty());
    if (route->resource == RestResource::events) {
      (void)parse_d2c_filter(*route);  // may refuse with HubError, a core::Error
    }
  } catch (const azhub::core::Error&) {
  }
  return 0;
}
