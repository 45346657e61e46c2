#pragma once
// The byte pipe under an MQTT session: plain TCP, TLS, or binary WebSocket messages over TLS.
// All three read "some bytes" and write whole buffers, so one MqttSession serves them all.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/system/error_code.hpp>

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
[[nodiscard]] std::unique_ptr<ByteStream> make_tls_stream(std::unique_ptr<TlsSocket> socket);
// `ws` must have completed its handshake.
[[nodiscard]] std::unique_ptr<ByteStream> make_ws_stream(std::unique_ptr<WsSocket> ws);

}  // namespace azhub::emulator
