#include "emulator/amqp_device.hpp"

#include <fmt/format.h>

#include "core/amqp.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/limits.hpp"
#include "core/properties.hpp"
#include "core/text.hpp"
#include "core/topics.hpp"

namespace azhub::emulator {
namespace amqp = core::amqp;

namespace {

DeviceOutcome refuse(std::string_view condition, std::string description) {
  return DeviceOutcome{false, std::string(condition), std::move(description)};
}

std::string twin_filter(bool desired) {
  return std::string(desired ? core::k_twin_desired_filter : core::k_twin_response_filter);
}

}  // namespace

AmqpDeviceGateway::AmqpDeviceGateway(Hub& hub, IdentityKey key, ConnectInfo info, std::function<void()> on_output)
    : m_hub(hub), m_key(std::move(key)), m_info(std::move(info)), m_on_output(std::move(on_output)) {}

AmqpDeviceGateway::~AmqpDeviceGateway() {
  // AMQP has no Will: the end of the link set is always a graceful disconnect.
  if (m_connected) m_hub.disconnected(*this, true);
}

std::optional<std::string> AmqpDeviceGateway::authenticate(const std::string& token) {
  if (m_closed) return std::string("the identity's connection was closed: ") + *m_closed;
  if (m_connected) return m_hub.reauthenticate(*this, token);
  mqtt::Connect connect;
  const core::Identity identity{m_hub.host_name(), m_key.device_id, m_key.module_id};
  connect.client_id = core::mqtt_client_id(identity);
  connect.username = core::mqtt_username(identity, "amqp");
  connect.password = token;
  connect.clean_session = true;
  const mqtt::Connack ack = m_hub.connect(*this, connect, m_info);
  if (ack.code != mqtt::ConnectReturn::accepted)
    return fmt::format("the hub refused {} (see the emulator's log)", to_string(m_key));
  m_connected = true;
  return std::nullopt;
}

std::uint16_t AmqpDeviceGateway::next_packet_id() {
  if (++m_packet_id == 0) m_packet_id = 1;
  return m_packet_id;
}

void AmqpDeviceGateway::push(DeviceBound out) {
  m_outbox.push_back(std::move(out));
  if (m_on_output) m_on_output();
}

void AmqpDeviceGateway::mqtt_subscribe(std::string filter, bool on) {
  if (!connected()) return;
  if (on) {
    m_hub.handle_packet(*this, mqtt::Subscribe{next_packet_id(), {{std::move(filter), 1}}});
  } else {
    m_hub.handle_packet(*this, mqtt::Unsubscribe{next_packet_id(), {std::move(filter)}});
  }
}

void AmqpDeviceGateway::subscribe(DeviceLink link) {
  switch (link) {
    case DeviceLink::c2d:
      if (!m_key.module_id) mqtt_subscribe(core::build_c2d_subscription(m_key.device_id), true);
      break;
    case DeviceLink::methods:
      mqtt_subscribe(std::string(core::k_method_filter), true);
      break;
    case DeviceLink::twin:
      mqtt_subscribe(twin_filter(false), true);
      break;
  }
}

void AmqpDeviceGateway::unsubscribe(DeviceLink link) {
  switch (link) {
    case DeviceLink::c2d:
      if (!m_key.module_id) mqtt_subscribe(core::build_c2d_subscription(m_key.device_id), false);
      break;
    case DeviceLink::methods:
      mqtt_subscribe(std::string(core::k_method_filter), false);
      m_method_calls.clear();
      break;
    case DeviceLink::twin:
      mqtt_subscribe(twin_filter(false), false);
      if (m_twin_desired) mqtt_subscribe(twin_filter(true), false);
      m_twin_desired = false;
      m_twin_requests.clear();
      break;
  }
}

DeviceOutcome AmqpDeviceGateway::telemetry(const amqp::Message& message) {
  if (!connected()) return refuse(amqp::k_unauthorized, "the identity is not connected");
  core::MessageProperties props = amqp::properties_of(message);
  try {
    core::validate_message_size(message.body, props, core::limits::k_d2c_message_bytes, "D2C message");
  } catch (const core::Error& e) {
    return refuse(amqp::k_message_size_exceeded, e.what());
  }
  mqtt::Publish p;
  try {
    p.topic = core::build_telemetry_topic(core::Identity{m_hub.host_name(), m_key.device_id, m_key.module_id}, props);
  } catch (const core::Error& e) {
    return refuse(amqp::k_invalid_field, e.what());
  }
  p.payload = message.body;
  p.qos = 1;
  p.packet_id = next_packet_id();
  m_acked.reset();
  m_hub.handle_packet(*this, p);
  // Hub answers a telemetry PUBLISH synchronously, after the store has the message.
  if (m_acked == p.packet_id) return {};
  return refuse(amqp::k_invalid_field, m_closed ? *m_closed : std::string("the hub did not take the message"));
}

DeviceOutcome AmqpDeviceGateway::method_response(const amqp::Message& message) {
  if (!connected()) return refuse(amqp::k_unauthorized, "the identity is not connected");
  const auto correlation = amqp::text_of(message.correlation_id);
  const auto call = correlation ? m_method_calls.find(*correlation) : m_method_calls.end();
  if (call == m_method_calls.end())
    return refuse(amqp::k_invalid_field, fmt::format("no method call has the correlation id '{}'", correlation.value_or("")));
  const amqp::Value* status = amqp::find(message.application, amqp::k_method_status_property);
  const auto status_text = status != nullptr ? amqp::text_of(*status) : std::nullopt;
  int code = 0;
  try {
    code = status_text ? std::stoi(*status_text) : 0;
  } catch (const std::exception&) {
    code = 0;
  }
  if (!status_text || code < 0 || code > 999)
    return refuse(amqp::k_invalid_field,
                  fmt::format("a method response needs the application property {} (an integer)", amqp::k_method_status_property));
  const std::string rid = call->second;
  m_method_calls.erase(call);
  m_hub.handle_packet(*this, mqtt::Publish{core::build_method_response_topic(code, rid), message.body, 0, false, false, 0});
  return {};
}

DeviceOutcome AmqpDeviceGateway::twin_request(const amqp::Message& message) {
  if (!connected()) return refuse(amqp::k_unauthorized, "the identity is not connected");
  auto annotation = [&](std::string_view name) -> std::string {
    const amqp::Value* v = amqp::find(message.annotations, name);
    return v != nullptr ? amqp::text_of(*v).value_or("") : std::string();
  };
  const std::string operation = annotation(amqp::k_twin_operation);
  const std::string resource = annotation(amqp::k_twin_resource);
  const std::string rid = std::to_string(m_next_rid++);
  auto answer = [&](int status) {
    amqp::Message reply;
    reply.correlation_id = message.correlation_id;
    reply.annotations.emplace_back(std::string(amqp::k_twin_status), amqp::Int{status});
    push(DeviceBound{DeviceLink::twin, std::move(reply), 0});
  };
  if (core::iequals(operation, "GET") && resource.empty()) {
    m_twin_requests[rid] = message.correlation_id;
    m_hub.handle_packet(*this, mqtt::Publish{core::build_twin_get_topic(rid), {}, 0, false, false, 0});
  } else if (core::iequals(operation, "PATCH") && core::iequals(resource, amqp::k_twin_reported_resource)) {
    m_twin_requests[rid] = message.correlation_id;
    m_hub.handle_packet(*this, mqtt::Publish{core::build_twin_patch_reported_topic(rid), message.body, 0, false, false, 0});
  } else if (core::iequals(resource, amqp::k_twin_desired_resource) &&
             (core::iequals(operation, "PUT") || core::iequals(operation, "DELETE"))) {
    const bool on = core::iequals(operation, "PUT");
    if (on != m_twin_desired) mqtt_subscribe(twin_filter(true), on);
    m_twin_desired = on;
    answer(200);
  } else {
    // The request is settled; the answer says why (the SDKs wait for the answer, not the
    // disposition).
    amqp::Message reply;
    reply.correlation_id = message.correlation_id;
    reply.annotations.emplace_back(std::string(amqp::k_twin_status), amqp::Int{400});
    reply.body_kind = amqp::BodyKind::data;
    reply.body = fmt::format(R"({{"errorCode":400004,"message":"twin operation '{}' on '{}' is not supported"}})", operation,
                             resource);
    push(DeviceBound{DeviceLink::twin, std::move(reply), 0});
  }
  return {};
}

void AmqpDeviceGateway::settle_c2d(std::uint16_t packet, Hub::C2dSettlement how) {
  if (connected()) m_hub.settle_c2d(*this, packet, how);
}

void AmqpDeviceGateway::send(mqtt::Packet packet) {
  if (const auto* ack = std::get_if<mqtt::Puback>(&packet)) {
    m_acked = ack->packet_id;
    return;
  }
  const auto* p = std::get_if<mqtt::Publish>(&packet);
  if (p == nullptr) return;  // SUBACK, UNSUBACK, PINGRESP: nothing for the device
  try {
    if (auto c2d = core::parse_c2d_topic(p->topic)) {
      amqp::Message m;
      amqp::set_properties(m, c2d->properties);
      m.to = c2d->properties.system.to;
      if (m.absolute_expiry_ms) m.ttl_ms.reset();
      m.body_kind = amqp::BodyKind::data;
      m.body = p->payload;
      // A lapsed lock sends the message again (§6); one still waiting here for link credit is
      // replaced, not sent twice.
      std::erase_if(m_outbox, [&](const DeviceBound& b) { return b.link == DeviceLink::c2d && b.message.message_id == m.message_id; });
      push(DeviceBound{DeviceLink::c2d, std::move(m), p->packet_id});
      return;
    }
    if (auto response = core::parse_twin_response_topic(p->topic)) {
      auto request = m_twin_requests.find(response->rid);
      if (request == m_twin_requests.end()) return;
      amqp::Message m;
      m.correlation_id = request->second;
      m_twin_requests.erase(request);
      m.annotations.emplace_back(std::string(amqp::k_twin_status), amqp::Int{response->status});
      if (response->version) m.annotations.emplace_back(std::string(amqp::k_twin_version), std::int64_t{*response->version});
      if (!p->payload.empty()) {
        m.body_kind = amqp::BodyKind::data;
        m.body = p->payload;
      }
      push(DeviceBound{DeviceLink::twin, std::move(m), 0});
      return;
    }
    if (auto version = core::parse_twin_desired_topic(p->topic)) {
      amqp::Message m;
      m.annotations.emplace_back(std::string(amqp::k_twin_version), std::int64_t{*version});
      m.body_kind = amqp::BodyKind::data;
      m.body = p->payload;
      push(DeviceBound{DeviceLink::twin, std::move(m), 0});
      return;
    }
    if (auto request = core::parse_method_request_topic(p->topic)) {
      // Method calls are correlated by an AMQP uuid (the SDKs answer with the same value).
      const amqp::Uuid id = amqp::random_uuid();
      m_method_calls[amqp::to_string(id)] = request->rid;
      amqp::Message m;
      m.correlation_id = id;
      m.application.emplace_back(std::string(amqp::k_method_name_property), request->name);
      m.body_kind = amqp::BodyKind::data;
      m.body = p->payload;
      push(DeviceBound{DeviceLink::methods, std::move(m), 0});
      return;
    }
  } catch (const core::Error&) {
    // Hub builds these topics itself; one it cannot parse back is a bug, not device input.
  }
}

void AmqpDeviceGateway::close(std::string_view reason) {
  // Hub has let go already; the engine detaches the identity's links.
  if (!m_closed) m_closed = std::string(reason);
  m_connected = false;
  if (m_on_output) m_on_output();
}

}  // namespace azhub::emulator
