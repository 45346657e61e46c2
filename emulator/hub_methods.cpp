// Hub: direct methods (docs/protocol.md §9): the request goes to the device with a fresh $rid,
// the device's `$iothub/methods/res/{status}/?$rid=` answer completes the call, timers give
// 404103 (not online/subscribed within connectTimeout) and 504101 (no answer in time).
#include <fmt/format.h>

#include "core/json_text.hpp"
#include "core/limits.hpp"
#include "core/topics.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

void Hub::invoke_method(const IdentityKey& key, const std::string& name, std::string payload,
                        std::chrono::seconds response_timeout,
                        std::chrono::seconds connect_timeout, MethodCallback done) {
  State& s = *m_state;
  s.identity_or_throw(key);
  try {
    core::validate_method_name(name);
  } catch (const core::Error& e) {
    throw HubError(400004, e.what());
  }
  if (response_timeout.count() < core::limits::k_method_timeout_min_s ||
      response_timeout.count() > core::limits::k_method_timeout_max_s)
    throw HubError(400004, "responseTimeoutInSeconds must be between 5 and 300");
  if (connect_timeout.count() < 0 ||
      connect_timeout.count() > core::limits::k_method_connect_timeout_max_s)
    throw HubError(400004, "connectTimeoutInSeconds must be between 0 and 300");
  if (payload.size() > core::limits::k_method_payload_bytes)
    throw HubError(400004, "method payload is over 128 KB");
  if (payload == "null") payload.clear();
  if (!payload.empty() && !core::accept_json(payload))
    throw HubError(400004, "method payload: " + core::bad_json_reason(payload));

  std::string rid = std::to_string(s.next_rid++);
  PendingMethod call;
  call.key = key;
  call.name = name;
  call.payload = std::move(payload);
  call.response_timeout = response_timeout;
  call.done = std::move(done);
  auto [it, inserted] = s.methods.emplace(rid, std::move(call));
  PendingMethod& pending = it->second;
  Connection* c = s.connection_of(key);
  if (c != nullptr && c->kinds.count(core::SubscriptionKind::methods) != 0) {
    s.send_method(rid, pending, *c);
    return;
  }
  // Not reachable yet: wait up to connectTimeout (0 = fail at once, but never before
  // returning, so the caller sees one behaviour).
  s.log(1, "method: {} not online, waiting {} s", to_string(key), connect_timeout.count());
  State* state = &s;
  pending.timer = s.clock.start_timer(connect_timeout, [state, rid] {
    state->finish_method(rid, MethodResult{404103, 0, {}});
  });
}

void Hub::State::send_method(const std::string& rid, PendingMethod& call, Connection& c) {
  if (call.timer != 0) clock.cancel_timer(call.timer);
  call.sent = true;
  // Method requests are QoS 0 on the wire (§4 table, D).
  c.session->send(mqtt::Publish{core::build_method_request_topic(call.name, rid), call.payload,
                                0, false, false, 0});
  log(1, "method: invoked '{}' on {} ($rid {})", call.name, to_string(c.key), rid);
  State* state = this;
  call.timer = clock.start_timer(call.response_timeout, [state, rid] {
    state->finish_method(rid, MethodResult{504101, 0, {}});
  });
}

void Hub::State::flush_methods(Connection& c) {
  for (auto& [rid, call] : methods) {
    if (!call.sent && call.key == c.key) send_method(rid, call, c);
  }
}

void Hub::State::finish_method(const std::string& rid, MethodResult result) {
  auto it = methods.find(rid);
  if (it == methods.end()) return;
  PendingMethod call = std::move(it->second);
  methods.erase(it);
  if (call.timer != 0) clock.cancel_timer(call.timer);
  if (result.error_code != 0)
    log(1, "method: '{}' on {} failed ({} {})", call.name, to_string(call.key),
        result.error_code, core::name_of(result.error_code));
  call.done(result);
}

void Hub::State::method_response(Connection& c, int status, const std::string& rid,
                                 std::string payload) {
  auto it = methods.find(rid);
  // Only the identity that was asked may answer; anything else is a stray response (the call
  // may have timed out already), which IoT Hub drops.
  if (it == methods.end() || !it->second.sent || it->second.key != c.key) {
    log(1, "method: dropped a response from {} for unknown $rid", to_string(c.key));
    return;
  }
  if (!payload.empty() && !core::accept_json(payload)) {
    log(1, "method: response from {} is not JSON", to_string(c.key));
    finish_method(rid, MethodResult{400004, 0, {}});
    return;
  }
  log(1, "method: {} answered $rid {} with {}", to_string(c.key), rid, status);
  finish_method(rid, MethodResult{0, status, std::move(payload)});
}

}  // namespace azhub::emulator
