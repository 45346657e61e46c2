#pragma once
// The byte pipe under an MQTT session or an AMQP connection: plain TCP, TLS (FdTlsStream), or
// binary WebSocket messages over TLS. All three read "some bytes" and write whole buffers, so one
// MqttSession (or AmqpConnection) serves them all.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/system/error_code.hpp>
#include <openssl/ssl.h>

namespace azhub::emulator {

using IoHandler = std::function<void(const boost::system::error_code& ec, std::size_t bytes)>;
using TlsSocket = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
using WsSocket = boost::beast::websocket::stream<TlsSocket>;

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) = 0;
  // Writes all of `buffer` (one WebSocket binary message for the WebSocket stream).
  virtual void async_write(boost::asio::const_buffer buffer, IoHandler handler) = 0;
  // Closes the TCP socket at once (no TLS close_notify, no WebSocket close frame: IoT Hub just
  // drops the connection). Pending operations complete with an error.
  virtual void close() = 0;
};

[[nodiscard]] std::unique_ptr<ByteStream> make_tcp_stream(boost::asio::ip::tcp::socket socket);

// TLS as a server on the socket's own file descriptor, OpenSSL driven directly and Asio only
// waiting for readiness, as mosquitto does: no ssl::stream, whose two 17 KB record buffers per
// connection were most of an idle connection's memory (OpenSSL's own buffers are released while
// idle, SSL_MODE_RELEASE_BUFFERS). MQTT and AMQP over TLS use it; HTTPS and WebSockets, which
// need a Beast stream, keep ssl::stream.
class FdTlsStream final : public ByteStream {
 public:
  // A new SSL from `ctx` on `socket` (made non-blocking). Throws Error(failure) if OpenSSL
  // cannot make one.
  FdTlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx);
  ~FdTlsStream() override;
  FdTlsStream(const FdTlsStream&) = delete;
  FdTlsStream& operator=(const FdTlsStream&) = delete;

  // The server side of the handshake; `done` runs once, never inside this call.
  void async_handshake(std::function<void(const boost::system::error_code& ec)> done);
  [[nodiscard]] SSL* native_handle() const noexcept { return m_ssl; }

  void async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) override;
  void async_write(boost::asio::const_buffer buffer, IoHandler handler) override;
  void close() override;

 private:
  // Runs `retry` when OpenSSL's `want` (SSL_ERROR_WANT_READ / _WRITE) is met, or `fail` with the
  // wait's error; any other SSL error goes to `fail` at once (posted).
  void wait_for(int want, std::function<void()> retry, std::function<void(const boost::system::error_code&)> fail);
  void write_from(boost::asio::const_buffer buffer, std::size_t done, IoHandler handler);
  boost::system::error_code error_of(int ssl_error) const;

  boost::asio::ip::tcp::socket m_socket;
  SSL* m_ssl = nullptr;
};
// `ws` must have completed its handshake.
[[nodiscard]] std::unique_ptr<ByteStream> make_ws_stream(std::unique_ptr<WsSocket> ws);

}  // namespace azhub::emulator
