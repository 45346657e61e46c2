#include "core/twin.hpp"

#include <algorithm>
#include <iterator>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/limits.hpp"

namespace azhub::core {
namespace {

using nlohmann::json;

bool is_section_metadata_key(std::string_view key) {
  return key == "$version" || key == "$metadata";
}

// Strings count their UTF-8 length without control characters (docs/protocol.md §8.3).
std::size_t string_size(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) ++n;
  }
  return n;
}

std::size_t value_size(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return string_size(value.get_ref<const std::string&>());
    case json::value_t::boolean:
      return 4;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return 8;
    case json::value_t::object: {
      std::size_t n = 0;
      for (const auto& [key, child] : value.items()) n += key.size() + value_size(child);
      return n;
    }
    case json::value_t::array: {
      std::size_t n = 0;
      for (const auto& child : value) n += value_size(child);
      return n;
    }
    default:
      return 0;
  }
}

std::string join_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

std::string describe_key_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (c == ' ') return "a space";
  if (u < 0x20 || u == 0x7F) return fmt::format("control character 0x{:02X}", u);
  return fmt::format("'{}'", c);
}

// C1 controls are U+0080..U+009F, which UTF-8 encodes as C2 80..C2 9F.
bool has_c1_control(std::string_view key) {
  for (std::size_t i = 0; i + 1 < key.size(); ++i) {
    const auto a = static_cast<unsigned char>(key[i]);
    const auto b = static_cast<unsigned char>(key[i + 1]);
    if (a == 0xC2 && b >= 0x80 && b <= 0x9F) return true;
  }
  return false;
}

class Validator {
 public:
  explicit Validator(std::string_view what) : m_what(what) {}

  void check_key(std::string_view key, const std::string& parent) {
    const std::string where = parent.empty() ? std::string() : fmt::format(" (in \"{}\")", parent);
    if (key.empty()) fail(fmt::format("empty key{}", where));
    if (key.size() > limits::k_twin_key_bytes) {
      fail(fmt::format("key of {} bytes{}; IoT Hub allows at most {}", key.size(), where,
                       limits::k_twin_key_bytes));
    }
    for (char c : key) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '.' || c == '$' || c == ' ' || u < 0x20 || u == 0x7F) {
        fail(
            fmt::format("key \"{}\"{} contains {}; twin keys may not contain '.', '$', spaces "
                        "or control characters",
                        printable(key), where, describe_key_char(c)));
      }
    }
    if (has_c1_control(key)) {
      fail(fmt::format("key \"{}\"{} contains a C1 control character", printable(key), where));
    }
  }

  void check_value(const json& value, const std::string& path, int depth) {
    switch (value.type()) {
      case json::value_t::object:
      case json::value_t::array:
        if (depth > limits::k_twin_depth) {
          fail(fmt::format("\"{}\" is nested {} levels deep; IoT Hub allows at most {}", path,
                           depth, limits::k_twin_depth));
        }
        if (value.is_object()) {
          for (const auto& [key, child] : value.items()) {
            check_key(key, path);
            check_value(child, join_path(path, key), depth + 1);
          }
        } else {
          for (const auto& child : value) check_value(child, path, depth + 1);
        }
        break;
      case json::value_t::string: {
        const std::size_t size = value.get_ref<const std::string&>().size();
        if (size > limits::k_twin_string_bytes) {
          fail(fmt::format("\"{}\" is a string of {} bytes; IoT Hub allows at most {}", path, size,
                           limits::k_twin_string_bytes));
        }
        break;
      }
      case json::value_t::number_integer: {
        const auto v = value.get<std::int64_t>();
        if (v < limits::k_twin_int_min || v > limits::k_twin_int_max)
          out_of_range(path, fmt::format("{}", v));
        break;
      }
      case json::value_t::number_unsigned: {
        const auto v = value.get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(limits::k_twin_int_max))
          out_of_range(path, fmt::format("{}", v));
        break;
      }
      default:
        break;
    }
  }

  [[noreturn]] void fail(const std::string& detail) const {
    throw usage_error(fmt::format("{}: {}", m_what, detail));
  }

 private:
  static std::string printable(std::string_view key) {
    std::string out;
    for (char c : key) {
      const auto u = static_cast<unsigned char>(c);
      out += (u < 0x20 || u == 0x7F) ? fmt::format("\\x{:02X}", u) : std::string(1, c);
    }
    return out;
  }

  [[noreturn]] void out_of_range(const std::string& path, const std::string& value) const {
    fail(fmt::format("\"{}\" is {}, outside the twin integer range {}..{}", path, value,
                     limits::k_twin_int_min, limits::k_twin_int_max));
  }

  std::string_view m_what;
};

}  // namespace

void apply_merge_patch(json& target, const json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      apply_merge_patch(target[key], value);
    }
  }
}

void validate_twin_patch(const json& patch, std::string_view what, std::size_t max_bytes) {
  Validator v(what);
  if (!patch.is_object()) v.fail("must be a JSON object");
  for (const auto& [key, child] : patch.items()) {
    if (is_section_metadata_key(key)) continue;  // section bookkeeping, not user keys (§8.3)
    v.check_key(key, "");
    v.check_value(child, key, 1);
  }
  const std::size_t size = twin_section_size(patch);
  if (size > max_bytes) {
    v.fail(fmt::format("{} bytes by IoT Hub's count; the limit is {}", size, max_bytes));
  }
}

std::size_t twin_section_size(const json& section) {
  if (!section.is_object()) return value_size(section);
  std::size_t n = 0;
  for (const auto& [key, child] : section.items()) {
    if (is_section_metadata_key(key)) continue;
    n += key.size() + value_size(child);
  }
  return n;
}

nlohmann::ordered_json in_twin_order(const json& doc) {
  if (doc.is_array()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& item : doc) out.push_back(in_twin_order(item));
    return out;
  }
  if (!doc.is_object()) return nlohmann::ordered_json(doc);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  constexpr std::string_view k_first[] = {"$lastUpdated", "$lastUpdatedVersion"};
  constexpr std::string_view k_last[] = {"$metadata", "$version"};
  for (const std::string_view key : k_first) {
    if (const auto it = doc.find(key); it != doc.end()) out[std::string(key)] = in_twin_order(*it);
  }
  for (const auto& [key, value] : doc.items()) {
    const auto is = [&key](std::string_view k) { return key == k; };
    if (std::any_of(std::begin(k_first), std::end(k_first), is) ||
        std::any_of(std::begin(k_last), std::end(k_last), is))
      continue;
    out[key] = in_twin_order(value);
  }
  for (const std::string_view key : k_last) {
    if (const auto it = doc.find(key); it != doc.end()) out[std::string(key)] = in_twin_order(*it);
  }
  return out;
}

json parse_json_object(std::string_view text, std::string_view what) {
  if (!json_depth_within(text)) throw usage_error(fmt::format("{}: {}", what, bad_json_reason(text)));
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann prefixes "[json.exception.parse_error.101] "; keep only the readable part.
    std::string_view message = e.what();
    if (const std::size_t close = message.find("] ");
        message.starts_with("[json.exception") && close != std::string_view::npos) {
      message.remove_prefix(close + 2);
    }
    throw usage_error(fmt::format("{}: invalid JSON: {}", what, message));
  }
  if (!doc.is_object()) {
    throw usage_error(fmt::format("{}: expected a JSON object, got {}", what, doc.type_name()));
  }
  return doc;
}

}  // namespace azhub::core
