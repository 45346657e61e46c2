// Fuzzes the twin query language (core/twin_query.hpp, docs/protocol.md §16): any text is
// either a query or refused with HubError 400004 naming the problem; a query that parses is
// evaluated over a sample twin (WHERE, projection, aggregation) without crashing, and a row is
// always a JSON object (or the twin itself for SELECT *).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/hub_errors.hpp"
#include "core/twin_query.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;
using nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const json twin = json::parse(R"({"deviceId":"d1","moduleId":"m1","status":"enabled","version":2,
    "tags":{"location":{"region":"US"},"n":1,"f":1.5,"s":"x","b":true,"z":null,"a":[1,"2"],"group":"g"},
    "properties":{"desired":{"$version":4,"c":{"f":300}},"reported":{"$version":7,"status":"Success"}},
    "capabilities":{"iotEdge":false}})");
  try {
    const auto query = TwinQuery::parse(text);
    const bool matched = query.matches(twin);
    if (query.is_aggregate()) {
      TwinQuery::Aggregation aggregation(query);
      if (matched) aggregation.add(twin);
      aggregation.add(twin);
      for (const auto& row : aggregation.rows()) FUZZ_CHECK(row.is_object());
    } else {
      const auto row = query.project(twin);
      FUZZ_CHECK(row.is_object());
      if (query.selects_whole_twins()) FUZZ_CHECK(row == twin);
    }
    FUZZ_CHECK(!query.top() || *query.top() >= 1);
  } catch (const HubError& e) {
    FUZZ_CHECK(e.error_code() == k_query_error_code);
    FUZZ_CHECK(std::string_view(e.what()).substr(0, 7) == "query: ");
  }
  return 0;
}
