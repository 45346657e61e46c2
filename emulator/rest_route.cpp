#include "emulator/rest_route.hpp"

#include <vector>

#include "core/encoding.hpp"
#include "core/text.hpp"

namespace azhub::emulator {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  // A trailing slash ("/devices/") names the same resource as without it.
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? path.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  for (const auto& pair : core::split_query(query)) {
    auto key = core::url_decode(pair.key, "query parameter name");
    auto value = core::url_decode(pair.value.value_or(""), "query parameter value");
    out.emplace(std::move(key), std::move(value));  // the first occurrence wins
  }
  return out;
}

// /devices/{id}[/modules/{mid}]/messages/... of the device API (§6.2), from p[2] on.
std::optional<RestResource> match_device_api(const std::vector<std::string_view>& p) {
  using core::iequals;
  const auto n = p.size();
  if (n == 4 && iequals(p[2], "messages") && iequals(p[3], "events")) return RestResource::device_events;
  if (n == 6 && p[2] == "modules" && !p[3].empty() && iequals(p[4], "messages") && iequals(p[5], "events"))
    return RestResource::device_events;
  if (n < 4 || !iequals(p[2], "messages") || !iequals(p[3], "deviceBound")) return std::nullopt;
  if (n == 4) return RestResource::device_bound;
  if (p[4].empty()) return std::nullopt;
  if (n == 5) return RestResource::device_bound_lock;
  if (n == 6 && iequals(p[5], "abandon")) return RestResource::device_bound_abandon;
  return std::nullopt;
}

std::optional<RestResource> match(const std::vector<std::string_view>& p) {
  const auto n = p.size();
  if (n == 0) return std::nullopt;
  if (p[0] == "devices") {
    if (n == 1) return RestResource::devices;
    if (p[1].empty()) return std::nullopt;
    if (n >= 4) {
      if (auto device_api = match_device_api(p)) return device_api;
    }
    // IoT Hub's query path shadows a device named "query" (docs/protocol.md §16).
    if (n == 2 && p[1] == "query") return RestResource::devices_query;
    if (n == 2) return RestResource::device;
    if (n == 3 && p[2] == "modules") return RestResource::modules;
    if (n == 3 && p[2] == "commands") return RestResource::device_commands;
    if (n == 4 && p[2] == "modules" && !p[3].empty()) return RestResource::module;
    return std::nullopt;
  }
  if (p[0] == "twins") {
    if (n < 2 || p[1].empty()) return std::nullopt;
    if (n == 2) return RestResource::twin;
    if (n == 3 && p[2] == "methods") return RestResource::methods;
    if (n == 4 && p[2] == "modules" && !p[3].empty()) return RestResource::module_twin;
    if (n == 5 && p[2] == "modules" && !p[3].empty() && p[4] == "methods")
      return RestResource::module_methods;
    return std::nullopt;
  }
  if (p[0] == "messages" && n >= 3 && core::iequals(p[1], "serviceBound") && core::iequals(p[2], "feedback")) {
    if (n == 3) return RestResource::feedback;
    if (p[3].empty()) return std::nullopt;
    if (n == 4) return RestResource::feedback_lock;
    if (n == 5 && core::iequals(p[4], "abandon")) return RestResource::feedback_abandon;
    return std::nullopt;
  }
  if (p[0] == "jobs" && n >= 3 && p[1] == "v2" && !p[2].empty()) {
    // As with /devices/query, the query path shadows a job named "query".
    if (n == 3) return p[2] == "query" ? RestResource::jobs_query : RestResource::job;
    if (n == 4 && p[3] == "cancel") return RestResource::job_cancel;
    return std::nullopt;
  }
  if (p[0] == "statistics" && n == 2) {
    if (p[1] == "devices") return RestResource::statistics_devices;
    if (p[1] == "service") return RestResource::statistics_service;
    return std::nullopt;
  }
  if (p[0] == "_emulator") {
    if (n == 2 && p[1] == "health") return RestResource::health;
    if (n == 3 && p[1] == "messages" && p[2] == "events") return RestResource::events;
    if (n == 4 && p[1] == "messages" && p[2] == "events" && p[3] == "stream")
      return RestResource::events_stream;
    // "deviceBound" as in IoT Hub's own C2D address (§5.1 `$.to`); lower case accepted too.
    if (n == 5 && p[1] == "devices" && !p[2].empty() && p[3] == "messages" &&
        (p[4] == "deviceBound" || p[4] == "devicebound"))
      return RestResource::c2d_send;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::optional<RestRoute> parse_rest_route(std::string_view target) {
  const auto qmark = target.find('?');
  const auto path = target.substr(0, qmark);
  if (path.empty() || path.front() != '/') return std::nullopt;
  const auto parts = split_path(path);
  const auto resource = match(parts);
  if (!resource) return std::nullopt;

  RestRoute route;
  route.resource = *resource;
  route.path = std::string(path);
  if (qmark != std::string_view::npos) route.query = parse_query(target.substr(qmark + 1));
  switch (*resource) {
    case RestResource::health:
    case RestResource::devices:
    case RestResource::events:
    case RestResource::events_stream:
    case RestResource::devices_query:
    case RestResource::statistics_devices:
    case RestResource::statistics_service:
    case RestResource::jobs_query:
      break;
    case RestResource::job:
    case RestResource::job_cancel:
      route.job_id = core::url_decode(parts[2], "job id");
      break;
    case RestResource::c2d_send:
      route.device_id = core::url_decode(parts[2], "device id");
      break;
    case RestResource::feedback:
      break;
    case RestResource::feedback_lock:
    case RestResource::feedback_abandon:
      route.lock_token = core::url_decode(parts[3], "lock token");
      break;
    case RestResource::device_events:
      route.device_id = core::url_decode(parts[1], "device id");
      if (parts.size() == 6) route.module_id = core::url_decode(parts[3], "module id");
      break;
    case RestResource::device_bound_lock:
    case RestResource::device_bound_abandon:
      route.device_id = core::url_decode(parts[1], "device id");
      route.lock_token = core::url_decode(parts[4], "lock token");
      break;
    case RestResource::module:
    case RestResource::module_twin:
    case RestResource::module_methods:
      route.device_id = core::url_decode(parts[1], "device id");
      route.module_id = core::url_decode(parts[3], "module id");
      break;
    default:
      route.device_id = core::url_decode(parts[1], "device id");
      break;
  }
  return route;
}

std::string rest_allowed_methods(RestResource resource) {
  switch (resource) {
    case RestResource::health:
    case RestResource::modules:
    case RestResource::events:
    case RestResource::events_stream:
    case RestResource::statistics_devices:
    case RestResource::statistics_service:
    case RestResource::jobs_query:
      return "GET";
    case RestResource::job:
      return "GET, PUT";
    case RestResource::job_cancel:
      return "POST";
    case RestResource::devices:
      return "GET, POST";  // POST: bulk registry operations (§16)
    case RestResource::devices_query:
      return "POST";
    case RestResource::device:
    case RestResource::module:
      return "GET, PUT, DELETE";
    case RestResource::device_commands:
      return "DELETE";
    case RestResource::twin:
    case RestResource::module_twin:
      return "GET, PUT, PATCH";
    case RestResource::methods:
    case RestResource::module_methods:
    case RestResource::c2d_send:
    case RestResource::device_events:
    case RestResource::device_bound_abandon:
    case RestResource::feedback_abandon:
      return "POST";
    case RestResource::device_bound:
    case RestResource::feedback:
      return "GET";
    case RestResource::device_bound_lock:
    case RestResource::feedback_lock:
      return "DELETE";
  }
  return "";
}

bool rest_method_allowed(RestResource resource, std::string_view method) {
  const auto allowed = rest_allowed_methods(resource);
  std::string_view rest = allowed;
  while (!rest.empty()) {
    const auto comma = rest.find(", ");
    if (rest.substr(0, comma) == method) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);
  }
  return false;
}

bool is_device_path(RestResource resource) {
  return resource == RestResource::device_events || resource == RestResource::device_bound ||
         resource == RestResource::device_bound_lock || resource == RestResource::device_bound_abandon;
}

bool is_emulator_path(RestResource resource) {
  return resource == RestResource::health || resource == RestResource::c2d_send ||
         resource == RestResource::events || resource == RestResource::events_stream;
}

}  // namespace azhub::emulator
