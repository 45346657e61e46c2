#pragma once
// The endpoints of the REST service API (docs/protocol.md §12) on top of Hub: identities,
// twins, direct methods, the C2D queue, and the emulator-only C2D send and D2C query paths
// (§12.4). Routing, authorization, request ids and error bodies are RestServer's; the D2C
// stream is RestEvents'.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_message.hpp"
#include "emulator/http_router.hpp"
#include "emulator/records.hpp"
#include "emulator/rest_error.hpp"
#include "emulator/rest_request.hpp"
#include "emulator/rest_route.hpp"

namespace azhub::emulator {

class Hub;

// What an endpoint answers: a status with a JSON body (none for 204) and an optional ETag,
// or an error.
struct RestReply {
  unsigned status = 200;
  std::optional<nlohmann::ordered_json> body;  // written in its member order
  std::optional<std::string> etag;  // unquoted; sent as ETag: "{etag}"
  std::optional<HubError> error;
  std::vector<std::pair<std::string, std::string>> headers;  // more response headers
  std::optional<std::string> raw_body;  // a body that is not JSON (its Content-Type in headers)
};
using RestDone = std::function<void(RestReply reply)>;

// A 2xx reply (200 unless `status` says otherwise) with `body`, written in its member order.
[[nodiscard]] RestReply json_reply(nlohmann::ordered_json body, unsigned status = 200);

// The JSON body of a request (core::parse_json, so nesting is bounded); HubError 400004 when it
// has none or it is not JSON.
[[nodiscard]] nlohmann::json request_json(const HttpRequest& request);
// Every request header, in order.
[[nodiscard]] core::http_message::Headers request_headers(const HttpRequest& request);
// A request header's value; nullopt when absent or empty (a client that cannot drop a default
// header sends it empty).
[[nodiscard]] std::optional<std::string> request_header(const HttpRequest& request, std::string_view name);

class RestApi {
 public:
  explicit RestApi(Hub& hub) : m_hub(hub) {}

  // Serves `request` for `route` (anything but health and the D2C stream) and calls `done`
  // once: before returning for every operation except a method invocation, which answers when
  // the device does or a timeout fires. Throws HubError, or core::Error for bad input (400004).
  void handle(const RestRoute& route, const HttpRequest& request, const RestDone& done);

 private:
  void handle_device(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_list(const RestRoute& route, const RestDone& done);
  void handle_twin(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_method(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_purge(const RestRoute& route, const RestDone& done);
  void handle_c2d_send(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_events(const RestRoute& route, const RestDone& done);
  // the device-facing HTTPS API (§6.2) and feedback over REST (§6.1)
  void handle_device_events(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_device_bound(const RestRoute& route, const HttpRequest& request, const RestDone& done);
  void handle_feedback(const RestRoute& route, const RestDone& done);

  Hub& m_hub;
};

}  // namespace azhub::emulator
