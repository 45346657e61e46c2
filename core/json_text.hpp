#pragma once
// Parsing JSON that arrives from a peer or a user, with a bound on nesting (docs/protocol.md
// §11). nlohmann::json copies, compares, dumps and walks documents recursively, so a body
// nested 100,000 levels deep would exhaust the stack; every such text is parsed here, and one
// nested deeper than limits::k_json_depth is refused before it becomes a document.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/limits.hpp"

namespace azhub::core {

// True when no array or object in `text` is nested deeper than `max_depth` levels (a top-level
// object is level 1). Scans the text once, skipping strings; says nothing about validity.
[[nodiscard]] bool json_depth_within(std::string_view text, int max_depth = limits::k_json_depth) noexcept;

// The document, or a discarded value (`is_discarded()`) when `text` is not JSON or is nested
// deeper than `max_depth`. Never throws for bad input.
[[nodiscard]] nlohmann::json parse_json(std::string_view text, int max_depth = limits::k_json_depth);

// Why parse_json refused `text`: "nested deeper than 64 levels" or "invalid JSON".
[[nodiscard]] std::string bad_json_reason(std::string_view text, int max_depth = limits::k_json_depth);

// Whether `text` is one JSON value nested at most `max_depth` deep (without building it).
[[nodiscard]] bool accept_json(std::string_view text, int max_depth = limits::k_json_depth);

}  // namespace azhub::core
