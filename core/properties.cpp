#include "core/properties.hpp"

#include <array>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/text.hpp"

namespace azhub::core {
namespace {

using Member = std::optional<std::string> SystemProperties::*;

struct SystemKey {
  std::string_view key;
  Member member;
};

// Emulator output order of docs/protocol.md §5.3, then the D2C-only keys of §5.1.
constexpr std::array<SystemKey, 11> k_system_keys = {{
    {"$.mid", &SystemProperties::message_id},
    {"$.to", &SystemProperties::to},
    {"$.cid", &SystemProperties::correlation_id},
    {"$.uid", &SystemProperties::user_id},
    {"$.exp", &SystemProperties::expiry},
    {"$.ct", &SystemProperties::content_type},
    {"$.ce", &SystemProperties::content_encoding},
    {"$.ctime", &SystemProperties::creation_time},
    {"$.sub", &SystemProperties::subject},
    {"$.on", &SystemProperties::output_name},
    {"iothub-ack", &SystemProperties::ack},
}};

constexpr std::string_view k_name_specials = "!#$%&'*+-.^_`|~";

bool is_property_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         k_name_specials.find(c) != std::string_view::npos;
}

// Shown in messages: printable ASCII as is, other bytes as \xNN, at most 64 characters.
std::string describe_value(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7F) ? fmt::format("\\x{:02X}", u) : std::string(1, c);
  }
  if (value.size() > 64) out += "...";
  return out;
}

void append_pair(std::string& bag, std::string_view key, const std::optional<std::string>& value) {
  if (!bag.empty()) bag.push_back('&');
  bag += url_encode(key);
  if (value) {
    bag.push_back('=');
    bag += url_encode(*value);
  }
}

}  // namespace

std::string build_property_bag(const MessageProperties& props) {
  std::string bag;
  for (const SystemKey& sk : k_system_keys) {
    const std::optional<std::string>& value = props.system.*sk.member;
    if (!value) continue;
    if (sk.key == "iothub-ack" && *value == "none") continue;  // the default; §5.3
    append_pair(bag, sk.key, value);
  }
  for (const auto& [name, value] : props.application) append_pair(bag, name, value);
  return bag;
}

MessageProperties parse_property_bag(std::string_view bag) {
  MessageProperties props;
  if (bag.starts_with('?')) bag.remove_prefix(1);  // the docs' "/?prop1&..." C2D form (§4)
  for (const auto& pair : split_query(bag)) {
    std::string key = url_decode(pair.key, "property bag: name");
    if (key.empty()) throw usage_error("property bag: a property has an empty name");
    std::optional<std::string> value;
    if (pair.value) value = url_decode(*pair.value, fmt::format("property bag: value of '{}'", key));
    // Keys arrive as "$.x" or "%24.x"; both decode to "$.x" (§5.3).
    bool is_system = false;
    for (const SystemKey& sk : k_system_keys) {
      if (sk.key == key) {
        // The key-only form is a null value: the same as absent for system properties.
        if (value) props.system.*sk.member = std::move(value);
        is_system = true;
        break;
      }
    }
    if (!is_system) props.application.emplace_back(std::move(key), std::move(value));
  }
  return props;
}

void validate_application_property(std::string_view name, std::string_view value) {
  if (name.empty()) throw usage_error("property name is empty");
  if (name.starts_with("$.")) {
    throw usage_error(fmt::format(
        "property name '{}' is reserved: names starting with '$.' are system properties",
        describe_value(name)));
  }
  for (char c : name) {
    if (!is_property_name_char(c)) {
      const std::string shown = describe_byte(c);
      throw usage_error(fmt::format(
          "property name '{}' contains {}; IoT Hub allows letters, digits and ! # $ % & ' * + - . "
          "^ _ ` | ~",
          describe_value(name), shown));
    }
  }
  if (name.size() + value.size() > limits::k_d2c_message_bytes) {
    throw usage_error(fmt::format("property '{}' is {} bytes; a whole message may be at most {}",
                                  describe_value(name), name.size() + value.size(),
                                  limits::k_d2c_message_bytes));
  }
}

void validate_system_properties(const SystemProperties& system) {
  if (system.message_id) {
    const std::string& mid = *system.message_id;
    if (mid.size() > limits::k_id_max_chars) {
      throw usage_error(
          fmt::format("message id ($.mid) is {} characters long; IoT Hub allows at "
                      "most {}",
                      mid.size(), limits::k_id_max_chars));
    }
    for (char c : mid) {
      if (!is_identity_char(c)) {
        throw usage_error(
            fmt::format("message id ($.mid) contains {}; IoT Hub allows letters, digits and "
                        "- : . + % _ # * ? ! ( ) , = @ ; $ '",
                        describe_byte(c)));
      }
    }
  }
  if (system.ack && *system.ack != "none" && *system.ack != "positive" &&
      *system.ack != "negative" && *system.ack != "full") {
    throw usage_error(fmt::format("iothub-ack '{}' is not one of none, positive, negative, full",
                                  describe_value(*system.ack)));
  }
}

std::size_t message_size(std::string_view body, const MessageProperties& props) {
  std::size_t size = body.size();
  for (const SystemKey& sk : k_system_keys) {
    const std::optional<std::string>& value = props.system.*sk.member;
    if (value) size += value->size();
  }
  for (const auto& [name, value] : props.application) {
    size += name.size() + (value ? value->size() : 0);
  }
  return size;
}

void validate_message_size(std::string_view body, const MessageProperties& props,
                           std::size_t limit, std::string_view what) {
  const std::size_t size = message_size(body, props);
  if (size > limit) {
    throw usage_error(fmt::format("{} is {} bytes (body and properties); IoT Hub accepts at most {}",
                                  what, size, limit));
  }
}

std::pair<std::string, std::string> parse_property_argument(std::string_view text) {
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    throw usage_error(fmt::format("--prop '{}': expected NAME=VALUE", text));
  std::string name(text.substr(0, eq));
  std::string value(text.substr(eq + 1));
  if (name.empty()) throw usage_error(fmt::format("--prop '{}': the name is empty", text));
  if (name.starts_with("$."))
    throw usage_error(fmt::format(
        "--prop '{}': names starting with '$.' are system properties; use --message-id, "
        "--correlation-id, --content-type or --content-encoding",
        name));
  try {
    validate_application_property(name, value);
  } catch (const Error& e) {
    throw usage_error(fmt::format("--prop: {}", e.what()));
  }
  return {std::move(name), std::move(value)};
}

}  // namespace azhub::core
