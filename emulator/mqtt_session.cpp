#include "emulator/mqtt_session.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/limits.hpp"

namespace azhub::emulator {

namespace {
constexpr std::chrono::seconds k_connect_deadline{10};
// Small: idle connections dominate memory, and the parser accumulates anyway.
constexpr std::size_t k_read_chunk = 4 * 1024;
}  // namespace

MqttSession::MqttSession(boost::asio::io_context& io, std::unique_ptr<ByteStream> stream, Hub& hub,
                         ConnectInfo info, Log log, std::function<void(MqttSession*)> on_end)
    : m_io(io),
      m_stream(std::move(stream)),
      m_hub(hub),
      m_gate(hub),
      m_info(std::move(info)),
      m_log(std::move(log)),
      m_on_end(std::move(on_end)),
      m_deadline(io),
      m_read_buf(k_read_chunk, '\0'),
      m_name(m_info.peer) {}

MqttSession::~MqttSession() = default;

void MqttSession::start() {
  arm_deadline(k_connect_deadline, "no CONNECT in time");
  do_read();
}

void MqttSession::arm_deadline(std::chrono::seconds after, const char* why) {
  m_deadline.expires_after(after);
  m_deadline.async_wait([self = shared_from_this(), why](const boost::system::error_code& ec) {
    if (ec || self->m_closed) return;
    self->close(why);
  });
}

void MqttSession::arm_keep_alive() {
  // One timer for the whole connection: a packet only records when it came (m_last_inbound),
  // and the timer, when it fires early, waits for the rest (no cancel and re-arm per packet).
  m_deadline.expires_at(m_last_inbound + m_keep_alive);
  m_deadline.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->m_closed) return;
    if (std::chrono::steady_clock::now() < self->m_last_inbound + self->m_keep_alive) {
      self->arm_keep_alive();
      return;
    }
    self->close("keep-alive expired");
  });
}

void MqttSession::do_read() {
  m_stream->async_read_some(
      boost::asio::buffer(m_read_buf),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        if (ec) {
          if (!self->m_closed)
            self->m_log(1, "mqtt: {} connection ended ({})", self->m_name, ec.message());
          self->finish(self->m_graceful);
          return;
        }
        self->on_bytes(n);
      });
}

void MqttSession::on_bytes(std::size_t n) {
  m_in.append(m_read_buf.data(), n);
  // The answers to every packet of this read (PUBACKs, SUBACKs, ...) leave together in one
  // write, so one TLS record and one system call, not one per packet.
  m_in_batch = true;
  const std::size_t before = m_packets_in;
  process_input();
  m_in_batch = false;
  // Any inbound packet resets the keep-alive (§2.3); the clock is read once per read.
  if (m_connected && m_packets_in != before) m_last_inbound = std::chrono::steady_clock::now();
  if (!m_closed) {
    do_write();
    do_read();
  }
}

void MqttSession::process_input() {
  while (!m_closed && !m_closing) {
    mqtt::ParseResult r = mqtt::parse_packet(m_in);
    if (r.status == mqtt::ParseStatus::need_more) {
      // No PUBLISH may carry more than a D2C message (docs/protocol.md §11): refuse one that
      // announces more as soon as its topic length is in, instead of buffering it whole.
      if (r.announced_payload_bytes && *r.announced_payload_bytes > core::limits::k_d2c_message_bytes) {
        const std::string why = fmt::format("a PUBLISH announces {} payload bytes; IoT Hub accepts at most {}",
                                            *r.announced_payload_bytes, core::limits::k_d2c_message_bytes);
        m_log(1, "mqtt: closing {}: {}", m_name, why);
        m_hub.disconnected(*this, false);
        close(why);
        return;
      }
      break;
    }
    if (r.status == mqtt::ParseStatus::bad) {
      m_log(1, "mqtt: closing {}: malformed packet: {}", m_name, r.error);
      // Tell the hub first: it publishes the Will for this ungraceful end.
      m_hub.disconnected(*this, false);
      close("malformed packet");
      return;
    }
    m_in.erase(0, r.consumed);
    ++m_packets_in;
    try {
      on_packet(std::move(*r.packet));
    } catch (const std::exception& e) {
      // An exception must not leave io_context::run() (docs/conventions.md §3): it would drop every
      // client. This one connection goes instead (e.g. the state database failed).
      m_log(1, "mqtt: closing {}: {}", m_name, e.what());
      m_hub.disconnected(*this, false);
      close("internal error");
      return;
    }
  }
}

void MqttSession::on_packet(mqtt::Packet packet) {
  if (!m_connected) {
    auto* connect = std::get_if<mqtt::Connect>(&packet);
    if (connect == nullptr) {
      m_log(1, "mqtt: closing {}: first packet is not CONNECT", m_name);
      close("first packet is not CONNECT");
      return;
    }
    m_name = connect->client_id.empty() ? m_info.peer : connect->client_id;
    mqtt::Connack ack = m_hub.connect(*this, *connect, m_info);
    // CONNACK goes out before anything the hub queued for the new session (it defers those).
    m_out.push_front(mqtt::serialize(ack));
    if (ack.code != mqtt::ConnectReturn::accepted) {
      m_closing = true;  // close once the CONNACK is written
      do_write();
      return;
    }
    m_connected = true;
    // 1.5 x keep-alive, capped at 1767 s; keep-alive 0 means the cap (§2.3, E).
    int seconds = core::limits::k_keepalive_cap_s;
    if (connect->keep_alive > 0)
      seconds = std::min(core::limits::k_keepalive_cap_s, connect->keep_alive * 3 / 2 + (connect->keep_alive % 2));
    m_keep_alive = std::chrono::seconds(seconds);
    m_last_inbound = std::chrono::steady_clock::now();
    arm_keep_alive();
    do_write();
    return;
  }
  if (std::holds_alternative<mqtt::Connect>(packet)) {
    m_hub.disconnected(*this, false);
    close("second CONNECT");
    return;
  }
  if (std::holds_alternative<mqtt::Disconnect>(packet)) m_graceful = true;
  m_hub.handle_packet(*this, packet);
}

void MqttSession::send(mqtt::Packet packet) {
  if (m_closed) return;
  m_log(3, "mqtt: -> {} {}", m_name, mqtt::packet_name(packet));
  m_out.push_back(mqtt::serialize(packet));
  if (!m_in_batch) do_write();
}

void MqttSession::do_write() {
  if (m_writing || m_closed) return;
  if (m_out.empty()) {
    if (m_closing) close("CONNECT refused");
    return;
  }
  // Nothing goes out before what the hub stored for it is durable (a PUBACK after its message).
  // The resumption holds the session: nothing else may while a reply waits.
  if (!m_gate.ready([self = shared_from_this()] { self->do_write(); })) return;
  m_writing = true;
  // Everything queued goes in one write (MQTT lets packets share a TLS record or WebSocket frame).
  m_writing_buf.clear();
  for (const auto& packet : m_out) m_writing_buf += packet;
  m_out.clear();
  m_stream->async_write(boost::asio::buffer(m_writing_buf),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          self->m_writing = false;
                          if (ec) {
                            self->close("write failed");
                            return;
                          }
                          self->do_write();
                        });
}

void MqttSession::close(std::string_view reason) {
  if (m_closed) return;
  m_closed = true;
  m_log(2, "mqtt: closed {}: {}", m_name, reason);
  m_deadline.cancel();
  m_stream->close();
  // The pending read completes with an error and calls finish(); if none is pending (closed
  // from inside on_bytes), finish now.
  boost::asio::post(m_io, [self = shared_from_this()] { self->finish(self->m_graceful); });
}

void MqttSession::finish(bool graceful) {
  if (m_finished) return;
  m_finished = true;
  m_closed = true;
  m_deadline.cancel();
  m_stream->close();
  m_hub.disconnected(*this, graceful);
  if (m_on_end) m_on_end(this);
}

}  // namespace azhub::emulator
