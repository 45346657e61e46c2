#pragma once
// One MQTT connection (docs/protocol.md §2): reads bytes, parses packets with mqtt_codec,
// hands the CONNECT and every later packet to Hub, and writes what Hub sends, one write in
// flight at a time. Owns the keep-alive deadline (1.5 x the client's keep-alive, capped at
// 1767 s; §2.3) and a deadline for the CONNECT itself.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "emulator/durable_gate.hpp"
#include "emulator/log.hpp"
#include "emulator/byte_stream.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

class MqttSession final : public Session, public std::enable_shared_from_this<MqttSession> {
 public:
  using Log = emulator::Log;
  // `on_end` runs once when the connection is gone (the server forgets the session).
  MqttSession(boost::asio::io_context& io, std::unique_ptr<ByteStream> stream, Hub& hub,
              ConnectInfo info, Log log, std::function<void(MqttSession*)> on_end);
  ~MqttSession() override;

  void start();  // waits for the CONNECT (10 s), then loops
  void send(mqtt::Packet packet) override;
  void close(std::string_view reason) override;

 private:
  void do_read();
  void on_bytes(std::size_t n);
  void process_input();  // parses and handles every whole packet in m_in
  void on_packet(mqtt::Packet packet);
  void do_write();
  void arm_deadline(std::chrono::seconds after, const char* why);  // the CONNECT deadline
  void arm_keep_alive();  // closes the session m_keep_alive after the last inbound packet
  void finish(bool graceful);

  boost::asio::io_context& m_io;
  std::unique_ptr<ByteStream> m_stream;
  Hub& m_hub;
  DurableGate m_gate;  // output waits for the hub's group commit
  ConnectInfo m_info;
  Log m_log;
  std::function<void(MqttSession*)> m_on_end;
  boost::asio::steady_timer m_deadline;
  std::chrono::seconds m_keep_alive{0};
  std::chrono::steady_clock::time_point m_last_inbound;  // the last whole packet received
  std::size_t m_packets_in = 0;                           // whole packets received
  std::string m_in;        // received, not yet parsed
  std::string m_read_buf;  // one read's worth
  std::deque<std::string> m_out;  // packets queued, in order
  std::string m_writing_buf;      // the packets of the write in progress, back to back
  bool m_writing = false;
  bool m_in_batch = false;  // handling the packets of one read: writes wait until it ends
  bool m_connected = false;   // CONNECT accepted
  bool m_closing = false;     // close after the queued writes (refused CONNECT)
  bool m_closed = false;
  bool m_finished = false;
  bool m_graceful = false;
  std::string m_name;  // client id once known, for logs
};

}  // namespace azhub::emulator
