#include "core/topics.hpp"

#include <charconv>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"

namespace azhub::core {
namespace {

constexpr std::string_view k_devices = "devices/";
constexpr std::string_view k_events = "/messages/events";
constexpr std::string_view k_devicebound = "/messages/devicebound";
constexpr std::string_view k_twin_get = "$iothub/twin/GET";
constexpr std::string_view k_twin_patch_reported = "$iothub/twin/PATCH/properties/reported";
constexpr std::string_view k_twin_desired = "$iothub/twin/PATCH/properties/desired";
constexpr std::string_view k_twin_res = "$iothub/twin/res/";
constexpr std::string_view k_method_post = "$iothub/methods/POST/";
constexpr std::string_view k_method_res = "$iothub/methods/res/";
constexpr std::string_view k_method_name_forbidden = "$()<>@,;:\\\"/[]?={}";

struct Query {
  std::optional<std::string> rid;
  std::optional<std::string> version;
};

// Splits the "$rid=..&$version=.." query of a twin/method topic. Values are kept raw: a `$rid`
// is echoed byte-for-byte (docs/protocol.md §4 notes).
Query parse_query(std::string_view query, std::string_view what) {
  Query q;
  for (const auto& [key, value] : split_query(query)) {
    std::optional<std::string>* slot = nullptr;
    if (key == "$rid" || key == "%24rid") slot = &q.rid;
    if (key == "$version" || key == "%24version") slot = &q.version;
    if (slot == nullptr) continue;  // extra parameters are ignored (§7.3)
    if (*slot) throw usage_error(fmt::format("{}: duplicate '{}'", what, key));
    *slot = std::string(value.value_or(""));
  }
  return q;
}

// After a fixed prefix, expects "/?{query}" and returns the query.
std::string_view expect_query(std::string_view rest, std::string_view what) {
  if (!rest.starts_with("/?"))
    throw usage_error(fmt::format("{}: missing '/?' before the query", what));
  return rest.substr(2);
}

std::string require_rid(const Query& q, std::string_view what) {
  if (!q.rid || q.rid->empty()) throw usage_error(fmt::format("{}: missing $rid", what));
  return *q.rid;
}

template <typename Int>
std::optional<Int> parse_int(std::string_view text) {
  Int value{};
  if (text.empty() || text.size() > 19) return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::int64_t require_version(const std::optional<std::string>& text, std::string_view what) {
  if (!text) throw usage_error(fmt::format("{}: missing $version", what));
  const auto v = parse_int<std::int64_t>(*text);
  if (!v || *v < 0)
    throw usage_error(fmt::format("{}: $version is not a non-negative integer", what));
  return *v;
}

// "{status}/?..." -> status (0..65535, §4 notes) and the rest after the status.
int parse_status(std::string_view& rest, std::string_view what) {
  const std::size_t slash = rest.find('/');
  const auto status = parse_int<int>(rest.substr(0, slash));
  if (!status || *status < 0 || *status > 65535) {
    throw usage_error(fmt::format("{}: status is not an integer 0-65535", what));
  }
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  return *status;
}

// "{bag}" after ".../events" or ".../devicebound": "", "/", "/?bag" or "/bag" (§4 notes).
MessageProperties parse_bag_suffix(std::string_view rest) {
  if (rest.empty()) return {};
  rest.remove_prefix(1);  // the '/' checked by the caller
  return parse_property_bag(rest);
}

std::string segment_before_slash(std::string_view& rest) {
  const std::size_t slash = rest.find('/');
  std::string segment(rest.substr(0, slash));
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  return segment;
}

std::string device_prefix(const Identity& id) {
  if (id.module_id) return fmt::format("devices/{}/modules/{}", id.device_id, *id.module_id);
  return fmt::format("devices/{}", id.device_id);
}

}  // namespace

// --- telemetry ---------------------------------------------------------------------------------

std::string build_telemetry_topic(const Identity& id, const MessageProperties& props) {
  return fmt::format("{}{}/{}", device_prefix(id), k_events, build_property_bag(props));
}

std::optional<TelemetryTopic> parse_telemetry_topic(std::string_view topic) {
  if (!topic.starts_with(k_devices)) return std::nullopt;
  std::string_view rest = topic.substr(k_devices.size());
  TelemetryTopic out;
  out.device_id = segment_before_slash(rest);
  if (rest.starts_with("/modules/")) {
    rest.remove_prefix(std::string_view("/modules/").size());
    out.module_id = segment_before_slash(rest);
  }
  if (!rest.starts_with(k_events)) return std::nullopt;
  rest.remove_prefix(k_events.size());
  if (!rest.empty() && rest[0] != '/') return std::nullopt;  // e.g. ".../eventsX": not ours
  if (out.device_id.empty()) throw usage_error("telemetry topic: empty device id");
  if (out.module_id && out.module_id->empty())
    throw usage_error("telemetry topic: empty module id");
  out.properties = parse_bag_suffix(rest);
  return out;
}

// --- C2D ---------------------------------------------------------------------------------------

std::string build_c2d_subscription(std::string_view device_id) {
  return fmt::format("devices/{}{}/#", device_id, k_devicebound);
}

std::string build_c2d_topic(std::string_view device_id, const MessageProperties& props) {
  return fmt::format("devices/{}{}/{}", device_id, k_devicebound, build_property_bag(props));
}

std::optional<C2dTopic> parse_c2d_topic(std::string_view topic) {
  if (!topic.starts_with(k_devices)) return std::nullopt;
  std::string_view rest = topic.substr(k_devices.size());
  C2dTopic out;
  out.device_id = segment_before_slash(rest);
  if (!rest.starts_with(k_devicebound)) return std::nullopt;
  rest.remove_prefix(k_devicebound.size());
  if (!rest.empty() && rest[0] != '/') return std::nullopt;
  if (out.device_id.empty()) throw usage_error("C2D topic: empty device id");
  out.properties = parse_bag_suffix(rest);
  return out;
}

// --- twin --------------------------------------------------------------------------------------

std::string build_twin_get_topic(std::string_view rid) {
  validate_request_id(rid);
  return fmt::format("{}/?$rid={}", k_twin_get, rid);
}

std::string build_twin_patch_reported_topic(std::string_view rid) {
  validate_request_id(rid);
  return fmt::format("{}/?$rid={}", k_twin_patch_reported, rid);
}

std::optional<TwinRequest> parse_twin_request_topic(std::string_view topic) {
  TwinRequest::Kind kind{};
  std::string_view rest;
  if (topic.starts_with(k_twin_get)) {
    kind = TwinRequest::Kind::get;
    rest = topic.substr(k_twin_get.size());
  } else if (topic.starts_with(k_twin_patch_reported)) {
    kind = TwinRequest::Kind::patch_reported;
    rest = topic.substr(k_twin_patch_reported.size());
  } else {
    return std::nullopt;
  }
  constexpr std::string_view what = "twin request topic";
  const Query q = parse_query(expect_query(rest, what), what);
  return TwinRequest{kind, require_rid(q, what)};
}

std::string build_twin_response_topic(int status, std::string_view rid,
                                      std::optional<std::int64_t> version) {
  std::string topic = fmt::format("{}{}/?$rid={}", k_twin_res, status, rid);
  if (version) topic += fmt::format("&$version={}", *version);
  return topic;
}

std::optional<TwinResponse> parse_twin_response_topic(std::string_view topic) {
  if (!topic.starts_with(k_twin_res)) return std::nullopt;
  constexpr std::string_view what = "twin response topic";
  std::string_view rest = topic.substr(k_twin_res.size());
  TwinResponse out;
  out.status = parse_status(rest, what);
  const Query q = parse_query(expect_query(rest, what), what);
  out.rid = require_rid(q, what);
  if (q.version) out.version = require_version(q.version, what);
  return out;
}

std::string build_twin_desired_topic(std::int64_t version) {
  return fmt::format("{}/?$version={}", k_twin_desired, version);
}

std::optional<std::int64_t> parse_twin_desired_topic(std::string_view topic) {
  if (!topic.starts_with(k_twin_desired)) return std::nullopt;
  constexpr std::string_view what = "twin desired topic";
  const Query q = parse_query(expect_query(topic.substr(k_twin_desired.size()), what), what);
  return require_version(q.version, what);
}

// --- direct methods ----------------------------------------------------------------------------

std::string build_method_request_topic(std::string_view name, std::string_view rid) {
  return fmt::format("{}{}/?$rid={}", k_method_post, name, rid);
}

std::optional<MethodRequest> parse_method_request_topic(std::string_view topic) {
  if (!topic.starts_with(k_method_post)) return std::nullopt;
  constexpr std::string_view what = "method request topic";
  std::string_view rest = topic.substr(k_method_post.size());
  MethodRequest out;
  out.name = segment_before_slash(rest);
  if (out.name.empty()) throw usage_error(fmt::format("{}: empty method name", what));
  const Query q = parse_query(expect_query(rest, what), what);
  out.rid = require_rid(q, what);
  return out;
}

std::string build_method_response_topic(int status, std::string_view rid) {
  validate_request_id(rid);
  return fmt::format("{}{}/?$rid={}", k_method_res, status, rid);
}

std::optional<MethodResponse> parse_method_response_topic(std::string_view topic) {
  if (!topic.starts_with(k_method_res)) return std::nullopt;
  constexpr std::string_view what = "method response topic";
  std::string_view rest = topic.substr(k_method_res.size());
  MethodResponse out;
  out.status = parse_status(rest, what);
  const Query q = parse_query(expect_query(rest, what), what);
  out.rid = require_rid(q, what);
  return out;
}

void validate_method_name(std::string_view name) {
  if (name.empty()) throw usage_error("method name is empty");
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || k_method_name_forbidden.find(c) != std::string_view::npos) {
      const std::string shown = c == ' '                  ? std::string("' ' (space)")
                                : (u < 0x20 || u >= 0x7F) ? fmt::format("byte 0x{:02X}", u)
                                                          : fmt::format("'{}'", c);
      throw usage_error(
          fmt::format("method name contains {}; IoT Hub allows printable ASCII except space and "
                      "$ ( ) < > @ , ; : \\ \" / [ ] ? = {{ }}",
                      shown));
    }
  }
}

// --- publish rules -----------------------------------------------------------------------------

void validate_qos(int qos) {
  if (qos == 2) throw usage_error("QoS 2 is not supported by IoT Hub; use 0 or 1");
  if (qos != 0 && qos != 1) throw usage_error(fmt::format("QoS {} is not valid; use 0 or 1", qos));
}

void validate_request_id(std::string_view rid) {
  if (rid.empty()) throw usage_error("request id ($rid) is empty");
  for (char c : rid) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '&' || c == '/' || c == '#' || c == '+' || u < 0x20 || u == 0x7F) {
      throw usage_error("request id ($rid) contains a character that cannot appear in a topic");
    }
  }
}

// --- subscriptions -----------------------------------------------------------------------------

std::optional<SubscriptionKind> classify_subscription(const Identity& id, std::string_view filter) {
  if (filter == k_twin_response_filter) return SubscriptionKind::twin_response;
  if (filter == k_twin_desired_filter) return SubscriptionKind::twin_desired;
  if (filter == k_method_filter) return SubscriptionKind::methods;
  // C2D goes to devices only (docs/protocol.md §6 "modules"); '+' may stand for the id (§2.4).
  if (!id.module_id &&
      (filter == build_c2d_subscription(id.device_id) || filter == build_c2d_subscription("+"))) {
    return SubscriptionKind::c2d;
  }
  return std::nullopt;
}

}  // namespace azhub::core
