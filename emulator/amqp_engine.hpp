#pragma once
// One AMQP 1.0 connection of the emulator without the socket (docs/protocol.md §15): bytes in,
// bytes out, Apache Qpid Proton's engine (pn_connection_driver) in between, and IoT Hub's
// service plane on top — claims-based security on `$cbs`, C2D send on `/messages/devicebound`
// into the same queues the MQTT devices read, and the feedback receiver on
// `/messages/serviceBound/feedback`. Single-threaded like Hub. AmqpConnection (emulator/
// amqp_connection.*) puts it on a TLS or WebSocket stream; the fuzz target feeds it raw bytes.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/log.hpp"
#include "emulator/clock.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

struct AmqpEngineOptions {
  std::string peer;       // "127.0.0.1:40112", for logs
  std::string transport;  // "amqps", "amqpws"
  std::uint16_t amqp_port = 0;  // the AMQPS port, named in redirects to the Event Hubs-compatible endpoint
  Log log;
};

class AmqpEngine {
 public:
  // `wake` is called (never from inside an AmqpEngine call) when the engine has work that
  // did not come from input — feedback to send, a token that expired: the owner then calls
  // poll() and writes take_output().
  AmqpEngine(Hub& hub, Clock& clock, AmqpEngineOptions options, std::function<void()> wake);
  ~AmqpEngine();
  AmqpEngine(const AmqpEngine&) = delete;
  AmqpEngine& operator=(const AmqpEngine&) = delete;

  // Bytes from the peer.
  void input(std::string_view bytes);
  // The peer closed its side (or the socket failed).
  void input_closed();
  // Does the work `wake` announced.
  void poll();
  // Idle-timeout processing; returns when to call it next (nullopt: no deadline).
  std::optional<std::chrono::milliseconds> tick();
  // Closes the connection with `condition` (an AMQP error symbol) and `description`.
  void close(std::string_view condition, std::string_view description);

  // Bytes for the peer, taken out of the engine.
  [[nodiscard]] std::string take_output();
  // True once the engine will write nothing more: write what take_output() gave, then close.
  [[nodiscard]] bool output_closed() const;
  // True once the peer's AMQP open has arrived.
  [[nodiscard]] bool opened() const;
  // True once both directions are closed.
  [[nodiscard]] bool finished() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace azhub::emulator
