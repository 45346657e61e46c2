#include "core/http_message.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"

namespace azhub::core::http_message {
namespace {

std::string_view content_type_header(ContentHeaders c) {
  return c == ContentHeaders::iothub ? "iothub-contenttype" : "Content-Type";
}
std::string_view content_encoding_header(ContentHeaders c) {
  return c == ContentHeaders::iothub ? "iothub-contentencoding" : "Content-Encoding";
}

const std::string* find(const Headers& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return &v;
  }
  return nullptr;
}

}  // namespace

Headers headers_of(const MessageProperties& props, ContentHeaders content) {
  Headers out;
  const SystemProperties& sys = props.system;
  auto add = [&](std::string_view name, const std::optional<std::string>& value) {
    if (value) out.emplace_back(std::string(name), *value);
  };
  add("iothub-messageid", sys.message_id);
  add("iothub-correlationid", sys.correlation_id);
  add("iothub-userid", sys.user_id);
  add("iothub-to", sys.to);
  add("iothub-expiry", sys.expiry);
  add("iothub-ack", sys.ack);
  add(content_type_header(content), sys.content_type);
  add(content_encoding_header(content), sys.content_encoding);
  add("dt-subject", sys.subject);
  for (const auto& [name, value] : props.application) out.emplace_back(std::string(k_app_prefix) + name, value.value_or(""));
  return out;
}

MessageProperties properties_of(const Headers& headers, ContentHeaders content) {
  MessageProperties props;
  SystemProperties& sys = props.system;
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    const std::string* v = find(headers, name);
    if (v == nullptr) return std::nullopt;
    return *v;
  };
  sys.message_id = get("iothub-messageid");
  sys.correlation_id = get("iothub-correlationid");
  sys.user_id = get("iothub-userid");
  sys.expiry = get("iothub-expiry");
  sys.ack = get("iothub-ack");
  sys.content_type = get(content_type_header(content));
  sys.content_encoding = get(content_encoding_header(content));
  sys.subject = get("dt-subject");
  for (const auto& [name, value] : headers) {
    if (name.size() <= k_app_prefix.size() || !istarts_with(name, k_app_prefix)) continue;
    std::string key = name.substr(k_app_prefix.size());
    const bool seen = std::any_of(props.application.begin(), props.application.end(),
                                  [&](const auto& p) { return iequals(p.first, key); });
    if (seen) continue;
    validate_application_property(key, value);
    props.application.emplace_back(std::move(key), value);
  }
  validate_system_properties(sys);
  return props;
}

std::vector<BatchItem> parse_batch(std::string_view body) {
  const auto doc = parse_json(body);
  if (doc.is_discarded()) throw usage_error("the batch: " + bad_json_reason(body));
  if (!doc.is_array()) throw usage_error("the batch must be a JSON array of {\"body\", \"properties\"} objects");
  std::vector<BatchItem> out;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const auto& item = doc[i];
    const std::string where = fmt::format("batch item {}", i);
    if (!item.is_object()) throw usage_error(where + " is not an object");
    const auto b = item.find("body");
    if (b == item.end() || !b->is_string()) throw usage_error(where + " has no base64 \"body\"");
    auto bytes = base64_decode(b->get<std::string>());
    if (!bytes) throw usage_error(where + ": \"body\" is not base64");
    BatchItem entry;
    entry.body = std::move(*bytes);
    if (const auto p = item.find("properties"); p != item.end()) {
      if (!p->is_object()) throw usage_error(where + ": \"properties\" is not an object");
      Headers headers;
      for (const auto& [name, value] : p->items()) {
        if (!value.is_string()) throw usage_error(fmt::format("{}: property '{}' is not a string", where, name));
        headers.emplace_back(name, value.get<std::string>());
      }
      entry.properties = properties_of(headers, ContentHeaders::iothub);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace azhub::core::http_message
