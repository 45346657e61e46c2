#include "core/message_record.hpp"

#include <cstdint>

#include "core/encoding.hpp"

namespace azhub::core {

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  const auto n = text.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

nlohmann::json system_properties_to_json(const SystemProperties& s) {
  nlohmann::json out = nlohmann::json::object();
  const auto put = [&out](const char* name, const std::optional<std::string>& value) {
    if (value) out[name] = *value;
  };
  put("messageId", s.message_id);
  put("correlationId", s.correlation_id);
  put("userId", s.user_id);
  put("contentType", s.content_type);
  put("contentEncoding", s.content_encoding);
  put("expiryTimeUtc", s.expiry);
  put("to", s.to);
  put("creationTimeUtc", s.creation_time);
  put("subject", s.subject);
  put("outputName", s.output_name);
  put("ack", s.ack);
  return out;
}

nlohmann::json message_record_json(std::string_view body, const MessageProperties& properties) {
  nlohmann::json app = nlohmann::json::object();
  for (const auto& [name, value] : properties.application)
    app[name] = value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  const bool text = is_valid_utf8(body);
  return nlohmann::json{{"body", text ? std::string(body) : base64_encode(body)},
                        {"bodyEncoding", text ? "utf-8" : "base64"},
                        {"systemProperties", system_properties_to_json(properties.system)},
                        {"properties", std::move(app)}};
}

}  // namespace azhub::core
