#pragma once
// Request targets of the emulator's service REST API (docs/protocol.md §12) and its
// emulator-only paths under /_emulator/ (§12.4): which resource a target names, with the
// device and module ids percent-decoded, and the query parameters.
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace azhub::emulator {

enum class RestResource {
  health,          // /_emulator/health
  devices,         // /devices
  device,          // /devices/{id}
  modules,         // /devices/{id}/modules
  module,          // /devices/{id}/modules/{mid}
  device_commands, // /devices/{id}/commands
  twin,            // /twins/{id}
  module_twin,     // /twins/{id}/modules/{mid}
  methods,         // /twins/{id}/methods
  module_methods,  // /twins/{id}/modules/{mid}/methods
  c2d_send,        // /_emulator/devices/{id}/messages/deviceBound
  events,          // /_emulator/messages/events
  events_stream,   // /_emulator/messages/events/stream
  devices_query,   // /devices/query
  statistics_devices,  // /statistics/devices
  statistics_service,  // /statistics/service
  // the device-facing HTTPS API (§6.2), authenticated as the device; segment names compare
  // case-insensitively (SDKs write "devicebound")
  device_events,        // /devices/{id}[/modules/{mid}]/messages/events
  device_bound,         // /devices/{id}/messages/deviceBound
  device_bound_lock,    // /devices/{id}/messages/deviceBound/{lockToken}
  device_bound_abandon, // /devices/{id}/messages/deviceBound/{lockToken}/abandon
  // C2D feedback over REST (§6.1)
  feedback,             // /messages/serviceBound/feedback
  feedback_lock,        // /messages/serviceBound/feedback/{lockToken}
  feedback_abandon,     // /messages/serviceBound/feedback/{lockToken}/abandon
  // jobs v2 (§17)
  jobs_query,           // /jobs/v2/query
  job,                  // /jobs/v2/{jobId}
  job_cancel,           // /jobs/v2/{jobId}/cancel
};

struct RestRoute {
  RestResource resource = RestResource::health;
  std::string device_id;                    // decoded; empty when the path has none
  std::optional<std::string> module_id;     // decoded
  std::string lock_token;                   // decoded; the *_lock and *_abandon resources
  std::string job_id;                       // decoded; job and job_cancel
  std::string path;                         // the raw path, without the query
  std::map<std::string, std::string> query; // decoded keys and values ('+' stays '+')
};

// The resource `target` ("/devices/a%23b?api-version=x") names. nullopt for a path the API
// does not have. Throws Error(usage) on a malformed percent-escape in the path or the query.
[[nodiscard]] std::optional<RestRoute> parse_rest_route(std::string_view target);

// True when `method` ("GET", "PUT", ...) is one the resource accepts.
[[nodiscard]] bool rest_method_allowed(RestResource resource, std::string_view method);

// The value of the Allow header for the resource, e.g. "GET, PUT, DELETE".
[[nodiscard]] std::string rest_allowed_methods(RestResource resource);

// True for the emulator-only paths (under /_emulator/).
[[nodiscard]] bool is_emulator_path(RestResource resource);

// True for the device-facing paths, which a device's own SAS token authorizes (§6.2).
[[nodiscard]] bool is_device_path(RestResource resource);

}  // namespace azhub::emulator
