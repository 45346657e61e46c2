// Fuzzes parse_mqtt_username (the CONNECT username the emulator reads, docs/protocol.md §2.1):
// nothing may crash, and a username that parses rebuilds to one with the same parts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/identity.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::optional<UsernameParts> parts = parse_mqtt_username(input);
  if (!parts) return 0;
  FUZZ_CHECK(!parts->host.empty() && !parts->device_id.empty());
  FUZZ_CHECK(!parts->module_id || !parts->module_id->empty());
  const Identity id{parts->host, parts->device_id, parts->module_id};
  const std::string rebuilt = mqtt_username(
      id, "azhub/fuzz",
      parts->model_id ? std::optional<std::string_view>(*parts->model_id) : std::nullopt,
      parts->api_version.value_or(std::string(k_api_version)));
  const std::optional<UsernameParts> again = parse_mqtt_username(rebuilt);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->host == parts->host && again->device_id == parts->device_id &&
             again->module_id == parts->module_id && again->model_id == parts->model_id);
  FUZZ_CHECK(again->api_version == parts->api_version.value_or(std::string(k_api_version)));
  return 0;
}
