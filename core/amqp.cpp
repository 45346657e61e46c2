#include "core/amqp.hpp"

#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/message_record.hpp"
#include "core/text.hpp"

namespace azhub::core::amqp {
namespace {

std::string_view trim_slash(std::string_view s) {
  while (!s.empty() && s.front() == '/') s.remove_prefix(1);
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

std::string value_text(const Value& v) {
  if (auto t = text_of(v)) return *t;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  if (const auto* t = std::get_if<Timestamp>(&v)) return format_iso8601(t->unix_ms, true);
  return "";
}

}  // namespace

std::string c2d_to(std::string_view device_id) {
  return fmt::format("/devices/{}/messages/devicebound", url_encode(device_id));
}

std::optional<std::string> parse_c2d_to(std::string_view to) {
  std::string_view s = trim_slash(to);
  constexpr std::string_view prefix = "devices/";
  constexpr std::string_view suffix = "/messages/devicebound";
  if (s.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (!iequals(s.substr(0, prefix.size()), prefix)) return std::nullopt;
  if (!iequals(s.substr(s.size() - suffix.size()), suffix)) return std::nullopt;
  std::string_view id = s.substr(prefix.size(), s.size() - prefix.size() - suffix.size());
  if (id.empty() || id.find('/') != std::string_view::npos) return std::nullopt;
  try {
    return url_decode(id, "to");
  } catch (const Error&) {
    return std::nullopt;
  }
}

bool same_address(std::string_view a, std::string_view b) { return iequals(trim_slash(a), trim_slash(b)); }

std::optional<PutToken> parse_put_token(const Message& request, std::string* why) {
  auto fail = [why](std::string text) -> std::optional<PutToken> {
    if (why != nullptr) *why = std::move(text);
    return std::nullopt;
  };
  const Value* op = find(request.application, k_cbs_operation);
  const auto op_text = op != nullptr ? text_of(*op) : std::nullopt;
  if (!op_text || *op_text != k_cbs_put_token) return fail("the operation is not put-token");
  const Value* type = find(request.application, k_cbs_type);
  const auto type_text = type != nullptr ? text_of(*type) : std::nullopt;
  if (!type_text || (*type_text != k_cbs_sas_type && *type_text != k_cbs_sas_type_iothub))
    return fail(fmt::format("token type '{}' is not supported (a SAS token is)", type_text.value_or("")));
  const Value* name = find(request.application, k_cbs_name);
  const auto audience = name != nullptr ? text_of(*name) : std::nullopt;
  if (!audience || audience->empty()) return fail("the request names no audience");
  if (request.body.empty()) return fail("the request carries no token");
  return PutToken{*audience, request.body, *type_text};
}

Message make_put_token(std::string_view audience, std::string_view token, std::string_view reply_to) {
  Message m;
  m.message_id = to_string(random_uuid());
  m.to = std::string(k_cbs_address);
  m.reply_to = std::string(reply_to);
  m.application.emplace_back(std::string(k_cbs_operation), std::string(k_cbs_put_token));
  m.application.emplace_back(std::string(k_cbs_type), std::string(k_cbs_sas_type));
  m.application.emplace_back(std::string(k_cbs_name), std::string(audience));
  m.body_kind = BodyKind::value;
  m.value_body = std::string(token);
  m.body = std::string(token);
  return m;
}

Message make_cbs_reply(const Message& request, int status, std::string_view description) {
  Message m;
  m.correlation_id = request.message_id;
  m.to = request.reply_to;
  m.application.emplace_back(std::string(k_cbs_status_code), Int{status});
  m.application.emplace_back(std::string(k_cbs_status_description), std::string(description));
  return m;
}

std::optional<CbsReply> parse_cbs_reply(const Message& reply) {
  const Value* code = find(reply.application, k_cbs_status_code);
  if (code == nullptr) return std::nullopt;
  CbsReply r;
  if (const auto* i = std::get_if<Int>(code)) {
    r.status = i->value;
  } else if (const auto* l = std::get_if<std::int64_t>(code)) {
    r.status = static_cast<int>(*l);
  } else if (const auto* u = std::get_if<std::uint64_t>(code)) {
    r.status = static_cast<int>(*u);
  } else if (const auto* s = std::get_if<std::string>(code)) {
    try {
      r.status = std::stoi(*s);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (const Value* d = find(reply.application, k_cbs_status_description)) r.description = value_text(*d);
  return r;
}

MessageProperties properties_of(const Message& message) {
  MessageProperties p;
  auto& sys = p.system;
  sys.message_id = text_of(message.message_id);
  sys.correlation_id = text_of(message.correlation_id);
  sys.user_id = message.user_id;
  sys.content_type = message.content_type;
  sys.content_encoding = message.content_encoding;
  if (message.absolute_expiry_ms) sys.expiry = format_iso8601(*message.absolute_expiry_ms, true);
  if (message.creation_ms) sys.creation_time = format_iso8601(*message.creation_ms, true);
  for (const auto& [name, value] : message.application) p.application.emplace_back(name, value_text(value));
  return p;
}

void set_properties(Message& m, const MessageProperties& properties) {
  const auto& sys = properties.system;
  if (sys.message_id) m.message_id = *sys.message_id;
  if (sys.correlation_id) m.correlation_id = *sys.correlation_id;
  m.user_id = sys.user_id;
  m.content_type = sys.content_type;
  m.content_encoding = sys.content_encoding;
  try {
    if (sys.expiry) m.absolute_expiry_ms = parse_iso8601_millis(*sys.expiry, "$.exp");
    if (sys.creation_time) m.creation_ms = parse_iso8601_millis(*sys.creation_time, "$.ctime");
  } catch (const Error&) {
    // accepted as text by the MQTT device plane; the AMQP time fields stay empty
  }
  for (const auto& [name, value] : properties.application) m.application.emplace_back(name, value.value_or(std::string()));
}

MessageProperties c2d_properties_of(const Message& message) {
  MessageProperties p = properties_of(message);
  // iothub-ack is a system property of a C2D message, carried as an application property.
  for (auto it = p.application.begin(); it != p.application.end(); ++it) {
    if (it->first == k_ack_property) {
      p.system.ack = it->second;
      p.application.erase(it);
      break;
    }
  }
  p.system.creation_time.reset();
  return p;
}

Message make_c2d_message(std::string_view device_id, std::string_view body, const MessageProperties& properties,
                         std::optional<std::int64_t> expiry_ms) {
  Message m;
  m.to = c2d_to(device_id);
  m.message_id = to_string(random_uuid());
  MessageProperties without_expiry = properties;
  without_expiry.system.expiry.reset();
  if (properties.system.ack) m.application.emplace_back(std::string(k_ack_property), *properties.system.ack);
  set_properties(m, without_expiry);
  m.absolute_expiry_ms = expiry_ms;
  m.body_kind = BodyKind::data;
  m.body = std::string(body);
  return m;
}

std::string event_hub_name(std::string_view host) {
  const auto dot = host.find('.');
  return std::string(dot == std::string_view::npos ? host : host.substr(0, dot));
}

std::string event_hubs_connection_string(std::string_view host, std::string_view entity, std::string_view policy,
                                         std::string_view key) {
  return fmt::format("Endpoint=sb://{}/;SharedAccessKeyName={};SharedAccessKey={};EntityPath={}", host, policy, key,
                     entity);
}

namespace {

// "amqps://host[:port]/rest" → "rest"; "/rest" → "rest".
std::string_view strip_scheme_host(std::string_view address) {
  for (std::string_view scheme : {"amqps://", "amqp://", "sb://"}) {
    if (istarts_with(address, scheme)) {
      address.remove_prefix(scheme.size());
      const auto slash = address.find('/');
      address = slash == std::string_view::npos ? std::string_view() : address.substr(slash);
      break;
    }
  }
  while (!address.empty() && address.front() == '/') address.remove_prefix(1);
  return address;
}

std::vector<std::string_view> segments(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto slash = s.find('/');
    out.push_back(s.substr(0, slash));
    if (slash == std::string_view::npos) break;
    s.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

std::optional<ConsumerAddress> parse_consumer_address(std::string_view address) {
  const auto parts = segments(strip_scheme_host(address));
  if (parts.size() != 5 || parts[0].empty() || parts[2].empty() || !iequals(parts[1], "ConsumerGroups") ||
      !iequals(parts[3], "Partitions") || parts[4].empty() || parts[4].size() > 5)
    return std::nullopt;
  std::uint32_t partition = 0;
  for (const char c : parts[4]) {
    if (c < '0' || c > '9') return std::nullopt;
    partition = partition * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return ConsumerAddress{std::string(parts[0]), std::string(parts[2]), partition};
}

std::string consumer_address(const ConsumerAddress& a) {
  return fmt::format("{}/ConsumerGroups/{}/Partitions/{}", a.entity, a.consumer_group, a.partition);
}

bool is_hub_events_address(std::string_view address) {
  const auto parts = segments(strip_scheme_host(address));
  return parts.size() >= 2 && iequals(parts[0], "messages") && iequals(parts[1], "events");
}

std::optional<DeviceAddress> parse_device_address(std::string_view address) {
  auto parts = segments(strip_scheme_host(address));
  if (parts.size() < 3 || !iequals(parts[0], "devices") || parts[1].empty()) return std::nullopt;
  DeviceAddress a;
  try {
    a.device_id = url_decode(parts[1], "device id");
    std::size_t at = 2;
    if (parts.size() >= 5 && iequals(parts[2], "modules") && !parts[3].empty()) {
      a.module_id = url_decode(parts[3], "module id");
      at = 4;
    }
    const auto rest = std::vector<std::string_view>(parts.begin() + static_cast<std::ptrdiff_t>(at), parts.end());
    if (rest.size() == 2 && iequals(rest[0], "messages") && iequals(rest[1], "events")) {
      a.endpoint = DeviceEndpoint::telemetry;
    } else if (rest.size() == 2 && iequals(rest[0], "messages") && iequals(rest[1], "devicebound")) {
      a.endpoint = DeviceEndpoint::c2d;
    } else if (rest.size() == 2 && iequals(rest[0], "methods") && iequals(rest[1], "devicebound")) {
      a.endpoint = DeviceEndpoint::methods;
    } else if (rest.size() == 1 && iequals(rest[0], "twin")) {
      a.endpoint = DeviceEndpoint::twin;
    } else {
      return std::nullopt;
    }
  } catch (const Error&) {
    return std::nullopt;
  }
  return a;
}

std::string device_address(const DeviceAddress& a) {
  std::string base = "/devices/" + url_encode(a.device_id);
  if (a.module_id) base += "/modules/" + url_encode(*a.module_id);
  switch (a.endpoint) {
    case DeviceEndpoint::telemetry:
      return base + "/messages/events";
    case DeviceEndpoint::c2d:
      return base + "/messages/devicebound";
    case DeviceEndpoint::methods:
      return base + "/methods/devicebound";
    case DeviceEndpoint::twin:
      return base + "/twin";
  }
  return base;
}

std::optional<EventPosition> parse_event_filter(std::string_view filter, std::string* why) {
  auto fail = [why](std::string text) -> std::optional<EventPosition> {
    if (why != nullptr) *why = std::move(text);
    return std::nullopt;
  };
  auto trim = [](std::string_view t) {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    return t;
  };
  std::string_view f = trim(filter);
  constexpr std::string_view prefix = "amqp.annotation.";
  if (!istarts_with(f, prefix)) return fail(fmt::format("the filter '{}' names no amqp.annotation", filter));
  f.remove_prefix(prefix.size());
  EventPosition p;
  std::string_view name;
  for (const auto& [text, kind] : {std::pair{k_offset_annotation, EventPosition::Kind::offset},
                                   std::pair{k_sequence_annotation, EventPosition::Kind::sequence},
                                   std::pair{k_enqueued_time_annotation, EventPosition::Kind::enqueued_time}}) {
    if (istarts_with(f, text) && (f.size() == text.size() || f[text.size()] == ' ' || f[text.size()] == '>')) {
      name = text;
      p.kind = kind;
      break;
    }
  }
  if (name.empty()) return fail(fmt::format("the filter '{}' is not on the offset, sequence number or enqueued time", filter));
  f = trim(f.substr(name.size()));
  if (f.substr(0, 2) == ">=") {
    p.inclusive = true;
    f.remove_prefix(2);
  } else if (f.substr(0, 1) == ">") {
    f.remove_prefix(1);
  } else {
    return fail(fmt::format("the filter '{}' compares with other than > or >=", filter));
  }
  f = trim(f);
  if (f.size() >= 2 && f.front() == '\'' && f.back() == '\'') f = f.substr(1, f.size() - 2);
  if (p.kind == EventPosition::Kind::offset && f == "@latest") {
    p.kind = EventPosition::Kind::latest;
    return p;
  }
  bool negative = !f.empty() && f.front() == '-';
  if (negative) f.remove_prefix(1);
  if (f.empty() || f.size() > 18) return fail(fmt::format("the filter '{}' has no number", filter));
  std::int64_t v = 0;
  for (const char c : f) {
    if (c < '0' || c > '9') return fail(fmt::format("the filter '{}' has no number", filter));
    v = v * 10 + (c - '0');
  }
  p.value = negative ? -v : v;
  return p;
}

std::string event_filter(const EventPosition& p) {
  std::string_view name = k_offset_annotation;
  if (p.kind == EventPosition::Kind::sequence) name = k_sequence_annotation;
  if (p.kind == EventPosition::Kind::enqueued_time) name = k_enqueued_time_annotation;
  if (p.kind == EventPosition::Kind::latest) return fmt::format("amqp.annotation.{} > '@latest'", k_offset_annotation);
  return fmt::format("amqp.annotation.{} {} '{}'", name, p.inclusive ? ">=" : ">", p.value);
}

nlohmann::ordered_json event_record_json(const Message& event, std::string_view partition) {
  nlohmann::ordered_json out;
  auto annotation = [&](std::string_view name) { return find(event.annotations, name); };
  const Value* seq = annotation(k_sequence_annotation);
  if (seq != nullptr && std::holds_alternative<std::int64_t>(*seq)) {
    out["sequenceNumber"] = std::get<std::int64_t>(*seq);
  } else if (seq != nullptr && text_of(*seq)) {
    out["sequenceNumber"] = *text_of(*seq);
  } else {
    out["sequenceNumber"] = nullptr;
  }
  out["partition"] = std::string(partition);
  const Value* offset = annotation(k_offset_annotation);
  out["offset"] = offset != nullptr && text_of(*offset) ? nlohmann::ordered_json(*text_of(*offset)) : nlohmann::ordered_json();
  const Value* enqueued = annotation(k_enqueued_time_annotation);
  out["enqueuedTime"] = enqueued != nullptr && std::holds_alternative<Timestamp>(*enqueued)
                            ? nlohmann::ordered_json(format_iso8601(std::get<Timestamp>(*enqueued).unix_ms, true))
                            : nlohmann::ordered_json();
  const Value* device = annotation("iothub-connection-device-id");
  out["deviceId"] = device != nullptr && text_of(*device) ? nlohmann::ordered_json(*text_of(*device)) : nlohmann::ordered_json();
  const Value* module = annotation("iothub-connection-module-id");
  out["moduleId"] = module != nullptr && text_of(*module) ? nlohmann::ordered_json(*text_of(*module)) : nlohmann::ordered_json();
  const MessageProperties props = properties_of(event);
  const nlohmann::json record = message_record_json(event.body, props);
  for (const auto& [key, value] : record.items()) out[key] = value;
  nlohmann::ordered_json annotations = nlohmann::ordered_json::object();
  for (const auto& [name, value] : event.annotations) {
    if (name == k_sequence_annotation || name == k_offset_annotation || name == k_enqueued_time_annotation ||
        name == "iothub-connection-device-id" || name == "iothub-connection-module-id")
      continue;
    annotations[name] = value_text(value);
  }
  if (!annotations.empty()) out["annotations"] = std::move(annotations);
  return out;
}

std::string_view condition_for(int hub_code) {
  switch (hub_code) {
    case 404001:  // DeviceNotFound
    case 404010:  // ModuleNotFound
      return k_not_found;
    case 403004:  // DeviceMaximumQueueDepthExceeded
    case 403002:  // IotHubQuotaExceeded
    case 429001:  // ThrottlingException
      return k_resource_limit;
    case 413001:  // MessageTooLarge
      return k_message_size_exceeded;
    case 401002:  // IotHubUnauthorizedAccess
    case 401003:  // IotHubUnauthorized
      return k_unauthorized;
    default:
      if (hub_code / 1000 == 400) return k_invalid_field;
      return k_internal_error;
  }
}

int hub_code_for(std::string_view condition) {
  if (condition == k_not_found) return 404001;
  if (condition == k_resource_limit) return 403004;
  if (condition == k_message_size_exceeded) return 413001;
  if (condition == k_unauthorized) return 401002;
  if (condition == k_invalid_field || condition == k_decode_error) return 400004;
  if (condition == k_internal_error) return 500001;
  return 0;
}

}  // namespace azhub::core::amqp
