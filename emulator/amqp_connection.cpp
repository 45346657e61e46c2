#include "emulator/amqp_connection.hpp"

#include <fmt/format.h>

#include "core/amqp.hpp"

namespace azhub::emulator {

namespace {
constexpr std::chrono::seconds k_open_deadline{30};
constexpr std::size_t k_read_chunk = 16 * 1024;
}  // namespace

AmqpConnection::AmqpConnection(boost::asio::io_context& io, std::unique_ptr<ByteStream> stream, Hub& hub,
                               Clock& clock, AmqpEngineOptions options,
                               std::function<void(AmqpConnection*)> on_end)
    : m_io(io),
      m_gate(hub),
      m_stream(std::move(stream)),
      m_log(options.log),
      m_peer(options.peer),
      m_on_end(std::move(on_end)),
      m_tick(io),
      m_open_deadline(io),
      m_read_buf(k_read_chunk, '\0') {
  // The engine's wake comes from Hub callbacks and timers, possibly while another connection
  // is being served: defer to a fresh handler.
  m_engine = std::make_unique<AmqpEngine>(hub, clock, std::move(options), [this] {
    if (m_wake_posted || m_closed) return;
    m_wake_posted = true;
    boost::asio::post(m_io, [weak = weak_from_this()] {
      auto self = weak.lock();
      if (!self) return;
      self->m_wake_posted = false;
      if (self->m_closed) return;
      self->m_engine->poll();
      self->flush();
    });
  });
}

AmqpConnection::~AmqpConnection() = default;

void AmqpConnection::start() {
  m_open_deadline.expires_after(k_open_deadline);
  m_open_deadline.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->m_closed) return;
    // Opened in time: the idle timeout (tick) takes over.
    if (self->m_engine->opened()) return;
    self->close("no AMQP open in time");
  });
  arm_tick();
  do_read();
}

void AmqpConnection::arm_tick() {
  const auto next = m_engine->tick();
  flush();
  if (!next || m_closed) return;
  m_tick.expires_after(*next + std::chrono::milliseconds(1));
  m_tick.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->m_closed) return;
    self->arm_tick();
  });
}

void AmqpConnection::do_read() {
  m_stream->async_read_some(boost::asio::buffer(m_read_buf),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                              if (self->m_closed) return;
                              if (ec) {
                                self->m_engine->input_closed();
                                self->flush();
                                self->finish();
                                return;
                              }
                              self->m_engine->input(std::string_view(self->m_read_buf.data(), n));
                              self->flush();
                              // A tick deadline may have moved (the peer opened with an idle time-out).
                              self->arm_tick();
                              if (!self->m_closed) self->do_read();
                            });
}

void AmqpConnection::flush() {
  if (m_closed) return;
  std::string out = m_engine->take_output();
  if (!out.empty()) m_out.push_back(std::move(out));
  do_write();
}

void AmqpConnection::do_write() {
  if (m_writing || m_closed) return;
  if (m_out.empty()) {
    // Proton wrote its last frame (a close): drop the socket, as the hub does.
    if (m_engine->output_closed()) finish();
    return;
  }
  // Nothing goes out before what the hub stored for it is durable (a disposition after its
  // message). The resumption holds the connection: nothing else may while a reply waits.
  if (!m_gate.ready([self = shared_from_this()] { self->do_write(); })) return;
  m_writing = true;
  m_stream->async_write(boost::asio::buffer(m_out.front()),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                          self->m_writing = false;
                          if (ec) {
                            self->finish();
                            return;
                          }
                          self->m_out.pop_front();
                          self->do_write();
                        });
}

void AmqpConnection::close(std::string_view reason) {
  if (m_closed || m_closing) return;
  m_closing = true;
  m_log(2, "amqp: closing {}: {}", m_peer, reason);
  m_engine->close("amqp:connection:forced", reason);
  flush();  // do_write() drops the socket once the close frame is out
  // A peer that does not read must not hold the socket.
  m_open_deadline.expires_after(std::chrono::seconds(2));
  m_open_deadline.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = weak.lock(); self && !ec) self->finish();
  });
}

void AmqpConnection::finish() {
  if (m_finished) return;
  m_finished = true;
  m_closed = true;
  m_tick.cancel();
  m_open_deadline.cancel();
  m_stream->close();
  if (m_on_end) m_on_end(this);
}

}  // namespace azhub::emulator
