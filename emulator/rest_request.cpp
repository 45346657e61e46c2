#include "emulator/rest_request.hpp"

#include <charconv>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/json_text.hpp"
#include "core/limits.hpp"
#include "emulator/rest_error.hpp"

namespace azhub::emulator {

using nlohmann::json;

std::int64_t parse_query_number(std::string_view text, std::string_view name, std::int64_t min,
                                std::int64_t max) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value < min || value > max)
    throw HubError(400004, fmt::format("{}: expected a whole number from {} to {}", name, min, max));
  return value;
}

std::optional<std::string> parse_if_match(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.starts_with("W/")) value.remove_prefix(2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
    value = value.substr(1, value.size() - 2);
  if (value.empty()) return std::nullopt;
  return std::string(value);
}

MethodInvocation parse_method_invocation(std::string_view body) {
  const auto doc = core::parse_json(body);
  if (doc.is_discarded()) throw HubError(400004, "the body: " + core::bad_json_reason(body));
  if (!doc.is_object()) throw HubError(400004, "the body is not a JSON object");
  MethodInvocation call;
  const auto name = doc.find("methodName");
  if (name == doc.end() || !name->is_string() || name->get<std::string>().empty())
    throw HubError(400004, "methodName: required, a non-empty string");
  call.method_name = name->get<std::string>();
  const auto payload = doc.find("payload");
  call.payload = payload == doc.end() ? "null" : payload->dump();
  const auto timeout = [&doc](const char* field, int fallback, int min, int max) {
    const auto it = doc.find(field);
    if (it == doc.end() || it->is_null()) return fallback;
    if (!it->is_number_integer() || it->get<std::int64_t>() < min || it->get<std::int64_t>() > max)
      throw HubError(400004, fmt::format("{}: expected a whole number from {} to {}", field, min, max));
    return static_cast<int>(it->get<std::int64_t>());
  };
  call.response_timeout_s = timeout("responseTimeoutInSeconds", 30, core::limits::k_method_timeout_min_s,
                                    core::limits::k_method_timeout_max_s);
  call.connect_timeout_s =
      timeout("connectTimeoutInSeconds", 0, 0, core::limits::k_method_connect_timeout_max_s);
  return call;
}

D2cFilter parse_d2c_filter(const RestRoute& route) {
  D2cFilter filter;
  const auto& q = route.query;
  constexpr auto k_max = std::numeric_limits<std::int64_t>::max();
  if (const auto it = q.find("since"); it != q.end()) {
    filter.after = static_cast<std::uint64_t>(parse_query_number(it->second, "since", 0, k_max));
  } else if (const auto from = q.find("from"); from != q.end()) {
    const auto first = parse_query_number(from->second, "from", 0, k_max);
    filter.after = first == 0 ? 0 : static_cast<std::uint64_t>(first - 1);
  }
  if (const auto it = q.find("device"); it != q.end()) filter.device_id = it->second;
  else if (const auto id = q.find("deviceId"); id != q.end()) filter.device_id = id->second;
  if (const auto it = q.find("module"); it != q.end()) filter.module_id = it->second;
  else if (const auto id = q.find("moduleId"); id != q.end()) filter.module_id = id->second;
  if (const auto it = q.find("limit"); it != q.end())
    filter.limit = static_cast<std::size_t>(parse_query_number(it->second, "limit", 1, 1000));
  return filter;
}

bool d2c_matches(const D2cFilter& filter, const D2cMessage& message) {
  if (filter.device_id && message.source.device_id != *filter.device_id) return false;
  if (filter.module_id && message.source.module_id != filter.module_id) return false;
  return true;
}

}  // namespace azhub::emulator
