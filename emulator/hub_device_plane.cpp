// Hub: the device plane. CONNECT authentication (docs/protocol.md §2, §3.3), sessions and
// subscriptions (§2.4), and what a device may publish (§2.5, §4, §7, §9).
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/encoding.hpp"
#include "core/feedback.hpp"
#include "core/identity.hpp"
#include "core/limits.hpp"
#include "core/properties.hpp"
#include "core/sas.hpp"
#include "core/topics.hpp"
#include "core/twin.hpp"
#include "core/text.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

namespace {

using mqtt::ConnectReturn;

struct Refusal {
  ConnectReturn code;
  std::string why;  // for the log; never a secret
};

// §3.3 steps 1-4 for a device or module SAS token. Returns the token expiry (Unix seconds).
std::int64_t check_sas(const Hub& hub, const IdentityRecord& identity, const std::string& password,
                       std::int64_t now_ms) {
  core::SasToken token;
  try {
    token = core::parse_sas_token(password);
  } catch (const core::Error&) {
    throw Refusal{ConnectReturn::not_authorized, "password is not a SAS token"};
  }
  auto resource = core::parse_sas_resource(token.sr);
  if (!resource || !core::iequals(resource->host, hub.host_name()))
    throw Refusal{ConnectReturn::not_authorized, "token resource is not this hub"};
  const IdentityKey& key = identity.key;
  if (token.key_name) {
    const Policy* policy = hub.find_policy(*token.key_name);
    if (policy == nullptr) throw Refusal{ConnectReturn::not_authorized, "unknown policy in token"};
    if ((policy->rights & right_device_connect) == 0)
      throw Refusal{ConnectReturn::not_authorized, "policy lacks DeviceConnect"};
    if (!core::verify_sas_signature(token, policy->primary_key) &&
        !core::verify_sas_signature(token, policy->secondary_key))
      throw Refusal{ConnectReturn::not_authorized, "token signature does not match"};
    // A policy token covers every identity below its resource (segment prefix, §3.2).
    bool covers = resource->all_devices || (!resource->device_id && !resource->all_devices);
    if (resource->device_id) {
      covers = core::sas_id_matches(*resource->device_id, key.device_id) &&
               (!resource->module_id ||
                (key.module_id && core::sas_id_matches(*resource->module_id, *key.module_id)));
    }
    if (!covers) throw Refusal{ConnectReturn::not_authorized, "token scope is another identity"};
  } else {
    if (identity.auth_type != AuthType::sas)
      throw Refusal{ConnectReturn::not_authorized, "identity does not use SAS authentication"};
    if (!core::verify_sas_signature(token, identity.primary_key) &&
        !core::verify_sas_signature(token, identity.secondary_key))
      throw Refusal{ConnectReturn::not_authorized, "token signature does not match"};
    bool exact = resource->device_id && core::sas_id_matches(*resource->device_id, key.device_id) &&
                 resource->module_id.has_value() == key.module_id.has_value() &&
                 (!key.module_id || core::sas_id_matches(*resource->module_id, *key.module_id));
    if (!exact) throw Refusal{ConnectReturn::not_authorized, "token scope is another identity"};
  }
  if (token.expiry * 1000 <= now_ms) throw Refusal{ConnectReturn::not_authorized, "token has expired"};
  return token.expiry;
}

// §3.3 step 5: X.509 identities present a client certificate instead of a password.
void check_x509(const IdentityRecord& identity, const ConnectInfo& info) {
  if (!info.certificate)
    throw Refusal{ConnectReturn::not_authorized, "no password and no client certificate"};
  const PeerCertificate& cert = *info.certificate;
  if (identity.auth_type == AuthType::self_signed) {
    for (const auto& t : {identity.primary_thumbprint, identity.secondary_thumbprint}) {
      if (t && (core::iequals(*t, cert.sha1_hex) || core::iequals(*t, cert.sha256_hex))) return;
    }
    throw Refusal{ConnectReturn::not_authorized, "client certificate thumbprint does not match"};
  }
  if (identity.auth_type == AuthType::certificate_authority) {
    if (!cert.chain_verified)
      throw Refusal{ConnectReturn::not_authorized, "client certificate is not signed by a known CA"};
    std::string expected = identity.key.module_id ? *identity.key.module_id : identity.key.device_id;
    if (cert.subject_cn != expected && cert.subject_cn != to_string(identity.key))
      throw Refusal{ConnectReturn::not_authorized, "client certificate subject is another identity"};
    return;
  }
  throw Refusal{ConnectReturn::not_authorized, "identity does not use X.509 authentication"};
}

// Closes on a rule violation; the Will (if any) is published as for any ungraceful loss.
struct Violation {
  std::string why;
};

}  // namespace

mqtt::Connack Hub::connect(Session& session, const mqtt::Connect& packet, const ConnectInfo& info) {
  State& s = *m_state;
  std::string who = packet.client_id.empty() ? std::string("(no client id)") : packet.client_id;
  try {
    if (packet.protocol_level != 4)
      throw Refusal{ConnectReturn::unacceptable_protocol_version, "protocol level is not 4 (MQTT 3.1.1)"};
    if (!packet.username) throw Refusal{ConnectReturn::not_authorized, "no user name"};
    auto user = core::parse_mqtt_username(*packet.username);
    if (!user) throw Refusal{ConnectReturn::not_authorized, "user name is not {host}/{deviceId}/?..."};
    if (!core::iequals(user->host, host_name()))
      throw Refusal{ConnectReturn::not_authorized, "user name names another hub"};
    IdentityKey key{user->device_id, user->module_id};
    if (packet.client_id != to_string(key))
      throw Refusal{ConnectReturn::not_authorized, "client id does not match the user name"};
    auto found = s.identities.find(key);
    if (found == s.identities.end()) throw Refusal{ConnectReturn::not_authorized, "unknown identity"};
    const IdentityRecord& identity = found->second;
    if (s.identity_disabled(key)) throw Refusal{ConnectReturn::not_authorized, "identity is disabled"};
    std::optional<std::int64_t> expiry;
    if (packet.password && !packet.password->empty()) {
      expiry = check_sas(*this, identity, *packet.password, s.now());
    } else {
      check_x509(identity, info);
    }
    if (packet.will) {
      auto t = core::parse_telemetry_topic(packet.will->topic);
      if (!t || t->device_id != key.device_id || t->module_id != key.module_id)
        throw Refusal{ConnectReturn::not_authorized, "will topic is not this identity's telemetry topic"};
    }

    // Accepted. The newest connection wins (§2.2, 400027).
    if (s.current.count(key) != 0) s.close_connection(key, "a new connection for the identity arrived");
    Connection c;
    c.session = &session;
    c.serial = s.next_serial++;
    c.key = key;
    c.clean_session = packet.clean_session;
    c.will = packet.will;
    bool session_present = false;
    if (packet.clean_session) {
      if (s.sessions.erase(key) != 0) s.store.erase_session(key);
    } else if (auto stored = s.sessions.find(key); stored != s.sessions.end()) {
      session_present = true;
      for (const auto& [filter, qos] : stored->second.subscriptions) {
        auto kind = core::classify_subscription(core::Identity{host_name(), key.device_id, key.module_id}, filter);
        if (!kind) continue;
        c.subscriptions[filter] = qos;
        c.kinds[*kind] = qos;
      }
    } else {
      s.sessions[key] = SessionRecord{key, {}};
      s.store.put_session(s.sessions[key]);
    }
    // The hub drops the connection when the token expires (§2.2); the device reconnects.
    if (expiry) s.arm_token_expiry(c, *expiry);
    s.connections[&session] = std::move(c);
    s.current[key] = &session;
    s.connection_changed_ms[key] = s.now();
    IdentityRecord& record = s.identities.at(key);
    record.last_activity_ms = s.now();
    if (user->model_id) {
      TwinRecord& twin = s.twins.at(key);
      if (twin.model_id != user->model_id) {
        twin.model_id = user->model_id;
        s.store.put_twin(twin);
      }
    }
    s.log(1, "connect: {} accepted over {} from {} (clean session {}, session present {})",
          to_string(key), info.transport, info.peer, packet.clean_session,
          session_present);
    // Resumed C2D subscriptions get their queue and parked methods their request once the
    // CONNACK is out: deferred, since the session sends the CONNACK after we return.
    State* state = &s;
    std::uint64_t serial = s.connections[&session].serial;
    s.start_loose_timer(std::chrono::milliseconds(0), [state, key, serial] {
      Connection* live = state->connection_of(key);
      if (live == nullptr || live->serial != serial) return;
      state->deliver_c2d(*live);
      if (live->kinds.count(core::SubscriptionKind::methods) != 0) state->flush_methods(*live);
    });
    return mqtt::Connack{session_present, ConnectReturn::accepted};
  } catch (const Refusal& r) {
    s.log(1, "connect: refused '{}' from {} over {}: {}", who, info.peer,
          info.transport, r.why);
    return mqtt::Connack{false, r.code};
  }
}

std::optional<std::string> Hub::reauthenticate(Session& session, const std::string& token) {
  State& s = *m_state;
  auto it = s.connections.find(&session);
  if (it == s.connections.end()) return std::string("no live connection");
  Connection& c = it->second;
  std::int64_t expiry = 0;
  try {
    expiry = check_sas(*this, s.identities.at(c.key), token, s.now());
  } catch (const Refusal& r) {
    s.log(1, "connect: renewed token of {} refused: {}", to_string(c.key), r.why);
    return r.why;
  }
  s.arm_token_expiry(c, expiry);
  s.log(2, "connect: {} renewed its token", to_string(c.key));
  return std::nullopt;
}

bool Hub::State::identity_disabled(const IdentityKey& key) const {
  auto found = identities.find(key);
  if (found == identities.end() || found->second.status == DeviceStatus::disabled) return true;
  if (!key.module_id) return false;
  auto device = identities.find(IdentityKey{key.device_id, {}});
  return device == identities.end() || device->second.status == DeviceStatus::disabled;
}

void Hub::State::arm_token_expiry(Connection& c, std::int64_t expiry_s) {
  if (c.expiry_timer != 0) clock.cancel_timer(c.expiry_timer);
  State* state = this;
  const IdentityKey key = c.key;
  const std::uint64_t serial = c.serial;
  c.expiry_timer = clock.start_timer(std::chrono::milliseconds(expiry_s * 1000 - now()), [state, key, serial] {
    Connection* live = state->connection_of(key);
    if (live == nullptr || live->serial != serial) return;
    live->expiry_timer = 0;
    state->close_connection(key, "SAS token expired");
  });
}

std::optional<std::string> Hub::check_device_token(const IdentityKey& key, const std::string& token) const {
  const State& s = *m_state;
  auto found = s.identities.find(key);
  if (found == s.identities.end()) return std::string("unknown identity");
  if (s.identity_disabled(key)) return std::string("identity is disabled");
  if (token.empty()) return std::string("no Authorization header (a SAS token)");
  try {
    (void)check_sas(*this, found->second, token, s.now());
  } catch (const Refusal& r) {
    return r.why;
  }
  return std::nullopt;
}

void Hub::http_telemetry(const IdentityKey& key, std::vector<core::http_message::BatchItem> messages) {
  State& s = *m_state;
  s.identity_or_throw(key);
  for (auto& m : messages) {
    m.properties.system.ack.reset();  // a C2D property
    try {
      core::validate_message_size(m.body, m.properties, core::limits::k_d2c_message_bytes, "D2C message");
    } catch (const core::Error& e) {
      throw HubError(413001, e.what());
    }
  }
  s.identities.at(key).last_activity_ms = s.now();
  for (auto& m : messages) s.capture_d2c(key, std::move(m.body), std::move(m.properties));
}

void Hub::settle_c2d(Session& session, std::uint16_t packet_id, C2dSettlement how) {
  State& s = *m_state;
  auto it = s.connections.find(&session);
  if (it == s.connections.end()) return;
  Connection& c = it->second;
  auto& inflight = c.c2d_inflight;
  auto f = std::find_if(inflight.begin(), inflight.end(), [&](const auto& p) { return p.first == packet_id; });
  if (f == inflight.end()) return;
  const std::uint64_t id = f->second;
  inflight.erase(f);
  if (s.queued_message(c.key.device_id, id) == nullptr) return;
  if (how == C2dSettlement::abandon) {
    s.log(1, "c2d: {} abandoned a message", to_string(c.key));
    s.deliver_c2d(c);
    return;
  }
  const bool complete = how == C2dSettlement::complete;
  s.finish_c2d(c.key.device_id, id, complete ? core::FeedbackStatus::success : core::FeedbackStatus::rejected);
  s.log(complete ? 2 : 1, fmt::format("c2d: {} {} a message", to_string(c.key), complete ? "completed" : "rejected"));
}

namespace {

void handle_publish(Hub::State& s, Connection& c, const mqtt::Publish& p) {
  try {
    core::validate_qos(p.qos);
  } catch (const core::Error& e) {
    throw Violation{e.what()};
  }
  core::Identity id{s.options.host_name, c.key.device_id, c.key.module_id};
  std::optional<core::TelemetryTopic> telemetry;
  try {
    telemetry = core::parse_telemetry_topic(p.topic);
  } catch (const core::Error& e) {
    throw Violation{fmt::format("malformed telemetry topic: {}", e.what())};
  }
  if (telemetry) {
    if (telemetry->device_id != c.key.device_id || telemetry->module_id != c.key.module_id)
      throw Violation{"PUBLISH to another identity's telemetry topic"};
    core::MessageProperties props = std::move(telemetry->properties);
    if (p.retain) props.application.emplace_back("mqtt-retain", "true");
    try {
      core::validate_message_size(p.payload, props, core::limits::k_d2c_message_bytes, "D2C message");
    } catch (const core::Error& e) {
      throw Violation{e.what()};
    }
    s.capture_d2c(c.key, p.payload, std::move(props));
    if (p.qos == 1) c.session->send(mqtt::Puback{p.packet_id});
    return;
  }
  std::optional<core::TwinRequest> twin;
  std::optional<core::MethodResponse> method;
  try {
    twin = core::parse_twin_request_topic(p.topic);
    if (!twin) method = core::parse_method_response_topic(p.topic);
  } catch (const core::Error& e) {
    throw Violation{fmt::format("malformed topic: {}", e.what())};
  }
  if (twin) {
    // Responses go only to a device subscribed to them (§7.3); the request is served anyway.
    auto respond = [&](int status, std::optional<std::int64_t> version, std::string body) {
      if (c.kinds.count(core::SubscriptionKind::twin_response) == 0) return;
      c.session->send(mqtt::Publish{core::build_twin_response_topic(status, twin->rid, version),
                                    std::move(body), 0, false, false, 0});
    };
    if (p.qos == 1) c.session->send(mqtt::Puback{p.packet_id});
    if (twin->kind == core::TwinRequest::Kind::get) {
      nlohmann::json view = nlohmann::json{{"desired", nullptr}, {"reported", nullptr}};
      TwinRecord& t = s.twins.at(c.key);
      nlohmann::json desired = t.desired;
      desired["$version"] = t.desired_version;
      nlohmann::json reported = t.reported;
      reported["$version"] = t.reported_version;
      view["desired"] = std::move(desired);
      view["reported"] = std::move(reported);
      s.log(2, "twin: GET from {}", to_string(c.key));
      respond(200, std::nullopt, core::in_twin_order(view).dump());
      return;
    }
    try {
      nlohmann::json patch = core::parse_json_object(p.payload, "reported patch");
      std::int64_t version = s.patch_reported(c.key, patch);
      s.log(1, "twin: {} patched reported ($version {})", to_string(c.key), version);
      respond(204, version, {});
    } catch (const core::Error& e) {
      s.log(1, "twin: refused reported patch from {}: {}", to_string(c.key), e.what());
      nlohmann::json body{{"errorCode", 400004},
                          {"trackingId", random_hex(16)},
                          {"message", e.what()},
                          {"timestampUtc", core::format_iso8601(s.now(), true)}};
      respond(400, std::nullopt, body.dump());
    }
    return;
  }
  if (method) {
    if (p.qos == 1) c.session->send(mqtt::Puback{p.packet_id});
    s.method_response(c, method->status, method->rid, p.payload);
    return;
  }
  throw Violation{fmt::format("PUBLISH to a topic IoT Hub does not have: {}", p.topic)};
}

void persist_subscriptions(Hub::State& s, Connection& c) {
  if (c.clean_session) return;
  SessionRecord& r = s.sessions[c.key];
  r.key = c.key;
  r.subscriptions.assign(c.subscriptions.begin(), c.subscriptions.end());
  s.store.put_session(r);
}

void handle_subscribe(Hub::State& s, Connection& c, const mqtt::Subscribe& sub) {
  core::Identity id{s.options.host_name, c.key.device_id, c.key.module_id};
  mqtt::Suback ack{sub.packet_id, {}};
  bool c2d = false;
  bool methods = false;
  for (const auto& [filter, qos] : sub.filters) {
    // The count is checked first, so a sixth filter is refused as such whatever it is.
    if (c.subscriptions.count(filter) == 0 &&
        c.subscriptions.size() >= static_cast<std::size_t>(core::limits::k_max_subscriptions))
      throw Violation{"more than 5 subscriptions"};
    auto kind = core::classify_subscription(id, filter);
    // IoT Hub drops the connection instead of answering 0x80 (§2.4).
    if (!kind) throw Violation{fmt::format("SUBSCRIBE to an unsupported filter: {}", filter)};
    // QoS 2 is granted as 1 (§2.4).
    auto granted = static_cast<std::uint8_t>(std::min<int>(qos, 1));
    c.subscriptions[filter] = granted;
    c.kinds[*kind] = granted;
    ack.return_codes.push_back(granted);
    c2d = c2d || *kind == core::SubscriptionKind::c2d;
    methods = methods || *kind == core::SubscriptionKind::methods;
  }
  persist_subscriptions(s, c);
  s.log(2, "subscribe: {} now holds {} subscription(s)", to_string(c.key),
        c.subscriptions.size());
  c.session->send(std::move(ack));
  if (c2d) s.deliver_c2d(c);
  if (methods) s.flush_methods(c);
}

void handle_unsubscribe(Hub::State& s, Connection& c, const mqtt::Unsubscribe& unsub) {
  core::Identity id{s.options.host_name, c.key.device_id, c.key.module_id};
  for (const auto& filter : unsub.filters) {
    if (c.subscriptions.erase(filter) == 0) continue;
    auto kind = core::classify_subscription(id, filter);
    if (!kind) continue;
    // Another filter of the same kind (e.g. '+' and the id form of C2D) keeps it alive.
    bool still = std::any_of(c.subscriptions.begin(), c.subscriptions.end(), [&](const auto& f) {
      return core::classify_subscription(id, f.first) == kind;
    });
    // Messages already sent stay in flight: their PUBACKs still complete them (MQTT 3.1.1
    // §3.10.4, docs/protocol.md §6); nothing new is sent for the kind.
    if (!still) c.kinds.erase(*kind);
  }
  persist_subscriptions(s, c);
  c.session->send(mqtt::Unsuback{unsub.packet_id});
}

}  // namespace

void Hub::handle_packet(Session& session, const mqtt::Packet& packet) {
  State& s = *m_state;
  auto it = s.connections.find(&session);
  if (it == s.connections.end()) return;  // already let go (taken over, deleted, ...)
  Connection& c = it->second;
  IdentityKey key = c.key;
  s.identities.at(key).last_activity_ms = s.now();
  try {
    if (const auto* p = std::get_if<mqtt::Publish>(&packet)) {
      handle_publish(s, c, *p);
    } else if (const auto* ack = std::get_if<mqtt::Puback>(&packet)) {
      try {
        s.complete_c2d(c, ack->packet_id);
      } catch (const HubError& e) {
        throw Violation{e.what()};
      }
    } else if (const auto* sub = std::get_if<mqtt::Subscribe>(&packet)) {
      handle_subscribe(s, c, *sub);
    } else if (const auto* unsub = std::get_if<mqtt::Unsubscribe>(&packet)) {
      handle_unsubscribe(s, c, *unsub);
    } else if (std::holds_alternative<mqtt::Pingreq>(packet)) {
      session.send(mqtt::Pingresp{});
    } else if (std::holds_alternative<mqtt::Disconnect>(packet)) {
      disconnected(session, true);
      session.close("client sent DISCONNECT");
    } else {
      throw Violation{fmt::format("unexpected {} from a client", mqtt::packet_name(packet))};
    }
  } catch (const Violation& v) {
    s.log(1, "closing {}: {}", to_string(key), v.why);
    disconnected(session, false);
    session.close(v.why);
  }
}

void Hub::disconnected(Session& session, bool graceful) {
  State& s = *m_state;
  auto it = s.connections.find(&session);
  if (it == s.connections.end()) return;
  Connection c = std::move(it->second);
  s.connections.erase(it);
  if (c.expiry_timer != 0) s.clock.cancel_timer(c.expiry_timer);
  auto cur = s.current.find(c.key);
  if (cur != s.current.end() && cur->second == &session) s.current.erase(cur);
  s.connection_changed_ms[c.key] = s.now();
  s.log(1, "disconnect: {} ({})", to_string(c.key), graceful ? "DISCONNECT" : "connection lost");
  if (!graceful && c.will) {
    // §2.5: the Will becomes telemetry marked iothub-MessageType=Will.
    try {
      auto t = core::parse_telemetry_topic(c.will->topic);
      core::MessageProperties props = t ? t->properties : core::MessageProperties{};
      props.application.emplace_back("iothub-MessageType", "Will");
      if (c.will->retain) props.application.emplace_back("mqtt-retain", "true");
      s.capture_d2c(c.key, c.will->payload, std::move(props));
    } catch (const core::Error& e) {
      s.log(1, "will of {} dropped: {}", to_string(c.key), e.what());
    }
  }
}

}  // namespace azhub::emulator
