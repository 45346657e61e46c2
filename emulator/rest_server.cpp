#include "emulator/rest_server.hpp"

#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "emulator/clock.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_auth.hpp"
#include "emulator/rest_events.hpp"
#include "emulator/rest_route.hpp"

namespace azhub::emulator {
namespace {

namespace http = boost::beast::http;

std::string_view view(boost::beast::string_view text) { return {text.data(), text.size()}; }

std::string_view header_value(const HttpRequest& request, http::field field) {
  const auto it = request.find(field);
  if (it == request.end()) return {};
  return {it->value().data(), it->value().size()};
}

RestReply error_reply(HubError error) {
  RestReply reply;
  reply.status = static_cast<unsigned>(error.http_status());
  reply.error = std::move(error);
  return reply;
}

}  // namespace

std::string format_request_id(std::uint64_t high, std::uint64_t low) {
  // Version 4 / variant 1 bits, so the text is a well-formed random UUID.
  high = (high & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xFFFF,
                     high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFFull);
}

RestServer::RestServer(Hub& hub, Clock& clock, RestServerOptions options)
    : m_hub(hub), m_clock(clock), m_options(std::move(options)), m_api(hub),
      m_random(std::random_device{}()) {}

RestServer::~RestServer() = default;

std::string RestServer::make_request_id() {
  const auto high = m_random();
  const auto low = m_random();
  return format_request_id(high, low);
}

void RestServer::log(int level, std::string_view message) const {
  m_options.log(level, message);
}

void RestServer::handle(std::shared_ptr<HttpExchange> exchange) {
  const auto request_id = make_request_id();
  // Exceptions never leave a handler: one bad request must not take the io_context down.
  try {
    serve(exchange, request_id);
  } catch (const HubError& e) {
    reply(exchange, request_id, error_reply(e));
  } catch (const core::Error& e) {
    // Bad input found by core's validators (ids, property names, twin rules, times).
    reply(exchange, request_id, error_reply(HubError(400004, e.what())));
  } catch (const nlohmann::json::exception& e) {
    reply(exchange, request_id, error_reply(HubError(400004, e.what())));
  } catch (const std::exception& e) {
    log(1, "rest: {} failed: {}", view(exchange->request().target()), e.what());
    reply(exchange, request_id, error_reply(HubError(500001, "internal error")));
  }
}

void RestServer::serve(const std::shared_ptr<HttpExchange>& exchange,
                       const std::string& request_id) {
  const auto& request = exchange->request();
  const std::string_view target(request.target().data(), request.target().size());
  std::optional<RestRoute> route;
  try {
    route = parse_rest_route(target);
  } catch (const core::Error& e) {
    throw HubError(400004, e.what());
  }
  if (!route) throw HubError(404000, fmt::format("no such path: {}", target.substr(0, target.find('?'))));
  const std::string_view method(request.method_string().data(), request.method_string().size());
  if (!rest_method_allowed(route->resource, method))
    throw HubError(405000, fmt::format("{} is not allowed here; allowed: {}", method,
                                        rest_allowed_methods(route->resource)));
  // The IoT Hub paths require api-version (any value, §12.1); the emulator's own paths take
  // it but do not insist.
  if (!is_emulator_path(route->resource) && !route->query.contains("api-version"))
    throw HubError(400004, "the api-version query parameter is required");

  if (is_device_path(route->resource)) {
    // The device API is authorized by the device's own token, as CONNECT is (§6.2).
    const std::string token(header_value(request, http::field::authorization));
    if (const auto refusal = m_hub.check_device_token(IdentityKey{route->device_id, route->module_id}, token)) {
      log(1, "rest: {} {} refused: {}", method, route->path, *refusal);
      throw HubError(401002, fmt::format("Unauthorized: {}", *refusal));
    }
  } else if (const auto needed = required_permission(route->resource, method)) {
    const auto refusal = check_service_authorization(
        header_value(request, http::field::authorization), m_hub.host_name(), route->path,
        *needed, policy_lookup(m_hub), m_clock.now_unix_ms() / 1000);
    if (refusal) {
      log(1, "rest: {} {} refused: {}", method, route->path, *refusal);
      throw HubError(401002, fmt::format("Unauthorized: {}", *refusal));
    }
  }

  switch (route->resource) {
    case RestResource::health:
      return reply(exchange, request_id,
                   RestReply{200, nlohmann::json{{"status", "ok"}, {"hostName", m_hub.host_name()}},
                             std::nullopt, std::nullopt, {}, std::nullopt});
    case RestResource::events_stream:
      log(1, "rest: GET {} stream started", route->path);
      start_d2c_stream(m_hub, m_clock, exchange, stream_options(*route, request, request_id));
      return;
    default:
      break;
  }

  // `done` may run after this returns (method invocations); it owns what it needs.
  m_api.handle(*route, request, [this, exchange, request_id](RestReply result) {
    reply(exchange, request_id, std::move(result));
  });
}

D2cStreamOptions RestServer::stream_options(const RestRoute& route, const HttpRequest& request,
                                            const std::string& request_id) const {
  D2cStreamOptions options;
  options.filter = parse_d2c_filter(route);
  // A reconnecting EventSource resumes after the last event it saw.
  if (const auto it = request.find("Last-Event-ID"); it != request.end() && !options.filter.after)
    options.filter.after = static_cast<std::uint64_t>(
        parse_query_number(view(it->value()), "Last-Event-ID", 0,
                           std::numeric_limits<std::int64_t>::max()));
  options.keep_alive = m_options.stream_keep_alive;
  if (const auto it = route.query.find("keepAlive"); it != route.query.end())
    options.keep_alive = std::chrono::seconds(parse_query_number(it->second, "keepAlive", 1, 3600));
  options.max_pending_bytes = m_options.stream_max_pending_bytes;
  options.request_id = request_id;
  options.log = m_options.log;
  return options;
}

void RestServer::reply(const std::shared_ptr<HttpExchange>& exchange,
                       const std::string& request_id, RestReply result) {
  const auto& request = exchange->request();
  HttpResponse response;
  response.version(request.version());
  response.set("x-ms-request-id", request_id);
  if (result.error) {
    const auto& error = *result.error;
    response.result(static_cast<unsigned>(error.http_status()));
    response.set("iothub-errorcode", std::string(hub_error_header(error.error_code())));
    response.set(http::field::content_type, "application/json; charset=utf-8");
    std::optional<RestRoute> route;
    try {
      route = parse_rest_route(view(request.target()));
    } catch (const core::Error&) {
      // a malformed path: the JSON form
    }
    if (error.error_code() == 405000 && route)
      response.set(http::field::allow, rest_allowed_methods(route->resource));
    const auto form = route ? error_body_form(route->resource) : ErrorBodyForm::json;
    response.body() = build_rest_error_body(error, form, request_id, m_clock.now_unix_ms());
  } else {
    response.result(result.status);
    if (result.etag) response.set(http::field::etag, fmt::format("\"{}\"", *result.etag));
    for (const auto& [name, value] : result.headers) response.set(name, value);
    if (result.raw_body) {
      response.body() = std::move(*result.raw_body);
    } else if (result.body) {
      response.set(http::field::content_type, "application/json; charset=utf-8");
      response.body() =
          result.body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  const auto target = view(request.target());
  log(1, "rest: {} {} -> {}", view(request.method_string()),
      target.substr(0, target.find('?')), response.result_int());
  exchange->respond(std::move(response));
}

}  // namespace azhub::emulator
