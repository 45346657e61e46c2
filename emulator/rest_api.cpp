#include "emulator/rest_api.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/feedback.hpp"
#include "core/http_message.hpp"
#include "core/json_text.hpp"
#include "core/limits.hpp"
#include "core/properties.hpp"
#include "core/text.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_jobs.hpp"
#include "emulator/rest_json.hpp"
#include "emulator/rest_query.hpp"

namespace azhub::emulator {
namespace {

using nlohmann::json;
namespace http = boost::beast::http;

IdentityKey key_of(const RestRoute& route) { return IdentityKey{route.device_id, route.module_id}; }

std::optional<std::string> if_match_of(const HttpRequest& request) {
  const auto value = request_header(request, "If-Match");
  return value ? parse_if_match(*value) : std::nullopt;
}

// "00:00:30" as the service writes a TimeSpan in 404103's info (§9.2).
std::string format_timespan(int seconds) {
  return fmt::format("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
}

}  // namespace

RestReply json_reply(nlohmann::ordered_json body, unsigned status) {
  RestReply reply;
  reply.status = status;
  reply.body = std::move(body);
  return reply;
}

json request_json(const HttpRequest& request) {
  const auto& body = request.body();
  if (body.empty()) throw HubError(400004, "the request has no body");
  auto doc = core::parse_json(body);
  if (doc.is_discarded()) throw HubError(400004, "the body: " + core::bad_json_reason(body));
  return doc;
}

core::http_message::Headers request_headers(const HttpRequest& request) {
  core::http_message::Headers out;
  for (const auto& field : request)
    out.emplace_back(std::string(field.name_string().data(), field.name_string().size()), std::string(field.value()));
  return out;
}

std::optional<std::string> request_header(const HttpRequest& request, std::string_view name) {
  const auto it = request.find(boost::beast::string_view(name.data(), name.size()));
  if (it == request.end() || it->value().empty()) return std::nullopt;
  return std::string(it->value());
}

void RestApi::handle(const RestRoute& route, const HttpRequest& request, const RestDone& done) {
  switch (route.resource) {
    case RestResource::device:
    case RestResource::module:
      return handle_device(route, request, done);
    case RestResource::devices:
      if (request.method() == http::verb::post) return done(handle_bulk_registry(m_hub, request));
      return handle_list(route, done);
    case RestResource::modules:
      return handle_list(route, done);
    case RestResource::devices_query:
      return done(handle_twin_query(m_hub, request));
    case RestResource::statistics_devices:
      return done(handle_registry_statistics(m_hub));
    case RestResource::statistics_service:
      return done(handle_service_statistics(m_hub));
    case RestResource::job:
      return done(handle_job(m_hub, route.job_id, request));
    case RestResource::job_cancel:
      return done(handle_job_cancel(m_hub, route.job_id));
    case RestResource::jobs_query:
      return done(handle_jobs_query(m_hub, route.query, request));
    case RestResource::twin:
    case RestResource::module_twin:
      return handle_twin(route, request, done);
    case RestResource::methods:
    case RestResource::module_methods:
      return handle_method(route, request, done);
    case RestResource::device_commands:
      return handle_purge(route, done);
    case RestResource::c2d_send:
      return handle_c2d_send(route, request, done);
    case RestResource::events:
      return handle_events(route, done);
    case RestResource::device_events:
      return handle_device_events(route, request, done);
    case RestResource::device_bound:
    case RestResource::device_bound_lock:
    case RestResource::device_bound_abandon:
      return handle_device_bound(route, request, done);
    case RestResource::feedback:
    case RestResource::feedback_lock:
    case RestResource::feedback_abandon:
      return handle_feedback(route, done);
    case RestResource::health:
    case RestResource::events_stream:
      break;
  }
  throw HubError(500001, "no handler for this path");
}

void RestApi::handle_device(const RestRoute& route, const HttpRequest& request,
                            const RestDone& done) {
  const auto key = key_of(route);
  const auto not_found = [&] { return m_hub.not_found(key); };
  switch (request.method()) {
    case http::verb::get: {
      const auto identity = m_hub.get_identity(key);
      if (!identity) throw not_found();
      auto reply = json_reply(identity_to_json(*identity));
      reply.etag = identity->etag;
      return done(std::move(reply));
    }
    case http::verb::put: {
      const auto body = request_json(request);
      const auto update = parse_identity_update(body, key);
      const auto if_match = if_match_of(request);
      IdentityRecord record;
      if (if_match) {
        // An update: If-Match names the etag the caller read, or "*" (§12.1).
        auto existing = m_hub.get_identity(key);
        if (!existing) throw not_found();
        record = std::move(*existing);
        apply_identity_update(record, update);
        record = m_hub.update_identity(std::move(record), if_match);
      } else {
        // Without If-Match a PUT creates, and refuses to overwrite (409001/409301, §12.2).
        record.key = key;
        apply_identity_update(record, update);
        record = m_hub.create_identity(std::move(record));
      }
      auto reply = json_reply(identity_to_json(record));
      reply.etag = record.etag;
      return done(std::move(reply));
    }
    case http::verb::delete_: {
      m_hub.delete_identity(key, if_match_of(request));
      RestReply reply;
      reply.status = 204;
      return done(std::move(reply));
    }
    default:
      break;
  }
  throw HubError(405000, "method not allowed");
}

void RestApi::handle_list(const RestRoute& route, const RestDone& done) {
  std::vector<IdentityRecord> identities;
  if (route.resource == RestResource::modules) {
    identities = m_hub.list_modules(route.device_id);
  } else {
    // Older api-versions page the list with ?top=N (at most 1000, the service's own cap).
    std::size_t top = 1000;
    if (const auto it = route.query.find("top"); it != route.query.end())
      top = static_cast<std::size_t>(parse_query_number(it->second, "top", 1, 1000));
    identities = m_hub.list_devices();
    if (identities.size() > top) identities.resize(top);
  }
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& identity : identities) list.push_back(identity_to_json(identity));
  done(json_reply(std::move(list)));
}

void RestApi::handle_twin(const RestRoute& route, const HttpRequest& request,
                          const RestDone& done) {
  const auto key = key_of(route);
  nlohmann::ordered_json twin;
  switch (request.method()) {
    case http::verb::get:
      twin = m_hub.service_twin_view(key);
      break;
    case http::verb::patch:
      twin = m_hub.update_twin(key, build_twin_write(request_json(request), false),
                               if_match_of(request));
      break;
    case http::verb::put:
      twin = m_hub.replace_twin(key, build_twin_write(request_json(request), true),
                                if_match_of(request));
      break;
    default:
      throw HubError(405000, "method not allowed");
  }
  RestReply reply = json_reply(std::move(twin));
  if (const auto it = reply.body->find("etag"); it != reply.body->end() && it->is_string())
    reply.etag = it->get<std::string>();
  done(std::move(reply));
}

void RestApi::handle_method(const RestRoute& route, const HttpRequest& request,
                            const RestDone& done) {
  const auto call = parse_method_invocation(request.body());
  const auto connect_timeout = call.connect_timeout_s;
  m_hub.invoke_method(
      key_of(route), call.method_name, call.payload, std::chrono::seconds(call.response_timeout_s),
      std::chrono::seconds(call.connect_timeout_s),
      [done, connect_timeout](const MethodResult& result) {
        RestReply reply;
        if (result.error_code == 404103) {
          reply.error = HubError(404103,
                                  "The operation failed because the requested device isn't online "
                                  "or hasn't registered the direct method callback.",
                                  json{{"timeout", format_timespan(connect_timeout)}});
        } else if (result.error_code != 0) {
          reply.error = HubError(result.error_code,
                                  result.error_code == 504101
                                      ? "Timed out waiting for the response from the device."
                                      : "The method invocation failed.");
        } else {
          // An empty answer is `payload: null` (§9.2); a body that is not JSON is passed on as
          // a string rather than failing the call.
          json payload = nullptr;
          if (!result.payload.empty()) {
            payload = core::parse_json(result.payload);
            if (payload.is_discarded()) payload = result.payload;
          }
          reply.body = json{{"status", result.status}, {"payload", std::move(payload)}};
        }
        done(std::move(reply));
      });
}

void RestApi::handle_purge(const RestRoute& route, const RestDone& done) {
  const auto purged = m_hub.purge_c2d(route.device_id);
  done(json_reply({{"deviceId", route.device_id}, {"totalMessagesPurged", purged}}));
}

void RestApi::handle_c2d_send(const RestRoute& route, const HttpRequest& request,
                              const RestDone& done) {
  if (request.body().size() > core::limits::k_c2d_message_bytes)
    throw HubError(413001, fmt::format("the message body is {} bytes; the limit is {}",
                                        request.body().size(), core::limits::k_c2d_message_bytes));
  // Properties travel as IoT Hub's HTTPS message headers (the device-facing HTTPS API's
  // spelling): iothub-messageid, iothub-correlationid, iothub-userid, iothub-expiry,
  // iothub-ack, Content-Type, Content-Encoding and iothub-app-{name}.
  C2dSend message;
  message.body = request.body();
  message.properties = core::http_message::properties_of(request_headers(request), core::http_message::ContentHeaders::standard);
  message.properties.system.subject.reset();
  if (const auto& expiry = message.properties.system.expiry)
    message.expiry_ms = core::parse_iso8601_millis(*expiry, "iothub-expiry");
  const auto sent = m_hub.send_c2d(route.device_id, std::move(message));
  json out = {{"deviceId", route.device_id},
              {"messageId", sent.properties.system.message_id ? json(*sent.properties.system.message_id)
                                                              : json(nullptr)},
              {"expiryTimeUtc", format_rest_time(sent.expiry_ms, "")},
              {"queuedMessages", m_hub.queued_c2d(route.device_id).size()}};
  done(json_reply(std::move(out)));
}

void RestApi::handle_device_events(const RestRoute& route, const HttpRequest& request, const RestDone& done) {
  namespace hm = core::http_message;
  const auto key = key_of(route);
  if (request.body().size() > core::limits::k_d2c_message_bytes)
    throw HubError(413001, fmt::format("the request body is {} bytes; the limit is {}", request.body().size(),
                                        core::limits::k_d2c_message_bytes));
  const auto content_type = request_header(request, "Content-Type");
  std::vector<hm::BatchItem> messages;
  if (content_type && core::istarts_with(*content_type, hm::k_batch_content_type)) {
    messages = hm::parse_batch(request.body());
  } else {
    messages.push_back(hm::BatchItem{request.body(), hm::properties_of(request_headers(request), hm::ContentHeaders::iothub)});
  }
  m_hub.http_telemetry(key, std::move(messages));
  RestReply reply;
  reply.status = 204;
  done(std::move(reply));
}

void RestApi::handle_device_bound(const RestRoute& route, const HttpRequest& request, const RestDone& done) {
  namespace hm = core::http_message;
  RestReply reply;
  reply.status = 204;
  if (route.resource == RestResource::device_bound) {
    auto got = m_hub.receive_c2d_http(route.device_id);
    if (!got) return done(std::move(reply));  // the queue is empty (§6.2)
    const QueuedC2dMessage& m = got->message;
    reply.status = 200;
    reply.etag = got->lock_token;
    core::MessageProperties properties = m.properties;
    // The expiry is always known (the hub's default TTL when none was given).
    if (!properties.system.expiry) properties.system.expiry = core::format_iso8601(m.expiry_ms, true);
    reply.headers = hm::headers_of(properties, hm::ContentHeaders::standard);
    if (!m.properties.system.content_type) reply.headers.emplace_back("Content-Type", "application/octet-stream");
    reply.headers.emplace_back("iothub-sequencenumber", std::to_string(m.id));
    reply.headers.emplace_back("iothub-enqueuedtime", format_rest_time(m.enqueued_ms, ""));
    reply.headers.emplace_back("iothub-deliverycount", std::to_string(m.delivery_count));
    reply.raw_body = m.body;
    return done(std::move(reply));
  }
  // If-Match repeats the lock token (quoted or not); one naming another lock is a lost lock.
  if (const auto if_match = request_header(request, "If-Match")) {
    if (parse_if_match(*if_match).value_or(route.lock_token) != route.lock_token)
      throw HubError(412002, "If-Match names another lock token than the path");
  }
  Hub::C2dSettlement how = Hub::C2dSettlement::abandon;
  if (route.resource == RestResource::device_bound_lock)
    how = route.query.contains("reject") ? Hub::C2dSettlement::reject : Hub::C2dSettlement::complete;
  m_hub.settle_c2d_http(route.device_id, route.lock_token, how);
  done(std::move(reply));
}

void RestApi::handle_feedback(const RestRoute& route, const RestDone& done) {
  RestReply reply;
  reply.status = 204;
  if (route.resource == RestResource::feedback) {
    auto batch = m_hub.take_feedback();
    if (!batch) return done(std::move(reply));
    reply.status = 200;
    reply.etag = std::to_string(batch->lock);
    reply.headers.emplace_back("Content-Type", std::string(core::k_feedback_content_type));
    reply.raw_body = core::feedback_batch_json(batch->records);
    return done(std::move(reply));
  }
  std::uint64_t lock = 0;
  const auto& text = route.lock_token;
  const bool numeric = !text.empty() && text.size() <= 19 && std::all_of(text.begin(), text.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (numeric) lock = std::stoull(text);
  if (!numeric || !m_hub.feedback_lock_held(lock))
    throw HubError(412002, "The feedback lock is lost: it lapsed after 60 s, was settled, or was never given out");
  if (route.resource == RestResource::feedback_lock) {
    m_hub.complete_feedback(lock);
  } else {
    m_hub.abandon_feedback(lock);
  }
  done(std::move(reply));
}

void RestApi::handle_events(const RestRoute& route, const RestDone& done) {
  const auto filter = parse_d2c_filter(route);
  std::uint64_t cursor = filter.after.value_or(0);
  json messages = json::array();
  // Fetch in batches so that a device filter still fills `limit` when others are chatty.
  while (messages.size() < filter.limit) {
    const auto batch = m_hub.d2c_since(cursor, 500);
    if (batch.empty()) break;
    for (const auto& message : batch) {
      cursor = message.sequence_number;
      if (!d2c_matches(filter, message)) continue;
      messages.push_back(d2c_to_json(message));
      if (messages.size() == filter.limit) break;
    }
  }
  done(json_reply({{"messages", std::move(messages)}, {"lastSequenceNumber", cursor}}));
}

}  // namespace azhub::emulator
