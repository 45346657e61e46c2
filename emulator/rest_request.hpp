#pragma once
// Parsing the parts of a REST request that several endpoints share: If-Match, the method
// invocation body (docs/protocol.md §9.2) and the D2C query parameters of the emulator paths.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/records.hpp"
#include "emulator/rest_route.hpp"

namespace azhub::emulator {

// A method invocation body (§9.2) after validation.
struct MethodInvocation {
  std::string method_name;
  std::string payload;  // JSON text ("null" when absent)
  int response_timeout_s = 30;
  int connect_timeout_s = 0;
};
// Parses `body` (JSON text). Throws HubError 400004 naming the field: not an object, no
// methodName, a timeout that is not an integer or is outside 5-300 / 0-300.
[[nodiscard]] MethodInvocation parse_method_invocation(std::string_view body);

// `text` as a whole number in [`min`, `max`]; throws HubError 400004 naming `name` otherwise.
[[nodiscard]] std::int64_t parse_query_number(std::string_view text, std::string_view name,
                                              std::int64_t min, std::int64_t max);

// The If-Match header value without quotes ("*" stays "*"); nullopt when absent or empty.
[[nodiscard]] std::optional<std::string> parse_if_match(std::string_view header);

// Which D2C messages a query or stream asks for: `since` (after this sequence number) or
// `from` (from this one on, 0 = everything retained), `device`/`deviceId`, `module`, `limit`.
struct D2cFilter {
  std::optional<std::uint64_t> after;  // nullopt: no starting point given
  std::optional<std::string> device_id;
  std::optional<std::string> module_id;
  std::size_t limit = 100;
};
// Throws HubError 400004 for a non-numeric sequence number or a limit outside 1-1000.
[[nodiscard]] D2cFilter parse_d2c_filter(const RestRoute& route);

// True when `message` passes the device/module part of `filter`.
[[nodiscard]] bool d2c_matches(const D2cFilter& filter, const D2cMessage& message);

}  // namespace azhub::emulator
