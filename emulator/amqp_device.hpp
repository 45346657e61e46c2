#pragma once
// One device or module identity on an AMQP connection (docs/protocol.md §15.6), as Hub sees
// it: a Session, like an MQTT connection. Hub's device plane speaks MQTT packets, and every
// device rule lives there once (authentication, size limits, C2D locks and feedback, twin
// patches, method routing); this gateway translates between those packets and the AMQP
// messages of IoT Hub's device links, the way the hub's own protocol gateway fronts one device
// plane with several protocols. No Proton types: AmqpEngine (emulator/amqp_engine.*) owns the
// links and deliveries and hands the gateway decoded messages; unit tests drive it directly.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/amqp_message.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

// The device links a message goes out on.
enum class DeviceLink { c2d, methods, twin };

// A message for the device.
struct DeviceBound {
  DeviceLink link = DeviceLink::c2d;
  core::amqp::Message message;
  std::uint16_t c2d_packet = 0;  // C2D: what Hub::settle_c2d names it by
};

// A disposition for one of the device's deliveries.
struct DeviceOutcome {
  bool accepted = true;
  std::string condition;    // an AMQP error symbol when not accepted
  std::string description;
};

class AmqpDeviceGateway final : public Session {
 public:
  // `on_output` is called whenever messages join outbox() or the hub closes the identity.
  AmqpDeviceGateway(Hub& hub, IdentityKey key, ConnectInfo info, std::function<void()> on_output);
  // Lets the hub know the identity is gone (a no-op for a connection the hub already closed).
  ~AmqpDeviceGateway() override;
  AmqpDeviceGateway(const AmqpDeviceGateway&) = delete;
  AmqpDeviceGateway& operator=(const AmqpDeviceGateway&) = delete;

  [[nodiscard]] const IdentityKey& key() const noexcept { return m_key; }

  // Authenticates with `token` (a device/module SAS token, or a policy token with
  // DeviceConnect): the first call connects the identity through Hub::connect (the hub closes
  // any older connection of it), later ones renew (Hub::reauthenticate). Returns the refusal.
  [[nodiscard]] std::optional<std::string> authenticate(const std::string& token);
  [[nodiscard]] bool connected() const noexcept { return m_connected && !m_closed; }
  // Set once the hub has closed the identity (token expired, identity disabled or deleted, a
  // newer connection): the engine detaches its links with it.
  [[nodiscard]] const std::optional<std::string>& closed() const noexcept { return m_closed; }

  // --- from the device -------------------------------------------------------------------------
  // A message on the telemetry link; accepted once the hub has stored it.
  [[nodiscard]] DeviceOutcome telemetry(const core::amqp::Message& message);
  // A message on the methods link: the response to a request this gateway sent.
  [[nodiscard]] DeviceOutcome method_response(const core::amqp::Message& message);
  // A message on the twin link: GET, PATCH of reported properties, PUT/DELETE of the desired
  // notifications. Answered on the twin link (outbox).
  [[nodiscard]] DeviceOutcome twin_request(const core::amqp::Message& message);
  // The device's disposition of a C2D message.
  void settle_c2d(std::uint16_t packet, Hub::C2dSettlement how);
  // The device's receiving link for `link` attached (subscribe) or went away (unsubscribe).
  void subscribe(DeviceLink link);
  void unsubscribe(DeviceLink link);

  // --- to the device ---------------------------------------------------------------------------
  [[nodiscard]] std::deque<DeviceBound>& outbox() noexcept { return m_outbox; }

  // Session (called by Hub)
  void send(mqtt::Packet packet) override;
  void close(std::string_view reason) override;

 private:
  void mqtt_subscribe(std::string filter, bool on);
  void push(DeviceBound out);
  std::uint16_t next_packet_id();

  Hub& m_hub;
  IdentityKey m_key;
  ConnectInfo m_info;
  std::function<void()> m_on_output;
  bool m_connected = false;
  std::optional<std::string> m_closed;
  std::uint16_t m_packet_id = 0;
  std::optional<std::uint16_t> m_acked;      // the PUBACK Hub sent for the last telemetry
  std::deque<DeviceBound> m_outbox;
  std::uint64_t m_next_rid = 1;
  std::map<std::string, core::amqp::Value> m_twin_requests;  // our $rid -> the device's correlation id
  std::map<std::string, std::string> m_method_calls;         // correlation uuid text -> hub $rid
  bool m_twin_desired = false;
};

}  // namespace azhub::emulator
