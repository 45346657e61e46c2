#include "core/twin_query.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/hub_errors.hpp"

using namespace azhub::core;
using nlohmann::json;

namespace {

// A twin shaped like the sample of Microsoft's "Queries for IoT Hub device and module twins"
// page (the service view, docs/protocol.md §8.2).
json twin(const std::string& id, const std::string& region, int frequency, json connectivity, const std::string& status,
          const std::string& connection = "Disconnected") {
  return json{{"deviceId", id},
              {"etag", "AAAAAAAAAAc="},
              {"status", "enabled"},
              {"statusUpdateTime", "0001-01-01T00:00:00"},
              {"connectionState", connection},
              {"lastActivityTime", "2021-05-07T00:50:38.0543092Z"},
              {"cloudToDeviceMessageCount", 0},
              {"authenticationType", "sas"},
              {"x509Thumbprint", {{"primaryThumbprint", nullptr}, {"secondaryThumbprint", nullptr}}},
              {"version", 2},
              {"capabilities", {{"iotEdge", false}}},
              {"tags", {{"location", {{"region", region}, {"plant", "Redmond43"}}}}},
              {"properties",
               {{"desired",
                 {{"telemetryConfig", {{"configId", "db00ebf5"}, {"sendFrequencyInSecs", frequency}}},
                  {"$metadata", json::object()},
                  {"$version", 4}}},
                {"reported",
                 {{"connectivity", connectivity},
                  {"telemetryConfig", {{"configId", "db00ebf5"}, {"sendFrequencyInSecs", frequency}, {"status", status}}},
                  {"$metadata", json::object()},
                  {"$version", 7}}}}}};
}

// Three devices reported Success, two Pending, one Error (the page's GROUP BY example).
std::vector<json> sample_twins() {
  return {twin("d1", "US", 300, "wired", "Success"),
          twin("d2", "US", 30, "wifi", "Success"),
          twin("d3", "EU", 300, json{{"type", "cellular"}}, "Success"),
          twin("d4", "US", 60, "cellular", "Pending", "Connected"),
          twin("d5", "EU", 600, "wired", "Pending"),
          twin("d6", "US", 120, "wifi", "Error")};
}

// Runs `text` over `twins` the way the emulator does: filter, project or aggregate, TOP.
std::vector<json> run(const std::string& text, const std::vector<json>& twins) {
  const auto query = TwinQuery::parse(text);
  std::vector<json> rows;
  if (query.is_aggregate()) {
    TwinQuery::Aggregation aggregation(query);
    for (const auto& t : twins)
      if (query.matches(t)) aggregation.add(t);
    rows = aggregation.rows();
  } else {
    for (const auto& t : twins)
      if (query.matches(t)) rows.push_back(query.project(t));
  }
  if (query.top() && rows.size() > static_cast<std::size_t>(*query.top())) rows.resize(static_cast<std::size_t>(*query.top()));
  return rows;
}

std::vector<std::string> ids(const std::vector<json>& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row.value("deviceId", std::string("?")) + (row.contains("moduleId") ? "/" + row["moduleId"].get<std::string>() : ""));
  return out;
}

std::string error_of(const std::string& text) {
  try {
    (void)TwinQuery::parse(text);
  } catch (const HubError& e) {
    CHECK(e.error_code() == 400004);
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("core::TwinQuery: the examples of Microsoft's query pages") {
  const auto twins = sample_twins();
  using V = std::vector<std::string>;
  SUBCASE("SELECT * FROM devices") { CHECK(ids(run("SELECT * FROM devices", twins)) == V{"d1", "d2", "d3", "d4", "d5", "d6"}); }
  SUBCASE("whole twins are returned unchanged") { CHECK(run("SELECT * FROM devices WHERE deviceId = 'd3'", twins) == std::vector<json>{twins[2]}); }
  SUBCASE("WHERE on a tag") {
    CHECK(ids(run("SELECT * FROM devices WHERE tags.location.region = 'US'", twins)) == V{"d1", "d2", "d4", "d6"});
  }
  SUBCASE("AND with a numeric comparison on a reported property") {
    CHECK(ids(run("SELECT * FROM devices\n  WHERE tags.location.region = 'US'\n"
                  "    AND properties.reported.telemetryConfig.sendFrequencyInSecs >= 60",
                  twins)) == V{"d1", "d4", "d6"});
  }
  SUBCASE("IN with an array constant (an object never equals a string)") {
    CHECK(ids(run("SELECT * FROM devices\n  WHERE properties.reported.connectivity IN ['wired', 'wifi']", twins)) ==
          V{"d1", "d2", "d5", "d6"});
  }
  SUBCASE("is_defined") {
    auto partial = twins;
    partial[1]["properties"]["reported"].erase("connectivity");
    partial[4]["properties"]["reported"]["connectivity"] = nullptr;  // null is defined
    CHECK(ids(run("SELECT * FROM devices\n  WHERE is_defined(properties.reported.connectivity)", partial)) ==
          V{"d1", "d3", "d4", "d5", "d6"});
  }
  SUBCASE("GROUP BY with COUNT() (the documented rows)") {
    const auto rows = run("SELECT properties.reported.telemetryConfig.status AS status,\n    COUNT() AS numberOfDevices\n"
                          "  FROM devices\n  GROUP BY properties.reported.telemetryConfig.status",
                          twins);
    CHECK(rows == std::vector<json>{json::parse(R"({"numberOfDevices":3,"status":"Success"})"),
                                    json::parse(R"({"numberOfDevices":2,"status":"Pending"})"),
                                    json::parse(R"({"numberOfDevices":1,"status":"Error"})")});
  }
  SUBCASE("SELECT COUNT() as totalNumberOfDevices") {
    CHECK(run("SELECT COUNT() as totalNumberOfDevices FROM devices", twins) ==
          std::vector<json>{json{{"totalNumberOfDevices", 6}}});
    CHECK(run("SELECT COUNT() AS n FROM devices WHERE deviceId = 'none'", twins) == std::vector<json>{json{{"n", 0}}});
  }
  SUBCASE("projection: SELECT DeviceId, LastActivityTime answers the twin's spelling") {
    CHECK(run("SELECT DeviceId, LastActivityTime FROM devices WHERE status = 'enabled' AND connectionState = 'Disconnected'"
              " AND tags.location.region = 'EU'",
              twins) == std::vector<json>{json{{"deviceId", "d3"}, {"lastActivityTime", "2021-05-07T00:50:38.0543092Z"}},
                                          json{{"deviceId", "d5"}, {"lastActivityTime", "2021-05-07T00:50:38.0543092Z"}}});
  }
  SUBCASE("TOP") {
    CHECK(ids(run("SELECT TOP 2 * FROM devices", twins)) == V{"d1", "d2"});
    CHECK(TwinQuery::parse("select top 10 * from devices").top() == 10);
  }
  SUBCASE("module twins") {
    std::vector<json> modules;
    for (const auto& [device, module, status] : {std::tuple{"device1", "m1", "scanning"}, std::tuple{"device2", "m1", "idle"},
                                                 std::tuple{"device2", "m2", "scanning"}, std::tuple{"device3", "m1", "scanning"}}) {
      modules.push_back({{"deviceId", device}, {"moduleId", module}, {"properties", {{"reported", {{"status", status}}}}}});
    }
    CHECK(TwinQuery::parse("SELECT * FROM devices.modules").collection() == QueryCollection::modules);
    CHECK(ids(run("SELECT * FROM devices.modules WHERE properties.reported.status = 'scanning'", modules)) ==
          V{"device1/m1", "device2/m2", "device3/m1"});
    CHECK(ids(run("SELECT * FROM devices.modules\n  WHERE properties.reported.status = 'scanning'\n"
                  "  AND deviceId IN ['device1', 'device2']",
                  modules)) == V{"device1/m1", "device2/m2"});
  }
  SUBCASE("devices.jobs parses (the emulator has no jobs)") {
    const auto q = TwinQuery::parse("SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'myDeviceId'");
    CHECK(q.collection() == QueryCollection::jobs);
    CHECK(q.item_type() == "deviceJob");
    CHECK(q.matches(json{{"deviceId", "myDeviceId"}}));
  }
}

TEST_CASE("core::TwinQuery: comparisons, types and functions") {
  const json doc = {{"deviceId", "sensor-7"},
                    {"tags", {{"n", 1}, {"f", 1.5}, {"s", "1"}, {"b", true}, {"z", nullptr}, {"o", {{"a", 1}}},
                              {"arr", json::array({1, 2})}, {"group", "g1"}, {"big", 9007199254740993ULL}}}};
  const auto where = [&doc](const std::string& condition) {
    return TwinQuery::parse("SELECT * FROM devices WHERE " + condition).matches(doc);
  };
  // A string never equals a number; numbers compare by value.
  CHECK(where("tags.n = 1"));
  CHECK(where("tags.n = 1.0"));
  CHECK_FALSE(where("tags.n = '1'"));
  CHECK_FALSE(where("tags.s = 1"));
  CHECK(where("tags.s = '1'"));
  CHECK(where("tags.s != 1"));
  CHECK(where("tags.n <> 2"));
  CHECK(where("tags.f > 1 AND tags.f < 2 AND tags.f >= 1.5 AND tags.f <= 1.5"));
  CHECK_FALSE(where("tags.s > 0"));    // no ordering between a string and a number
  CHECK(where("deviceId > 'sensor-6'"));
  CHECK(where("tags.b = true"));
  CHECK(where("tags.z = null"));
  CHECK(where("tags.big = 9007199254740993"));
  // Undefined and objects are neither equal nor unequal.
  CHECK_FALSE(where("tags.missing = 1"));
  CHECK_FALSE(where("tags.missing != 1"));
  CHECK_FALSE(where("NOT (tags.missing = 1)"));
  CHECK_FALSE(where("tags.o = tags.o"));
  CHECK(where("tags.missing = 1 OR tags.n = 1"));
  CHECK_FALSE(where("tags.n NIN [1, 2]"));
  CHECK(where("tags.n NIN [2, 3]"));
  CHECK(where("tags.n IN [-1, 1]"));
  CHECK_FALSE(where("tags.missing NIN [1]"));
  // Functions.
  CHECK(where("IS_DEFINED(tags.z) AND IS_NULL(tags.z) AND NOT IS_DEFINED(tags.missing)"));
  CHECK(where("is_string(tags.s) AND is_number(tags.n) AND is_bool(tags.b) AND is_object(tags.o)"));
  CHECK(where("IS_ARRAY(tags.arr) AND IS_PRIMITIVE(tags.z) AND NOT IS_PRIMITIVE(tags.o)"));
  CHECK(where("STARTSWITH(deviceId, 'sensor') AND ENDSWITH(deviceId, '-7') AND NOT startswith(deviceId, 'x')"));
  CHECK_FALSE(where("STARTSWITH(tags.n, '1')"));
  // Arithmetic, hexadecimal, both quotes, escapes, [[keyword]] names, case-insensitive keywords.
  CHECK(where("tags.n + 1 = 2 AND tags.n * 3 - 1 = 2 AND tags.f / 0.5 = 3 AND 7 % 4 = 3 AND -tags.n = -1"));
  CHECK(where("tags.n = 0x1"));
  CHECK(where("tags.s = \"1\" AND 'a\\'b' = \"a'b\" AND \"q\\\"\" = 'q\"'"));
  CHECK(where("'\\u0041' = 'A'"));
  CHECK(where("tags.[[group]] = 'g1'"));
  CHECK(where("(tags.n = 1) and (tags.s = '1') oR false"));
  CHECK(where("true"));
  CHECK_FALSE(where("'true'"));  // only the boolean true selects
  CHECK_FALSE(where("undefined = undefined"));
}

TEST_CASE("core::TwinQuery: projections and aggregates") {
  const auto twins = sample_twins();
  CHECK(run("SELECT deviceId, tags.location.region AS r, properties.reported.nothing FROM devices WHERE deviceId = 'd1'", twins) ==
        std::vector<json>{json{{"deviceId", "d1"}, {"r", "US"}}});
  CHECK(run("SELECT tags.location FROM devices WHERE deviceId = 'd1'", twins) ==
        std::vector<json>{json{{"location", {{"region", "US"}, {"plant", "Redmond43"}}}}});
  CHECK(run("SELECT SUM(properties.desired.telemetryConfig.sendFrequencyInSecs) AS s, "
            "AVG(properties.desired.telemetryConfig.sendFrequencyInSecs) AS a, "
            "MIN(properties.desired.telemetryConfig.sendFrequencyInSecs) AS lo, MAX(deviceId) AS hi, COUNT() FROM devices",
            twins) == std::vector<json>{json{{"s", 1410}, {"a", 235.0}, {"lo", 30}, {"hi", "d6"}, {"$5", 6}}});
  CHECK(run("SELECT tags.location.region, COUNT() AS n FROM devices GROUP BY tags.location.region", twins) ==
        std::vector<json>{json{{"region", "US"}, {"n", 4}}, json{{"region", "EU"}, {"n", 2}}});
  CHECK(TwinQuery::parse("SELECT * FROM devices").item_type() == "twin");
  CHECK(TwinQuery::parse("SELECT deviceId FROM devices").item_type() == "raw");
  CHECK(TwinQuery::parse("SELECT COUNT() AS n FROM devices").item_type() == "raw");
  CHECK(TwinQuery::parse("SELECT * FROM devices").selects_whole_twins());
  CHECK(TwinQuery::parse("SELECT COUNT() AS n FROM devices").is_aggregate());
}

TEST_CASE("core::TwinQuery::parse refusals") {
  struct Row {
    const char* query;
    const char* message;
  };
  const Row rows[] = {
      {"", "query: syntax error at line 1, column 1 at the end: expected SELECT"},
      {"SELECT * FORM devices", "query: syntax error at line 1, column 10 near 'FORM': expected FROM"},
      {"SELECT * FROM twins", "query: syntax error at line 1, column 15 near 'twins': expected devices, devices.modules or devices.jobs"},
      {"SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'a')",
       "query: syntax error at line 1, column 29 near 'STARTS_WITH': unknown function STARTS_WITH (twin queries spell it STARTSWITH)"},
      {"SELECT * FROM devices WHERE CONTAINS(deviceId, 'a')",
       "query: syntax error at line 1, column 29 near 'CONTAINS': unknown function CONTAINS"},
      {"SELECT * FROM devices\nWHERE tags.x = 'open", "query: syntax error at line 2, column 16 near ''open': unterminated string"},
      {"SELECT * FROM devices WHERE tags.x = 1 AND", "query: syntax error at line 1, column 43 at the end: expected a property, a constant or a function"},
      {"SELECT * FROM devices WHERE tags.x IN ('a')", "query: syntax error at line 1, column 39 near '(': expected '[' and a list of constants"},
      {"SELECT * FROM devices WHERE tags.x IN []", "query: syntax error at line 1, column 39 near '[': the list is empty"},
      {"SELECT * FROM devices WHERE tags.group = 1", "query: syntax error at line 1, column 34 near 'group': group is a keyword; write [[group]] for a property of that name"},
      {"SELECT TOP 0 * FROM devices", "query: syntax error at line 1, column 12 near '0': expected a whole number of at least 1 after TOP"},
      {"SELECT * FROM devices WHERE IS_DEFINED(a, b)", "query: syntax error at line 1, column 29 near 'IS_DEFINED': IS_DEFINED takes 1 argument"},
      {"SELECT * FROM devices WHERE tags.x = 1 tags", "query: syntax error at line 1, column 40 near 'tags': expected the end of the query"},
      {"SELECT * FROM devices WHERE tags.x = 'a\\n'", "query: syntax error at line 1, column 40 near '\\n': unknown escape (allowed: \\' \\\" \\\\ \\uXXXX)"},
      {"SELECT * FROM devices WHERE tags.x # 1", "query: syntax error at line 1, column 36 near '#': unexpected character '#'"},
      {"SELECT deviceId, COUNT() AS n FROM devices", "query: 'deviceId' is neither grouped (GROUP BY) nor aggregated"},
      {"SELECT tags.a.x, tags.b.x FROM devices", "query: two columns are named 'x'; give one a name with AS"},
      {"SELECT * FROM devices GROUP BY tags.x", "query: syntax error at line 1, column 1 near 'SELECT *': SELECT * cannot be grouped; name the grouped property and the aggregates"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.query);
    CHECK(error_of(row.query) == row.message);
  }
  CHECK(error_of("SELECT * FROM devices WHERE " + std::string(9000, ' ')) == "query: 9028 characters is over the limit of 8192");
  CHECK(error_of("SELECT * FROM devices WHERE " + std::string(200, '(') + "true" + std::string(200, ')')).find("nested too deeply") !=
        std::string::npos);
  std::string chain = "SELECT * FROM devices WHERE tags.n = 1";
  for (int i = 0; i < 400; ++i) chain += " OR tags.n = 1";
  CHECK(error_of(chain).find("more than 512 operators in one query") != std::string::npos);
}
