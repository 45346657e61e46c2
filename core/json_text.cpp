#include "core/json_text.hpp"

namespace azhub::core {

bool json_depth_within(std::string_view text, int max_depth) noexcept {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char ch : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (ch == '\\') {
        escaped = true;
      } else if (ch == '"') {
        in_string = false;
      }
      continue;
    }
    switch (ch) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

nlohmann::json parse_json(std::string_view text, int max_depth) {
  if (!json_depth_within(text, max_depth)) return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, false);
}

std::string bad_json_reason(std::string_view text, int max_depth) {
  if (!json_depth_within(text, max_depth))
    return "nested deeper than " + std::to_string(max_depth) + " levels";
  return "invalid JSON";
}

bool accept_json(std::string_view text, int max_depth) {
  return json_depth_within(text, max_depth) && nlohmann::json::accept(text);
}

}  // namespace azhub::core
