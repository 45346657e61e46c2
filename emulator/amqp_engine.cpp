#include "emulator/amqp_engine.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <proton/condition.h>
#include <proton/connection.h>
#include <proton/connection_driver.h>
#include <proton/delivery.h>
#include <proton/disposition.h>
#include <proton/event.h>
#include <proton/link.h>
#include <proton/sasl.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <proton/transport.h>

#include "core/amqp.hpp"
#include "core/amqp_message.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/feedback.hpp"
#include "core/duration.hpp"
#include "core/limits.hpp"
#include "core/sas.hpp"
#include "core/text.hpp"
#include "emulator/amqp_device.hpp"
#include "emulator/amqp_sasl.hpp"
#include "emulator/rest_auth.hpp"

namespace azhub::emulator {
namespace amqp = core::amqp;

namespace {

// Credit granted to a client's sender links (CBS requests, C2D), topped up at half.
constexpr int k_credit = 100;
// IoT Hub closes an AMQP connection idle for 240 s (docs/protocol.md §15.1); the idle-time-out
// the emulator announces is that.
constexpr pn_millis_t k_idle_timeout_ms = 240'000;
constexpr std::uint32_t k_max_frame = 65'536;
// A delivery larger than this is not buffered: the link is closed with
// amqp:link:message-size-exceeded. Anything up to it is decoded and then judged by the hub's
// own limits (64 KB for C2D, 413001 → the same condition on the disposition).
constexpr std::size_t k_max_delivery_bytes = 1024 * 1024;
constexpr std::chrono::milliseconds k_redirect_delay{50};

std::string_view sv(const char* s) { return s == nullptr ? std::string_view() : std::string_view(s); }

enum class Role {
  cbs_requests, cbs_replies, management_requests, management_replies, c2d_send, feedback, consumer,
  // device links (§15.6); "in" = the device sends, "out" = the device receives
  device_telemetry, device_inputs, device_c2d, device_methods_in, device_methods_out, device_twin_in, device_twin_out,
  refused
};

bool is_device_role(Role r) {
  return r == Role::device_telemetry || r == Role::device_inputs || r == Role::device_c2d || r == Role::device_methods_in ||
         r == Role::device_methods_out || r == Role::device_twin_in || r == Role::device_twin_out;
}

std::string_view role_name(Role r) {
  switch (r) {
    case Role::cbs_requests:
    case Role::cbs_replies:
      return "$cbs";
    case Role::management_requests:
    case Role::management_replies:
      return "$management";
    case Role::consumer:
      return "Event Hubs consumer";
    case Role::c2d_send:
      return "C2D send";
    case Role::feedback:
      return "feedback";
    case Role::device_telemetry:
      return "device telemetry";
    case Role::device_inputs:
      return "module inputs";
    case Role::device_c2d:
      return "device C2D";
    case Role::device_methods_in:
    case Role::device_methods_out:
      return "device methods";
    case Role::device_twin_in:
    case Role::device_twin_out:
      return "device twin";
    case Role::refused:
      return "refused";
  }
  return "";
}

struct LinkState {
  Role role = Role::refused;
  std::string address;
  std::string partial;        // the incoming delivery being assembled
  bool oversized = false;     // it went past k_max_delivery_bytes
  std::map<pn_delivery_t*, std::uint64_t> feedback_locks;  // sent, not settled: delivery → lock
  std::uint64_t next_tag = 1;
  // consumer links: the partition, and the hub sequence number of the last event sent
  std::uint32_t partition = 0;
  std::uint64_t cursor = 0;
  // device links: whose, and the C2D messages sent and not settled (delivery → Hub packet id)
  IdentityKey identity;
  std::map<pn_delivery_t*, std::uint16_t> c2d_packets;
};

struct Claim {
  std::string audience;
  std::string token;
  std::int64_t expiry_s = 0;
  // A token for the Event Hubs-compatible endpoint (sr "sb://{host}/{entity}...", signed with
  // the key text): its policy and decoded resource.
  bool event_hubs = false;
  std::string policy;
  std::string resource;
};

struct Outcome {
  bool accepted = true;
  std::string condition;
  std::string description;
};

Outcome reject(std::string_view condition, std::string description) {
  return Outcome{false, std::string(condition), std::move(description)};
}

}  // namespace

struct AmqpEngine::Impl {
  Hub& hub;
  Clock& clock;
  AmqpEngineOptions options;
  std::function<void()> wake;
  pn_connection_driver_t driver{};
  std::map<pn_link_t*, LinkState> links;
  std::vector<Claim> claims;
  std::deque<amqp::Message> cbs_replies;  // waiting for credit on the client's $cbs receiver
  std::deque<amqp::Message> management_replies;
  std::optional<ListenerId> d2c_listener;
  bool d2c_ready = false;  // new D2C messages: pump the consumer links
  std::vector<pn_link_t*> pending_redirects;  // attached, their redirect not yet sent
  bool redirects_due = false;
  std::optional<ListenerId> feedback_listener;
  std::vector<TimerId> timers;
  bool feedback_ready = false;  // the hub has records: pump the feedback links
  bool claims_changed = false;  // a token expired: re-check the service links
  std::string sasl_user;
  bool alive = true;
  std::int64_t created_ms = 0;  // the Event Hub's created_at: when this connection's hub began
  // The identities this connection carries (AMQP multiplexes devices, §15.6).
  std::map<IdentityKey, std::unique_ptr<AmqpDeviceGateway>> devices;
  bool devices_ready = false;  // a gateway has output or was closed: pump the device links
  int depth = 0;               // inside an AmqpEngine call: wake() is not needed

  Impl(Hub& h, Clock& c, AmqpEngineOptions o, std::function<void()> w)
      : hub(h), clock(c), options(std::move(o)), wake(std::move(w)) {}

  void log(int level, std::string_view message) const { options.log(level, message); }
  template <typename... Args>
  void log(int level, fmt::format_string<Args...> format, Args&&... args) const {
    options.log(level, format, std::forward<Args>(args)...);
  }
  [[nodiscard]] std::int64_t now_s() const { return clock.now_unix_ms() / 1000; }

  // --- claims ------------------------------------------------------------------------------

  // Checks a SAS token presented for `audience`; returns the refusal, or nullopt and records
  // the claim.
  // `device` (optional) is set to the identity a device or module token names.
  std::optional<std::string> add_claim(const std::string& audience, const std::string& token,
                                       std::optional<IdentityKey>* device = nullptr) {
    core::SasToken parsed;
    try {
      parsed = core::parse_sas_token(token);
    } catch (const core::Error& e) {
      return std::string(e.what());
    }
    std::string sr_text;
    try {
      sr_text = core::url_decode(parsed.sr, "sr");
    } catch (const core::Error& e) {
      return std::string(e.what());
    }
    if (core::istarts_with(sr_text, "sb://")) {
      // The Event Hubs-compatible endpoint: a policy token signed with the key's text, as the
      // Event Hubs SDKs sign (docs/protocol.md §15.7).
      if (!parsed.key_name) return std::string("an Event Hubs token names no shared access policy (skn)");
      const Policy* policy = hub.find_policy(*parsed.key_name);
      if (policy == nullptr) return fmt::format("no shared access policy named '{}'", *parsed.key_name);
      if (!core::verify_sas_signature(parsed, policy->primary_key, core::SasKey::text) &&
          !core::verify_sas_signature(parsed, policy->secondary_key, core::SasKey::text))
        return std::string("the token signature does not match the policy's keys (Event Hubs signs with the key text)");
      if (parsed.expiry <= now_s()) return std::string("the token has expired");
      const std::string expected = fmt::format("sb://{}/{}", hub.host_name(), entity());
      std::string_view rest = sr_text;
      if (!core::istarts_with(rest, expected) ||
          (rest.size() > expected.size() && rest[expected.size()] != '/'))
        return fmt::format("the token resource is not the Event Hub {}", expected);
      std::erase_if(claims, [&](const Claim& c) { return c.audience == audience; });
      claims.push_back(Claim{audience, token, parsed.expiry, true, *parsed.key_name, sr_text});
      arm_claim_expiry(parsed.expiry);
      return std::nullopt;
    }
    if (!parsed.key_name) {
      // A device or module token: its signature must be one of the identity's keys; it
      // connects that identity (§15.6).
      auto resource = core::parse_sas_resource(parsed.sr);
      if (!resource || !resource->device_id) return std::string("the token names no shared access policy (skn)");
      IdentityKey key{*resource->device_id, resource->module_id};
      auto identity = hub.get_identity(key);
      if (!identity) return fmt::format("no identity '{}'", to_string(key));
      if (!core::verify_sas_signature(parsed, identity->primary_key) &&
          !core::verify_sas_signature(parsed, identity->secondary_key))
        return std::string("the token signature does not match the identity's keys");
      if (parsed.expiry <= now_s()) return std::string("the token has expired");
      if (device != nullptr) *device = key;
    } else {
      // A policy token must hold at least one right it could be used for; which right a link
      // needs is checked when the link attaches (authorized()).
      const auto lookup = policy_lookup(hub);
      const auto policy = lookup(*parsed.key_name);
      if (!policy) return fmt::format("no shared access policy named '{}'", *parsed.key_name);
      const bool signed_ok = core::verify_sas_signature(parsed, policy->primary_key) ||
                             (!policy->secondary_key.empty() && core::verify_sas_signature(parsed, policy->secondary_key));
      if (!signed_ok) return std::string("the token signature does not match the policy's keys");
      if (parsed.expiry <= now_s()) return std::string("the token has expired");
      std::string sr;
      try {
        sr = core::url_decode(parsed.sr, "sr");
      } catch (const core::Error& e) {
        return std::string(e.what());
      }
      if (!core::iequals(sr.substr(0, sr.find('/')), hub.host_name()))
        return fmt::format("the token resource is not this hub ({})", hub.host_name());
    }
    std::erase_if(claims, [&](const Claim& c) { return c.audience == audience; });
    claims.push_back(Claim{audience, token, parsed.expiry, false, {}, {}});
    arm_claim_expiry(parsed.expiry);
    return std::nullopt;
  }

  // When a token expires, the links it authorized close unless another token covers them.
  void arm_claim_expiry(std::int64_t expiry_s) {
    const std::int64_t in_ms = std::max<std::int64_t>(0, expiry_s * 1000 - clock.now_unix_ms());
    timers.push_back(clock.start_timer(std::chrono::milliseconds(in_ms + 1), [this] {
      claims_changed = true;
      if (wake) wake();
    }));
  }

  [[nodiscard]] std::string entity() const { return amqp::event_hub_name(hub.host_name()); }

  // nullopt when an Event Hubs token grants ServiceConnect on the Event Hub.
  [[nodiscard]] std::optional<std::string> authorized_event_hubs() const {
    for (const auto& c : claims) {
      if (!c.event_hubs || c.expiry_s <= now_s()) continue;
      const Policy* policy = hub.find_policy(c.policy);
      if (policy != nullptr && (policy->rights & right_service_connect) != 0) return std::nullopt;
    }
    return std::string("no Event Hubs token with ServiceConnect was put on $cbs for this connection");
  }

  // nullopt when some live claim grants ServiceConnect on `address`; else the refusal.
  [[nodiscard]] std::optional<std::string> authorized(std::string_view address) const {
    if (claims.empty()) return std::string("no token was put on $cbs for this connection");
    std::optional<std::string> last;
    for (const auto& c : claims) {
      last = check_service_authorization(c.token, hub.host_name(), address, ServicePermission::service_connect,
                                         policy_lookup(hub), now_s());
      if (!last) return std::nullopt;
    }
    return last;
  }

  // --- links -------------------------------------------------------------------------------

  static void set_condition(pn_condition_t* c, std::string_view name, std::string_view description) {
    pn_condition_set_name(c, std::string(name).c_str());
    pn_condition_set_description(c, std::string(description).c_str());
  }

  // An attach is refused by answering with a null terminus on our side and detaching at once
  // with the reason (AMQP 1.0 §2.6.3): clients then report the detach's error, not an open link.
  static void open_refused(pn_link_t* link) {
    pn_terminus_set_type(pn_link_is_sender(link) ? pn_link_source(link) : pn_link_target(link), PN_UNSPECIFIED);
    pn_link_open(link);
  }

  void refuse_link(pn_link_t* link, LinkState& state, std::string_view condition, const std::string& why) {
    state.role = Role::refused;
    log(1, "amqp: {} refused a link to '{}': {}", options.peer, state.address, why);
    open_refused(link);
    set_condition(pn_link_condition(link), condition, why);
    pn_link_close(link);
  }

  void on_link_open(pn_link_t* link) {
    const bool sender = pn_link_is_sender(link);  // we send: the client's receiver
    pn_terminus_copy(pn_link_source(link), pn_link_remote_source(link));
    pn_terminus_copy(pn_link_target(link), pn_link_remote_target(link));
    LinkState& state = links[link];
    state.address = std::string(sv(pn_terminus_get_address(sender ? pn_link_remote_source(link) : pn_link_remote_target(link))));
    if (amqp::same_address(state.address, amqp::k_cbs_address)) {
      state.role = sender ? Role::cbs_replies : Role::cbs_requests;
    } else if (amqp::same_address(state.address, amqp::k_management_address)) {
      state.role = sender ? Role::management_replies : Role::management_requests;
    } else if (sender && amqp::is_hub_events_address(state.address)) {
      redirect_link(link, state);
      return;
    } else if (auto consumer = sender ? amqp::parse_consumer_address(state.address) : std::nullopt) {
      if (!core::iequals(consumer->entity, entity())) {
        refuse_link(link, state, amqp::k_not_found,
                    fmt::format("The messaging entity '{}' could not be found on {}", consumer->entity, hub.host_name()));
        return;
      }
      if (consumer->partition >= k_d2c_partitions) {
        refuse_link(link, state, amqp::k_not_found,
                    fmt::format("Partition {} does not exist: the Event Hub has partitions 0-{}", consumer->partition,
                                k_d2c_partitions - 1));
        return;
      }
      if (auto why = authorized_event_hubs()) {
        refuse_link(link, state, amqp::k_unauthorized, *why);
        return;
      }
      std::string why;
      const auto start = start_of(link, &why);
      if (!start) {
        refuse_link(link, state, "amqp:invalid-field", why);
        return;
      }
      state.role = Role::consumer;
      state.partition = consumer->partition;
      state.cursor = *start;
    } else if (auto device = amqp::parse_device_address(state.address)) {
      if (!open_device_link(link, state, *device, sender)) return;
    } else if (!sender && amqp::same_address(state.address, amqp::k_c2d_send_address)) {
      state.role = Role::c2d_send;
    } else if (sender && amqp::same_address(state.address, amqp::k_feedback_address)) {
      state.role = Role::feedback;
    } else {
      refuse_link(link, state, amqp::k_not_found,
                  fmt::format("The messaging entity '{}' could not be found on {}", state.address, hub.host_name()));
      return;
    }
    if (state.role == Role::c2d_send || state.role == Role::feedback) {
      if (auto why = authorized(state.address)) {
        refuse_link(link, state, amqp::k_unauthorized, *why);
        return;
      }
    }
    pn_link_set_max_message_size(link, k_max_delivery_bytes);
    pn_link_open(link);
    if (!sender) pn_link_flow(link, k_credit);
    if (state.role == Role::consumer && !d2c_listener) {
      d2c_listener = hub.subscribe_d2c([this](const D2cMessage&) {
        d2c_ready = true;
        if (wake) wake();
      });
    }
    if (state.role == Role::feedback && !feedback_listener) {
      feedback_listener = hub.subscribe_feedback([this] {
        feedback_ready = true;
        if (wake) wake();
      });
    }
    log(2, "amqp: {} attached a {} link ({})", options.peer, role_name(state.role), state.address);
    if (state.role == Role::feedback) pump_feedback(link, state);
    if (state.role == Role::consumer) pump_events(link, state);
    if (state.role == Role::cbs_replies) flush_cbs_replies();
    if (state.role == Role::management_replies) flush_management_replies();
    if (is_device_role(state.role)) {
      // The device can now receive what the subscription brings (queued C2D, parked calls).
      if (auto* gateway = device_of(state)) {
        if (state.role == Role::device_c2d) gateway->subscribe(DeviceLink::c2d);
        if (state.role == Role::device_methods_out) gateway->subscribe(DeviceLink::methods);
        if (state.role == Role::device_twin_out) gateway->subscribe(DeviceLink::twin);
      }
      devices_ready = true;
    }
  }

  // --- device links (§15.6) ----------------------------------------------------------------

  // The gateway for `key`, authenticated with `token` or else with any live token of this
  // connection the hub accepts for the identity (a policy token with DeviceConnect); nullptr
  // with the refusal in `why` otherwise.
  AmqpDeviceGateway* ensure_device(const IdentityKey& key, const std::string* token, std::string* why) {
    auto found = devices.find(key);
    if (found != devices.end() && found->second->closed()) {
      drop_device(key, *found->second->closed());
      found = devices.end();
    }
    if (found == devices.end()) {
      ConnectInfo info{std::nullopt, options.transport, options.peer};
      found = devices
                  .emplace(key, std::make_unique<AmqpDeviceGateway>(hub, key, std::move(info),
                                                                     [this] {
                                                                       devices_ready = true;
                                                                       if (depth == 0 && wake) wake();
                                                                     }))
                  .first;
    }
    AmqpDeviceGateway& gateway = *found->second;
    std::optional<std::string> refusal;
    if (token != nullptr) {
      refusal = gateway.authenticate(*token);
    } else if (!gateway.connected()) {
      refusal = std::string("no token for this identity was put on $cbs for this connection");
      for (const auto& c : claims) {
        if (c.event_hubs || c.expiry_s <= now_s()) continue;
        if (!gateway.authenticate(c.token)) {
          refusal.reset();
          break;
        }
      }
    }
    if (!refusal) return &gateway;
    if (why != nullptr) *why = *refusal;
    if (!gateway.connected()) devices.erase(key);
    return nullptr;
  }

  AmqpDeviceGateway* device_of(const LinkState& state) {
    auto it = devices.find(state.identity);
    return it == devices.end() || !it->second->connected() ? nullptr : it->second.get();
  }

  // Chooses the role of a link to a device address and checks the connection may act as the
  // identity; false when the link was refused.
  bool open_device_link(pn_link_t* link, LinkState& state, const amqp::DeviceAddress& address, bool sender) {
    using amqp::DeviceEndpoint;
    const bool module = address.module_id.has_value();
    switch (address.endpoint) {
      case DeviceEndpoint::telemetry:
        state.role = !sender ? Role::device_telemetry : module ? Role::device_inputs : Role::refused;
        break;
      case DeviceEndpoint::c2d:
        state.role = sender && !module ? Role::device_c2d : Role::refused;
        break;
      case DeviceEndpoint::methods:
        state.role = sender ? Role::device_methods_out : Role::device_methods_in;
        break;
      case DeviceEndpoint::twin:
        state.role = sender ? Role::device_twin_out : Role::device_twin_in;
        break;
    }
    if (state.role == Role::refused) {
      refuse_link(link, state, amqp::k_not_found,
                  fmt::format("The messaging entity '{}' could not be found on {}", state.address, hub.host_name()));
      return false;
    }
    state.identity = IdentityKey{address.device_id, address.module_id};
    std::string why;
    if (ensure_device(state.identity, nullptr, &why) == nullptr) {
      refuse_link(link, state, amqp::k_unauthorized, fmt::format("{} is not authenticated: {}", to_string(state.identity), why));
      return false;
    }
    return true;
  }

  // Closes every link of `key` with `reason` and lets the identity go.
  void drop_device(const IdentityKey& key, const std::string& reason) {
    for (auto& [link, state] : links) {
      if (!is_device_role(state.role) || state.identity != key) continue;
      state.c2d_packets.clear();  // the hub let go: their locks lapse there
      if (!(pn_link_state(link) & PN_LOCAL_ACTIVE)) continue;
      set_condition(pn_link_condition(link), amqp::k_detach_forced, reason);
      pn_link_close(link);
      state.role = Role::refused;
    }
    log(1, "amqp: {} lost {}: {}", options.peer, to_string(key), reason);
    devices.erase(key);
  }

  pn_link_t* device_link(const IdentityKey& key, Role role) {
    for (auto& [link, state] : links) {
      if (state.role == role && state.identity == key && (pn_link_state(link) & PN_LOCAL_ACTIVE)) return link;
    }
    return nullptr;
  }

  // Sends what the gateways have for their devices while the links have credit.
  void pump_devices() {
    std::vector<std::pair<IdentityKey, std::string>> closed;
    for (auto& [key, gateway] : devices) {
      if (gateway->closed()) {
        closed.emplace_back(key, *gateway->closed());
        continue;
      }
      auto& outbox = gateway->outbox();
      for (auto it = outbox.begin(); it != outbox.end();) {
        const Role role = it->link == DeviceLink::c2d       ? Role::device_c2d
                          : it->link == DeviceLink::methods ? Role::device_methods_out
                                                            : Role::device_twin_out;
        pn_link_t* link = device_link(key, role);
        if (link == nullptr) {
          // The receiving link went away: a C2D message goes back to the queue; an answer or a
          // call has nobody to go to (the caller gets its timeout, §9).
          if (role == Role::device_c2d) gateway->settle_c2d(it->c2d_packet, Hub::C2dSettlement::abandon);
          it = outbox.erase(it);
          continue;
        }
        if (pn_link_credit(link) <= 0) {
          ++it;
          continue;
        }
        LinkState& state = links[link];
        if (role == Role::device_c2d) {
          // A 16-byte tag: the .NET SDK reads the lock token from it as a GUID.
          const amqp::Uuid tag = amqp::random_uuid();
          state.c2d_packets[send_message(link, state, it->message,
                                         std::string_view(reinterpret_cast<const char*>(tag.bytes.data()), tag.bytes.size()))] =
              it->c2d_packet;
        } else {
          pn_delivery_t* d = send_message(link, state, it->message);
          if (pn_link_snd_settle_mode(link) == PN_SND_SETTLED) pn_delivery_settle(d);
        }
        it = outbox.erase(it);
      }
    }
    for (const auto& [key, reason] : closed) drop_device(key, reason);
  }

  // IoT Hub's own messages/events node answers with the Event Hubs-compatible endpoint's
  // address (docs/protocol.md §15.7).
  void redirect_link(pn_link_t* link, LinkState& state) {
    state.role = Role::refused;
    // The attach goes out now and the redirect a moment later, in its own write: clients
    // built on rhea-promise (Microsoft's iothubConnectionString sample) resolve the attach
    // first and only then listen for the link's error [choice].
    pn_link_open(link);
    pending_redirects.push_back(link);
    timers.push_back(clock.start_timer(k_redirect_delay, [this] {
      redirects_due = true;
      if (wake) wake();
    }));
    log(1, "amqp: {} redirected from '{}' to the Event Hubs-compatible endpoint", options.peer, state.address);
  }

  void send_redirects() {
    for (pn_link_t* link : pending_redirects) {
      if (links.count(link) == 0 || !(pn_link_state(link) & PN_LOCAL_ACTIVE)) continue;
      pn_condition_t* c = pn_link_condition(link);
      set_condition(c, amqp::k_redirect,
                    fmt::format("Use the Event Hubs-compatible endpoint {} (entity {})", hub.host_name(), entity()));
      pn_data_t* info = pn_condition_info(c);
      pn_data_put_map(info);
      pn_data_enter(info);
      // The address names 5671, as the real hub's does (older samples match "5671/" in it); the
      // `port` entry carries the port this emulator listens on [choice].
      const std::string address =
          fmt::format("amqps://{}:{}/{}/$management", hub.host_name(), amqp::k_amqps_port, entity());
      for (const auto& [key, value] : {std::pair<std::string, std::string>{"hostname", hub.host_name()},
                                       {"network-host", hub.host_name()}, {"address", address}}) {
        pn_data_put_symbol(info, pn_bytes(key.size(), key.data()));
        pn_data_put_string(info, pn_bytes(value.size(), value.data()));
      }
      pn_data_put_symbol(info, pn_bytes(4, "port"));
      pn_data_put_int(info, options.amqp_port != 0 ? options.amqp_port : amqp::k_amqps_port);
      pn_data_exit(info);
      pn_link_close(link);
    }
    pending_redirects.clear();
  }

  // The hub sequence number after which a consumer link starts, from its selector filter
  // (none: the earliest retained event).
  std::optional<std::uint64_t> start_of(pn_link_t* link, std::string* why) {
    const auto consumer = amqp::parse_consumer_address(links[link].address);
    std::optional<amqp::EventPosition> position;
    pn_data_t* filter = pn_terminus_filter(pn_link_remote_source(link));
    pn_data_rewind(filter);
    if (pn_data_next(filter) && pn_data_type(filter) == PN_MAP) {
      const std::size_t n = pn_data_get_map(filter);
      pn_data_enter(filter);
      for (std::size_t i = 0; i + 1 < n; i += 2) {
        if (!pn_data_next(filter)) break;
        const bool selector = pn_data_type(filter) == PN_SYMBOL &&
                              std::string_view(pn_data_get_symbol(filter).start, pn_data_get_symbol(filter).size) ==
                                  amqp::k_selector_filter;
        if (!pn_data_next(filter)) break;
        if (!selector) continue;
        std::string text;
        if (pn_data_type(filter) == PN_DESCRIBED) {
          pn_data_enter(filter);
          pn_data_next(filter);  // the descriptor
          if (pn_data_next(filter) && pn_data_type(filter) == PN_STRING)
            text.assign(pn_data_get_string(filter).start, pn_data_get_string(filter).size);
          pn_data_exit(filter);
        } else if (pn_data_type(filter) == PN_STRING) {
          text.assign(pn_data_get_string(filter).start, pn_data_get_string(filter).size);
        }
        position = amqp::parse_event_filter(text, why);
        if (!position) {
          pn_data_exit(filter);
          return std::nullopt;
        }
      }
      pn_data_exit(filter);
    }
    if (!position) return std::uint64_t{0};  // no filter: from the earliest
    if (position->kind == amqp::EventPosition::Kind::latest) return hub.last_d2c_sequence();
    // The first retained event of the partition that the position admits; the cursor stops
    // just before it.
    for (const auto& m : hub.d2c_retained()) {
      if (m.partition != consumer->partition) continue;
      const std::int64_t v = position->kind == amqp::EventPosition::Kind::enqueued_time ? m.enqueued_ms
                                                                                          : m.partition_sequence;
      if (v > position->value || (position->inclusive && v == position->value)) return m.sequence_number - 1;
    }
    return hub.last_d2c_sequence();
  }

  void on_link_closed(pn_link_t* link) {
    auto it = links.find(link);
    if (it != links.end()) {
      // Feedback sent on it and not settled goes back to the hub's pool.
      for (const auto& [delivery, lock] : it->second.feedback_locks) hub.abandon_feedback(lock);
      it->second.feedback_locks.clear();
      close_device_link(it->second);
    }
    if (pn_link_state(link) & PN_LOCAL_ACTIVE) pn_link_close(link);
  }

  // A device's receiving link went away: its subscription ends, and the C2D messages it held
  // unsettled are abandoned (back in the queue at once, not after the 60 s lock).
  void close_device_link(LinkState& state) {
    if (!is_device_role(state.role)) return;
    const Role role = state.role;
    state.role = Role::refused;
    auto* gateway = device_of(state);
    if (gateway == nullptr) return;
    if (role == Role::device_c2d || role == Role::device_methods_out || role == Role::device_twin_out) {
      // (this link no longer counts: its role is cleared above)
      if (device_link(state.identity, role) == nullptr) {
        if (role == Role::device_c2d) gateway->unsubscribe(DeviceLink::c2d);
        if (role == Role::device_methods_out) gateway->unsubscribe(DeviceLink::methods);
        if (role == Role::device_twin_out) gateway->unsubscribe(DeviceLink::twin);
      }
    }
    for (const auto& [d, packet] : state.c2d_packets) gateway->settle_c2d(packet, Hub::C2dSettlement::abandon);
    state.c2d_packets.clear();
  }

  // --- incoming deliveries -----------------------------------------------------------------

  void on_incoming(pn_delivery_t* d) {
    pn_link_t* link = pn_delivery_link(d);
    auto it = links.find(link);
    if (it == links.end() || !pn_delivery_readable(d)) return;
    LinkState& state = it->second;
    char buf[16 * 1024];
    for (;;) {
      const ssize_t n = pn_link_recv(link, buf, sizeof buf);
      if (n <= 0) break;
      if (state.oversized || state.partial.size() + static_cast<std::size_t>(n) > k_max_delivery_bytes) {
        state.oversized = true;
        state.partial.clear();
        continue;
      }
      state.partial.append(buf, static_cast<std::size_t>(n));
    }
    if (pn_delivery_partial(d)) return;
    std::string bytes = std::move(state.partial);
    state.partial.clear();
    const bool oversized = state.oversized;
    state.oversized = false;
    pn_link_advance(link);
    if (pn_delivery_aborted(d)) {
      pn_delivery_settle(d);
      return;
    }
    if (const int credit = pn_link_credit(link); credit < k_credit / 2) pn_link_flow(link, k_credit - credit);

    Outcome outcome;
    if (oversized) {
      outcome = reject(amqp::k_message_size_exceeded,
                       fmt::format("The message is larger than {} bytes", k_max_delivery_bytes));
    } else if (state.role == Role::refused) {
      outcome = reject(amqp::k_not_allowed, "the link is closed");
    } else {
      outcome = dispatch(state, bytes);
    }
    pn_disposition_t* local = pn_delivery_local(d);
    if (outcome.accepted) {
      pn_delivery_update(d, PN_ACCEPTED);
    } else {
      set_condition(pn_disposition_condition(local), outcome.condition, outcome.description);
      pn_delivery_update(d, PN_REJECTED);
    }
    pn_delivery_settle(d);
  }

  Outcome dispatch(LinkState& state, const std::string& bytes) {
    amqp::Message message;
    try {
      message = amqp::decode(bytes);
    } catch (const core::Error& e) {
      return reject(amqp::k_decode_error, e.what());
    }
    switch (state.role) {
      case Role::cbs_requests:
        return on_cbs_request(message);
      case Role::management_requests:
        return on_management_request(message);
      case Role::c2d_send:
        return on_c2d(state, message);
      case Role::device_telemetry:
      case Role::device_methods_in:
      case Role::device_twin_in: {
        auto* gateway = device_of(state);
        if (gateway == nullptr) return reject(amqp::k_unauthorized, fmt::format("{} is not connected", to_string(state.identity)));
        const DeviceOutcome o = state.role == Role::device_telemetry ? gateway->telemetry(message)
                                : state.role == Role::device_methods_in ? gateway->method_response(message)
                                                                        : gateway->twin_request(message);
        return Outcome{o.accepted, o.condition, o.description};
      }
      default:
        return reject(amqp::k_not_allowed, "this link does not take messages");
    }
  }

  Outcome on_cbs_request(const amqp::Message& request) {
    std::string why;
    const auto put = amqp::parse_put_token(request, &why);
    if (!put) {
      log(1, "amqp: {} sent a bad $cbs request: {}", options.peer, why);
      queue_cbs_reply(amqp::make_cbs_reply(request, 400, why));
      return {};
    }
    std::optional<IdentityKey> device;
    auto refusal = add_claim(put->audience, put->token, &device);
    if (!refusal && device) {
      std::string device_refusal;
      if (ensure_device(*device, &put->token, &device_refusal) == nullptr) refusal = device_refusal;
    }
    if (refusal) {
      log(1, "amqp: {} put-token for '{}' refused: {}", options.peer, put->audience, *refusal);
      queue_cbs_reply(amqp::make_cbs_reply(request, 401, *refusal));
      return {};
    }
    log(2, "amqp: {} put a token for '{}'", options.peer, put->audience);
    queue_cbs_reply(amqp::make_cbs_reply(request, 200, "OK"));
    return {};
  }

  // $management READ of the Event Hub or of one partition (docs/protocol.md §15.7).
  Outcome on_management_request(const amqp::Message& request) {
    auto text = [&](std::string_view name) -> std::string {
      const amqp::Value* v = amqp::find(request.application, name);
      return v != nullptr ? amqp::text_of(*v).value_or("") : std::string();
    };
    auto reply = [&](int status, std::string description, amqp::Properties body) {
      amqp::Message m = amqp::make_cbs_reply(request, status, description);
      if (status == 200) {
        m.body_kind = amqp::BodyKind::map;
        m.map_body = std::move(body);
      }
      management_replies.push_back(std::move(m));
      flush_management_replies();
      return Outcome{};
    };
    if (text(amqp::k_management_operation) != amqp::k_management_read)
      return reply(400, fmt::format("operation '{}' is not supported (READ is)", text(amqp::k_management_operation)), {});
    // The request carries its own token; a CBS token for the Event Hub also does.
    const std::string token = text("security_token");
    if (!token.empty()) {
      if (auto refusal = add_claim(fmt::format("sb://{}/{}", hub.host_name(), entity()), token))
        return reply(401, *refusal, {});
    }
    if (auto why = authorized_event_hubs()) return reply(401, *why, {});
    if (!core::iequals(text("name"), entity()))
      return reply(404, fmt::format("The messaging entity '{}' could not be found", text("name")), {});
    const std::string type = text("type");
    if (type == amqp::k_eventhub_type) {
      amqp::StringArray ids;
      for (std::uint32_t p = 0; p < k_d2c_partitions; ++p) ids.items.push_back(std::to_string(p));
      return reply(200, "OK",
                   {{"name", entity()},
                    {"type", std::string(amqp::k_eventhub_type)},
                    {"created_at", amqp::Timestamp{created_ms}},
                    {"partition_count", amqp::Int{static_cast<std::int32_t>(k_d2c_partitions)}},
                    {"partition_ids", std::move(ids)}});
    }
    if (type == amqp::k_partition_type) {
      const std::string partition = text("partition");
      std::uint32_t p = k_d2c_partitions;
      if (partition.size() == 1 && partition[0] >= '0' && partition[0] < static_cast<char>('0' + k_d2c_partitions))
        p = static_cast<std::uint32_t>(partition[0] - '0');
      if (p >= k_d2c_partitions) return reply(404, fmt::format("Partition '{}' does not exist", partition), {});
      std::int64_t begin = -1;
      std::int64_t last = -1;
      std::int64_t last_ms = 0;
      for (const auto& m : hub.d2c_retained()) {
        if (m.partition != p) continue;
        if (begin < 0) begin = m.partition_sequence;
        last = m.partition_sequence;
        last_ms = m.enqueued_ms;
      }
      return reply(200, "OK",
                   {{"name", entity()},
                    {"type", std::string(amqp::k_partition_type)},
                    {"partition", partition},
                    {"begin_sequence_number", std::int64_t{begin < 0 ? 0 : begin}},
                    {"last_enqueued_sequence_number", std::int64_t{last}},
                    {"last_enqueued_offset", std::to_string(last)},
                    {"last_enqueued_time_utc", amqp::Timestamp{last_ms}},
                    {"is_partition_empty", begin < 0}});
    }
    return reply(400, fmt::format("type '{}' is not supported", type), {});
  }

  Outcome on_c2d(const LinkState& state, const amqp::Message& message) {
    if (auto why = authorized(state.address)) return reject(amqp::k_unauthorized, *why);
    const auto device_id = message.to ? amqp::parse_c2d_to(*message.to) : std::nullopt;
    if (!device_id)
      return reject(amqp::k_invalid_field,
                    fmt::format("The message 'to' must be /devices/{{deviceId}}/messages/devicebound, not '{}'",
                                message.to.value_or("")));
    C2dSend send;
    send.body = message.body;
    send.properties = amqp::c2d_properties_of(message);
    send.properties.system.expiry.reset();  // set by the hub from expiry_ms
    send.expiry_ms = message.absolute_expiry_ms;
    try {
      hub.send_c2d(*device_id, std::move(send));
    } catch (const HubError& e) {
      log(1, "amqp: C2D for '{}' refused: {}", *device_id, e.what());
      return reject(amqp::condition_for(e.error_code()), e.what());
    }
    return {};
  }

  // --- outgoing ----------------------------------------------------------------------------

  void queue_cbs_reply(amqp::Message reply) {
    cbs_replies.push_back(std::move(reply));
    flush_cbs_replies();
  }

  pn_link_t* find_link(Role role, const std::optional<std::string>& target) {
    pn_link_t* any = nullptr;
    for (auto& [link, state] : links) {
      if (state.role != role || !(pn_link_state(link) & PN_LOCAL_ACTIVE)) continue;
      if (target && sv(pn_terminus_get_address(pn_link_remote_target(link))) == *target) return link;
      if (any == nullptr) any = link;
    }
    return any;
  }

  // One transfer on `link`: a delivery tag (`tag`, or the link's next number), the encoded
  // message, advance.
  static pn_delivery_t* send_message(pn_link_t* link, LinkState& state, const amqp::Message& message,
                                     std::string_view tag = {}) {
    const std::string bytes = amqp::encode(message);
    const std::uint64_t number = state.next_tag++;
    pn_delivery_t* d = tag.empty() ? pn_delivery(link, pn_dtag(reinterpret_cast<const char*>(&number), sizeof number))
                                   : pn_delivery(link, pn_dtag(tag.data(), tag.size()));
    pn_link_send(link, bytes.data(), bytes.size());
    pn_link_advance(link);
    return d;
  }

  // Replies ($cbs, $management) wait for credit on the client's reply link: the one whose target
  // is the request's reply-to, else any of that role. They go settled: nothing waits on them.
  void flush_replies(Role role, std::deque<amqp::Message>& queue) {
    while (!queue.empty()) {
      pn_link_t* link = find_link(role, queue.front().to);
      if (link == nullptr || pn_link_credit(link) <= 0) return;
      pn_delivery_settle(send_message(link, links[link], queue.front()));
      queue.pop_front();
    }
  }
  void flush_cbs_replies() { flush_replies(Role::cbs_replies, cbs_replies); }
  void flush_management_replies() { flush_replies(Role::management_replies, management_replies); }

  // Sends the partition's events after the link's cursor while the consumer has credit. Events
  // go unsettled and are forgotten whatever the outcome: an Event Hub does not redeliver; a
  // consumer restarts from its own checkpoint.
  void pump_events(pn_link_t* link, LinkState& state) {
    const auto& retained = hub.d2c_retained();
    while ((pn_link_state(link) & PN_LOCAL_ACTIVE) && pn_link_credit(link) > 0) {
      auto it = std::lower_bound(retained.begin(), retained.end(), state.cursor + 1,
                                 [](const D2cMessage& m, std::uint64_t seq) { return m.sequence_number < seq; });
      while (it != retained.end() && it->partition != state.partition) ++it;
      if (it == retained.end()) return;
      pn_delivery_t* d = send_message(link, state, event_message(*it));
      if (pn_link_snd_settle_mode(link) == PN_SND_SETTLED) pn_delivery_settle(d);
      state.cursor = it->sequence_number;
    }
  }

  // A captured D2C message as the Event Hubs-compatible endpoint delivers it (§15.7).
  amqp::Message event_message(const D2cMessage& d) {
    amqp::Message m;
    m.annotations.emplace_back(std::string(amqp::k_sequence_annotation), std::int64_t{d.partition_sequence});
    m.annotations.emplace_back(std::string(amqp::k_offset_annotation), std::to_string(d.partition_sequence));
    m.annotations.emplace_back(std::string(amqp::k_enqueued_time_annotation), amqp::Timestamp{d.enqueued_ms});
    m.annotations.emplace_back("iothub-connection-device-id", d.source.device_id);
    if (d.source.module_id) m.annotations.emplace_back("iothub-connection-module-id", *d.source.module_id);
    if (auto identity = hub.get_identity(d.source)) {
      m.annotations.emplace_back("iothub-connection-auth-method",
                                 fmt::format(R"({{"scope":"{}","type":"{}","issuer":"iothub","acceptingIpFilterRule":null}})",
                                             d.source.module_id ? "module" : "device", to_string(identity->auth_type)));
      m.annotations.emplace_back("iothub-connection-auth-generation-id", identity->generation_id);
    }
    m.annotations.emplace_back("iothub-enqueuedtime", amqp::Timestamp{d.enqueued_ms});
    m.annotations.emplace_back("iothub-message-source", std::string("Telemetry"));
    if (d.data_schema) m.annotations.emplace_back("dt-dataschema", *d.data_schema);
    if (d.data_subject) m.annotations.emplace_back("dt-subject", *d.data_subject);
    amqp::set_properties(m, d.properties);
    m.body_kind = amqp::BodyKind::data;
    m.body = d.body;
    return m;
  }

  void pump_feedback(pn_link_t* link, LinkState& state) {
    while ((pn_link_state(link) & PN_LOCAL_ACTIVE) && pn_link_credit(link) > 0) {
      auto batch = hub.take_feedback();
      if (!batch) return;
      amqp::Message m;
      m.message_id = amqp::to_string(amqp::random_uuid());
      m.user_id = hub.host_name();
      m.content_type = std::string(core::k_feedback_content_type);
      m.annotations.emplace_back("iothub-enqueuedtime", amqp::Timestamp{clock.now_unix_ms()});
      m.body_kind = amqp::BodyKind::data;
      m.body = core::feedback_batch_json(batch->records);
      state.feedback_locks[send_message(link, state, m)] = batch->lock;
      log(2, "amqp: sent {} feedback record(s) to {}", batch->records.size(), options.peer);
    }
  }

  void on_outgoing_update(pn_delivery_t* d) {
    pn_link_t* link = pn_delivery_link(d);
    auto it = links.find(link);
    if (it == links.end()) {
      pn_delivery_settle(d);
      return;
    }
    if (auto c2d = it->second.c2d_packets.find(d); c2d != it->second.c2d_packets.end()) {
      const std::uint64_t remote = pn_delivery_remote_state(d);
      std::optional<Hub::C2dSettlement> how;
      if (remote == PN_ACCEPTED || (remote == 0 && pn_delivery_settled(d))) how = Hub::C2dSettlement::complete;
      if (remote == PN_REJECTED) how = Hub::C2dSettlement::reject;
      if (remote == PN_RELEASED || remote == PN_MODIFIED) how = Hub::C2dSettlement::abandon;
      if (!how) return;  // received / no outcome yet
      const std::uint16_t packet = c2d->second;
      it->second.c2d_packets.erase(c2d);
      pn_delivery_settle(d);
      if (auto* gateway = device_of(it->second)) gateway->settle_c2d(packet, *how);
      return;
    }
    auto lock = it->second.feedback_locks.find(d);
    if (lock == it->second.feedback_locks.end()) {
      if (pn_delivery_remote_state(d) != 0 || pn_delivery_settled(d)) pn_delivery_settle(d);
      return;
    }
    const std::uint64_t state = pn_delivery_remote_state(d);
    if (state == PN_ACCEPTED || state == PN_REJECTED || (state == 0 && pn_delivery_settled(d))) {
      // Accepted (or settled without an outcome: consumed); a rejected record is dead-lettered.
      hub.complete_feedback(lock->second);
    } else if (state == PN_RELEASED || state == PN_MODIFIED) {
      hub.abandon_feedback(lock->second);
    } else {
      return;  // received / no outcome yet
    }
    it->second.feedback_locks.erase(lock);
    pn_delivery_settle(d);
  }

  // --- events ------------------------------------------------------------------------------

  void handle(pn_event_t* e) {
    switch (pn_event_type(e)) {
      case PN_CONNECTION_REMOTE_OPEN: {
        pn_connection_t* c = pn_event_connection(e);
        pn_connection_set_container(c, hub.host_name().c_str());
        pn_connection_open(c);
        pn_sasl_t* sasl = pn_sasl(pn_event_transport(e));
        const char* mech = pn_sasl_get_mech(sasl);
        log(1, "amqp: {} connected over {} ({})", options.peer, options.transport,
            mech != nullptr ? fmt::format("SASL {}", mech) : std::string("no SASL"));
        break;
      }
      case PN_SESSION_REMOTE_OPEN:
        pn_session_open(pn_event_session(e));
        break;
      case PN_LINK_REMOTE_OPEN:
        on_link_open(pn_event_link(e));
        break;
      case PN_LINK_FLOW: {
        pn_link_t* link = pn_event_link(e);
        auto it = links.find(link);
        if (it == links.end()) break;
        if (it->second.role == Role::feedback) pump_feedback(link, it->second);
        if (it->second.role == Role::consumer) pump_events(link, it->second);
        if (it->second.role == Role::cbs_replies) flush_cbs_replies();
        if (it->second.role == Role::management_replies) flush_management_replies();
        if (is_device_role(it->second.role)) devices_ready = true;
        break;
      }
      case PN_DELIVERY: {
        pn_delivery_t* d = pn_event_delivery(e);
        if (pn_link_is_receiver(pn_delivery_link(d))) {
          on_incoming(d);
        } else {
          on_outgoing_update(d);
        }
        break;
      }
      case PN_LINK_REMOTE_CLOSE:
      case PN_LINK_REMOTE_DETACH:
        on_link_closed(pn_event_link(e));
        break;
      case PN_LINK_FINAL:
        links.erase(pn_event_link(e));
        std::erase(pending_redirects, pn_event_link(e));
        break;
      case PN_SESSION_REMOTE_CLOSE:
        if (pn_session_state(pn_event_session(e)) & PN_LOCAL_ACTIVE) pn_session_close(pn_event_session(e));
        break;
      case PN_CONNECTION_REMOTE_CLOSE:
        if (pn_connection_state(pn_event_connection(e)) & PN_LOCAL_ACTIVE) pn_connection_close(pn_event_connection(e));
        break;
      case PN_TRANSPORT_ERROR: {
        pn_condition_t* c = pn_transport_condition(pn_event_transport(e));
        log(1, "amqp: {} connection error: {}: {}", options.peer, sv(pn_condition_get_name(c)),
            sv(pn_condition_get_description(c)));
        break;
      }
      case PN_TRANSPORT_CLOSED:
        log(2, "amqp: {} connection closed", options.peer);
        release_all();
        break;
      default:
        break;
    }
  }

  void release_all() {
    for (auto& [link, state] : links) {
      for (const auto& [d, lock] : state.feedback_locks) hub.abandon_feedback(lock);
      state.feedback_locks.clear();
    }
    if (feedback_listener) {
      hub.unsubscribe_feedback(*feedback_listener);
      feedback_listener.reset();
    }
    if (d2c_listener) {
      hub.unsubscribe_d2c(*d2c_listener);
      d2c_listener.reset();
    }
    for (auto& [link, state] : links) state.c2d_packets.clear();
    devices.clear();  // each lets the hub know its identity disconnected
  }

  void process() {
    ++depth;
    try {
      for (;;) {
        while (pn_event_t* e = pn_connection_driver_next_event(&driver)) handle(e);
        if (!devices_ready) break;
        devices_ready = false;
        pump_devices();
      }
    } catch (const std::exception& ex) {
      // An exception must not leave io_context::run() (docs/conventions.md §3): this
      // connection goes instead (e.g. the state database failed).
      log(1, "amqp: closing {}: {}", options.peer, ex.what());
      pn_connection_driver_errorf(&driver, std::string(amqp::k_internal_error).c_str(), "%s", ex.what());
      pn_connection_driver_close(&driver);
      while (pn_connection_driver_next_event(&driver) != nullptr) {
      }
    }
    --depth;
  }

  void revalidate_links() {
    for (auto& [link, state] : links) {
      if (state.role != Role::c2d_send && state.role != Role::feedback && state.role != Role::consumer) continue;
      if (!(pn_link_state(link) & PN_LOCAL_ACTIVE)) continue;
      if (auto why = state.role == Role::consumer ? authorized_event_hubs() : authorized(state.address)) {
        log(1, "amqp: closing {}'s {} link: {}", options.peer, role_name(state.role), *why);
        for (const auto& [d, lock] : state.feedback_locks) hub.abandon_feedback(lock);
        state.feedback_locks.clear();
        set_condition(pn_link_condition(link), amqp::k_unauthorized, *why);
        pn_link_close(link);
      }
    }
    std::erase_if(claims, [this](const Claim& c) { return c.expiry_s <= now_s(); });
  }
};

AmqpEngine::AmqpEngine(Hub& hub, Clock& clock, AmqpEngineOptions options, std::function<void()> wake)
    : m(std::make_unique<Impl>(hub, clock, std::move(options), std::move(wake))) {
  m->created_ms = clock.now_unix_ms();
  if (pn_connection_driver_init(&m->driver, nullptr, nullptr) != 0)
    throw core::Error(core::ExitCode::failure, "amqp: cannot create a connection engine");
  pn_transport_t* t = m->driver.transport;
  pn_transport_set_server(t);
  // Clients may skip SASL (the service SDKs authenticate with CBS only), so SASL is offered,
  // never required.
  pn_transport_require_auth(t, false);
  pn_transport_set_idle_timeout(t, k_idle_timeout_ms);
  pn_transport_set_max_frame(t, k_max_frame);
  Impl* impl = m.get();
  install_server_sasl(t, [impl](std::string_view mechanism, std::string_view user, std::string_view password) {
    if (mechanism == "ANONYMOUS") return true;
    // PLAIN: user "{policy}@sas.root.{hub}" or "{device}@sas.{hub}", password a SAS token; it
    // counts as a put-token for the hub (docs/protocol.md §15.1).
    const auto at = user.find('@');
    if (at == std::string_view::npos) return false;
    impl->sasl_user = std::string(user.substr(0, at));
    const std::string token(password);
    std::optional<IdentityKey> device;
    auto refusal = impl->add_claim(impl->hub.host_name(), token, &device);
    std::string why;
    if (!refusal && device && impl->ensure_device(*device, &token, &why) == nullptr) refusal = why;
    if (refusal) impl->log(1, "amqp: {} SASL PLAIN refused: {}", impl->options.peer, *refusal);
    return !refusal;
  });
  pn_connection_driver_bind(&m->driver);
}

AmqpEngine::~AmqpEngine() {
  for (TimerId id : m->timers) m->clock.cancel_timer(id);
  m->release_all();
  pn_connection_driver_destroy(&m->driver);
}

void AmqpEngine::input(std::string_view bytes) {
  while (!bytes.empty()) {
    pn_rwbytes_t buf = pn_connection_driver_read_buffer(&m->driver);
    if (buf.size == 0) {
      // Proton takes no more input (closed, or its buffer is full until events are handled).
      m->process();
      buf = pn_connection_driver_read_buffer(&m->driver);
      if (buf.size == 0) return;
    }
    const std::size_t n = std::min(buf.size, bytes.size());
    std::copy_n(bytes.data(), n, buf.start);
    pn_connection_driver_read_done(&m->driver, n);
    bytes.remove_prefix(n);
    m->process();
  }
}

void AmqpEngine::input_closed() {
  pn_connection_driver_read_close(&m->driver);
  m->process();
}

void AmqpEngine::poll() {
  if (m->claims_changed) {
    m->claims_changed = false;
    m->revalidate_links();
  }
  if (m->redirects_due) {
    m->redirects_due = false;
    m->send_redirects();
  }
  if (m->d2c_ready) {
    m->d2c_ready = false;
    for (auto& [link, state] : m->links) {
      if (state.role == Role::consumer) m->pump_events(link, state);
    }
  }
  if (m->feedback_ready) {
    m->feedback_ready = false;
    for (auto& [link, state] : m->links) {
      if (state.role == Role::feedback) m->pump_feedback(link, state);
    }
  }
  m->process();
}

std::optional<std::chrono::milliseconds> AmqpEngine::tick() {
  const pn_timestamp_t now = m->clock.now_unix_ms();
  const pn_timestamp_t next = pn_transport_tick(m->driver.transport, static_cast<int64_t>(now));
  m->process();
  if (next == 0) return std::nullopt;
  return std::chrono::milliseconds(next > now ? next - now : 0);
}

void AmqpEngine::close(std::string_view condition, std::string_view description) {
  pn_connection_t* c = m->driver.connection;
  if ((pn_connection_state(c) & PN_LOCAL_CLOSED) == 0) {
    Impl::set_condition(pn_connection_condition(c), condition, description);
    pn_connection_close(c);
  }
  // The close frame is now in the output; the owner writes it and drops the socket (the peer's
  // own close, or a grace period, ends the connection).
  m->process();
}

std::string AmqpEngine::take_output() {
  std::string out;
  for (;;) {
    pn_bytes_t b = pn_connection_driver_write_buffer(&m->driver);
    if (b.size == 0) break;
    out.append(b.start, b.size);
    pn_connection_driver_write_done(&m->driver, b.size);
    m->process();
  }
  return out;
}

bool AmqpEngine::output_closed() const { return pn_connection_driver_write_closed(&m->driver); }

bool AmqpEngine::opened() const {
  return (pn_connection_state(m->driver.connection) & (PN_REMOTE_ACTIVE | PN_REMOTE_CLOSED)) != 0;
}

bool AmqpEngine::finished() const { return pn_connection_driver_finished(&m->driver); }

}  // namespace azhub::emulator
