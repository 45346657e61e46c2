#include "core/json_text.hpp"

#include <string>

#include <doctest/doctest.h>

namespace {

using azhub::core::accept_json;
using azhub::core::bad_json_reason;
using azhub::core::json_depth_within;
using azhub::core::parse_json;

std::string nested(int depth, char open, char close, const std::string& inner = "1") {
  return std::string(static_cast<std::size_t>(depth), open) + inner + std::string(static_cast<std::size_t>(depth), close);
}

std::string nested_objects(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{\"a\":";
  s += "1";
  s += std::string(static_cast<std::size_t>(depth), '}');
  return s;
}

}  // namespace

TEST_CASE("core::json_depth_within counts arrays and objects, not brackets in strings") {
  CHECK(json_depth_within("1", 0));
  CHECK(json_depth_within("{}", 1));
  CHECK_FALSE(json_depth_within("{}", 0));
  CHECK(json_depth_within(nested(64, '[', ']'), 64));
  CHECK_FALSE(json_depth_within(nested(65, '[', ']'), 64));
  CHECK(json_depth_within(nested_objects(64), 64));
  CHECK_FALSE(json_depth_within(nested_objects(65), 64));
  // Siblings do not add up: depth is nesting, not count.
  CHECK_FALSE(json_depth_within("[[1],[2],[3],{\"a\":[4]}]", 2));
  CHECK(json_depth_within("[[1],[2],[3],{\"a\":[4]}]", 3));
  // Brackets inside strings, also after escaped quotes, are text.
  CHECK(json_depth_within(R"({"a":"[[[[{{{{","b":"\"[[[["})", 1));
  CHECK(json_depth_within(R"(["\\", "[["])", 1));
  CHECK_FALSE(json_depth_within(R"(["\\", [[1]]])", 2));
}

TEST_CASE("core::parse_json refuses documents nested deeper than the limit, without recursion") {
  CHECK(parse_json(R"({"a":[1,2]})") == nlohmann::json{{"a", {1, 2}}});
  CHECK(parse_json("not json").is_discarded());
  CHECK(parse_json(nested(64, '[', ']')).is_array());
  // 200,000 levels: refused by the scan, never built (building, copying or dumping it recurses).
  const std::string deep = nested(200000, '[', ']');
  CHECK(parse_json(deep).is_discarded());
  CHECK_FALSE(accept_json(deep));
  CHECK(accept_json("[1]"));
  CHECK_FALSE(accept_json("[1"));
  CHECK(bad_json_reason(deep) == "nested deeper than 64 levels");
  CHECK(bad_json_reason("[1") == "invalid JSON");
  CHECK(parse_json(nested_objects(11), 10).is_discarded());
}
