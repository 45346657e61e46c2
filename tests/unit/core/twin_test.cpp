#include "core/twin.hpp"

#include <string>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;
using nlohmann::json;

namespace {
std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.what();
  }
  return "<no error>";
}

// {"k1":{"k2":...{"kN": leaf}}}: N nested objects when `leaf` is a scalar.
json nested(int levels, json leaf) {
  for (int i = levels; i >= 1; --i) leaf = json{{"k" + std::to_string(i), leaf}};
  return leaf;
}
}  // namespace

TEST_CASE("core::apply_merge_patch (RFC 7386 appendix A)") {
  struct Row {
    const char* target;
    const char* patch;
    const char* result;
  };
  const Row rows[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
      // The twin example of docs/protocol.md §12.2: nested merge, delete, add.
      {R"({"existingProperty":"x","otherOldProperty":1,"keep":true})",
       R"({"newProperty":{"nestedProperty":"newValue"},"existingProperty":"otherNewValue","otherOldProperty":null})",
       R"({"existingProperty":"otherNewValue","keep":true,"newProperty":{"nestedProperty":"newValue"}})"},
      // Deleting a key that is not there is not an error.
      {R"({"a":1})", R"({"zzz":null})", R"({"a":1})"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.target);
    CAPTURE(row.patch);
    json target = json::parse(row.target);
    apply_merge_patch(target, json::parse(row.patch));
    CHECK(target == json::parse(row.result));
  }
}

TEST_CASE("core::twin_section_size (§8.3 formula)") {
  CHECK(twin_section_size(json::object()) == 0);
  CHECK(twin_section_size(json{{"ab", "xyz"}}) == 2 + 3);
  CHECK(twin_section_size(json{{"n", 5}}) == 1 + 8);
  CHECK(twin_section_size(json{{"f", 1.5}}) == 1 + 8);
  CHECK(twin_section_size(json{{"b", true}}) == 1 + 4);
  CHECK(twin_section_size(json{{"z", nullptr}}) == 1);
  CHECK(twin_section_size(json{{"o", {{"ab", "c"}}}}) == 1 + 2 + 1);
  CHECK(twin_section_size(json{{"a", {1, "xy", false}}}) == 1 + 8 + 2 + 4);
  CHECK(twin_section_size(json{{"s", "a\nb\tc"}}) == 1 + 3);   // control characters excluded
  CHECK(twin_section_size(json{{"s", "\xC3\xA9"}}) == 1 + 2);  // UTF-8 bytes
  // $version and $metadata do not count.
  CHECK(twin_section_size(json{{"a", "b"}, {"$version", 4}, {"$metadata", {{"x", "yyyy"}}}}) == 2);
}

TEST_CASE("core::validate_twin_patch accepts") {
  validate_twin_patch(json::object(), "reported patch");
  validate_twin_patch(json::parse(R"({"a":1,"b":"x","c":true,"d":null,"e":[1,{"f":2}],"g":1.5})"),
                      "reported patch");
  validate_twin_patch(json{{"$version", 3}, {"$metadata", {{"$lastUpdated", "x"}}}, {"a", 1}},
                      "desired");
  validate_twin_patch(json{{"min", -4503599627370496LL}, {"max", 4503599627370495LL}},
                      "reported patch");
  // The docs' example: "one".."ten" hold objects (10 levels), "property" holds the value.
  validate_twin_patch(nested(11, "value"), "reported patch");
  validate_twin_patch(json{{std::string(1024, 'k'), 1}}, "reported patch");
  validate_twin_patch(json{{"s", std::string(4096, 's')}}, "reported patch");
  validate_twin_patch(json{{"unicode-\xC3\xA9", 1}}, "reported patch");
}

TEST_CASE("core::validate_twin_patch refuses") {
  struct Row {
    json patch;
    std::string message;
  };
  const std::string keys = "; twin keys may not contain '.', '$', spaces or control characters";
  const Row rows[] = {
      {json::array(), "reported patch: must be a JSON object"},
      {json("x"), "reported patch: must be a JSON object"},
      {json{{"a.b", 1}}, "reported patch: key \"a.b\" contains '.'" + keys},
      {json{{"$x", 1}}, "reported patch: key \"$x\" contains '$'" + keys},
      {json{{"a$", 1}}, "reported patch: key \"a$\" contains '$'" + keys},
      {json{{"a b", 1}}, "reported patch: key \"a b\" contains a space" + keys},
      {json{{"a\tb", 1}}, "reported patch: key \"a\\x09b\" contains control character 0x09" + keys},
      {json{{"a\xC2\x85", 1}}, "reported patch: key \"a\xC2\x85\" contains a C1 control character"},
      {json{{"", 1}}, "reported patch: empty key"},
      {json{{"o", {{"p", {{"bad.key", 1}}}}}},
       "reported patch: key \"bad.key\" (in \"o.p\") contains '.'" + keys},
      {json{{"o", {{"", 1}}}}, "reported patch: empty key (in \"o\")"},
      {json{{std::string(1025, 'k'), 1}},
       "reported patch: key of 1025 bytes; IoT Hub allows at most 1024"},
      {json{{"s", std::string(4097, 's')}},
       "reported patch: \"s\" is a string of 4097 bytes; IoT Hub allows at most 4096"},
      {json{{"o", {{"s", std::string(4097, 's')}}}},
       "reported patch: \"o.s\" is a string of 4097 bytes; IoT Hub allows at most 4096"},
      {json{{"big", 4503599627370496LL}},
       "reported patch: \"big\" is 4503599627370496, outside the twin integer range "
       "-4503599627370496..4503599627370495"},
      {json{{"small", -4503599627370497LL}},
       "reported patch: \"small\" is -4503599627370497, outside the twin integer range "
       "-4503599627370496..4503599627370495"},
      {json{{"u", 18446744073709551615ULL}},
       "reported patch: \"u\" is 18446744073709551615, outside the twin integer range "
       "-4503599627370496..4503599627370495"},
      {nested(12, "value"),
       "reported patch: \"k1.k2.k3.k4.k5.k6.k7.k8.k9.k10.k11\" is nested 11 levels deep; IoT Hub "
       "allows at most 10"},
      {json{{"a", nested(10, json::array())}},
       "reported patch: \"a.k1.k2.k3.k4.k5.k6.k7.k8.k9.k10\" is nested 11 levels deep; IoT Hub "
       "allows at most 10"},
      {json{{"$metadata", 1}, {"x.y", 1}}, "reported patch: key \"x.y\" contains '.'" + keys},
      // $version and $metadata are only section bookkeeping at the top level.
      {json{{"o", {{"$version", 1}}}},
       "reported patch: key \"$version\" (in \"o\") contains '$'" + keys},
  };
  for (const Row& row : rows) {
    CAPTURE(row.patch.dump());
    CHECK(error_of([&] { validate_twin_patch(row.patch, "reported patch"); }) == row.message);
  }
}

TEST_CASE("core::validate_twin_patch size limits") {
  // Seven 1-byte keys with 4096-byte strings (7 * 4097 = 28679) plus "z" with `tail` bytes.
  const auto patch_of = [](std::size_t tail) {
    json patch = json::object();
    for (char k = 'a'; k < 'h'; ++k) patch[std::string(1, k)] = std::string(4096, 'v');
    patch["z"] = std::string(tail, 'v');
    return patch;
  };
  CHECK(twin_section_size(patch_of(4088)) == 32 * 1024);
  validate_twin_patch(patch_of(4088), "reported patch");
  CHECK(error_of([&] { validate_twin_patch(patch_of(4089), "reported patch"); }) ==
        "reported patch: 32769 bytes by IoT Hub's count; the limit is 32768");
  // Tags are limited to 8 KiB.
  const json tags = {{"t", std::string(4096, 'x')}, {"u", std::string(4094, 'x')}};
  validate_twin_patch(tags, "tags", 8 * 1024);
  json over = tags;
  over["v"] = "";
  CHECK(error_of([&] { validate_twin_patch(over, "tags", 8 * 1024); }) ==
        "tags: 8193 bytes by IoT Hub's count; the limit is 8192");
}

TEST_CASE("core::parse_json_object") {
  CHECK(parse_json_object(R"({"a":1})", "reported patch") == json{{"a", 1}});
  CHECK(parse_json_object(" {} \n", "x") == json::object());
  CHECK(error_of([] { (void)parse_json_object("[1]", "reported patch"); }) ==
        "reported patch: expected a JSON object, got array");
  CHECK(error_of([] { (void)parse_json_object("42", "twin patch"); }) ==
        "twin patch: expected a JSON object, got number");
  const std::string invalid =
      error_of([] { (void)parse_json_object("{\"a\":", "reported patch"); });
  CHECK(invalid.starts_with("reported patch: invalid JSON: "));
  CHECK(invalid.find("[json.exception") == std::string::npos);
  CHECK(error_of([] { (void)parse_json_object("", "body"); }).starts_with("body: invalid JSON: "));
}

TEST_CASE("core::in_twin_order puts $metadata and $version last, $lastUpdated first") {
  const json section = json::parse(
      R"({"device_count":100,"$version":4,"b":{"c":1},"$metadata":{"b":{"$lastUpdated":"t2"},"$lastUpdated":"t1"}})");
  CHECK(in_twin_order(section).dump() ==
        R"({"b":{"c":1},"device_count":100,"$metadata":{"$lastUpdated":"t1","b":{"$lastUpdated":"t2"}},"$version":4})");
  CHECK(in_twin_order(json::parse(R"({"device_count":100,"$version":4})")).dump() ==
        R"({"device_count":100,"$version":4})");
  CHECK(in_twin_order(json::parse(R"([{"$version":1,"a":2}])")).dump() == R"([{"a":2,"$version":1}])");
  CHECK(in_twin_order(json(5)).dump() == "5");
}
