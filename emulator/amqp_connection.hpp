#pragma once
// One AMQP connection on a byte stream (TLS on --amqp-port, or binary WebSocket messages on
// the HTTPS port at /$iothub/websocket with subprotocol AMQPWSB10): reads into AmqpEngine,
// writes what it produces, one write in flight at a time, and runs its idle-timeout ticks.
// A connection that has not opened AMQP within 30 s is closed (docs/protocol.md §15.1).
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "emulator/durable_gate.hpp"
#include "emulator/log.hpp"
#include "emulator/amqp_engine.hpp"
#include "emulator/byte_stream.hpp"

namespace azhub::emulator {

class AmqpConnection final : public std::enable_shared_from_this<AmqpConnection> {
 public:
  using Log = emulator::Log;
  // `on_end` runs once when the connection is gone.
  AmqpConnection(boost::asio::io_context& io, std::unique_ptr<ByteStream> stream, Hub& hub, Clock& clock,
                 AmqpEngineOptions options, std::function<void(AmqpConnection*)> on_end);
  ~AmqpConnection();
  void start();
  // Closes the AMQP connection with amqp:connection:forced, then the socket.
  void close(std::string_view reason);

 private:
  void do_read();
  void flush();
  void do_write();
  void arm_tick();
  void finish();

  boost::asio::io_context& m_io;
  DurableGate m_gate;  // output waits for the hub's group commit
  std::unique_ptr<ByteStream> m_stream;
  std::unique_ptr<AmqpEngine> m_engine;
  Log m_log;
  std::string m_peer;
  std::function<void(AmqpConnection*)> m_on_end;
  boost::asio::steady_timer m_tick;
  boost::asio::steady_timer m_open_deadline;
  std::string m_read_buf;
  std::deque<std::string> m_out;
  bool m_writing = false;
  bool m_wake_posted = false;
  bool m_closing = false;
  bool m_closed = false;
  bool m_finished = false;
};

}  // namespace azhub::emulator
