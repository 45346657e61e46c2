#include "emulator/byte_stream.hpp"

#include <boost/asio/write.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace azhub::emulator {

namespace {

void close_socket(boost::asio::ip::tcp::socket& s) {
  boost::system::error_code ignored;
  s.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  s.close(ignored);
}

class TcpStream final : public ByteStream {
 public:
  explicit TcpStream(boost::asio::ip::tcp::socket s) : m_socket(std::move(s)) {}
  void async_read_some(boost::asio::mutable_buffer b, IoHandler h) override {
    m_socket.async_read_some(b, std::move(h));
  }
  void async_write(boost::asio::const_buffer b, IoHandler h) override {
    boost::asio::async_write(m_socket, b, std::move(h));
  }
  void close() override { close_socket(m_socket); }

 private:
  boost::asio::ip::tcp::socket m_socket;
};

class TlsStream final : public ByteStream {
 public:
  explicit TlsStream(std::unique_ptr<TlsSocket> s) : m_socket(std::move(s)) {}
  void async_read_some(boost::asio::mutable_buffer b, IoHandler h) override {
    m_socket->async_read_some(b, std::move(h));
  }
  void async_write(boost::asio::const_buffer b, IoHandler h) override {
    boost::asio::async_write(*m_socket, b, std::move(h));
  }
  void close() override { close_socket(m_socket->next_layer()); }

 private:
  std::unique_ptr<TlsSocket> m_socket;
};

class WsStream final : public ByteStream {
 public:
  explicit WsStream(std::unique_ptr<WsSocket> ws) : m_ws(std::move(ws)) { m_ws->binary(true); }
  void async_read_some(boost::asio::mutable_buffer b, IoHandler h) override {
    m_ws->async_read_some(b, std::move(h));
  }
  void async_write(boost::asio::const_buffer b, IoHandler h) override {
    m_ws->async_write(b, std::move(h));
  }
  void close() override { close_socket(m_ws->next_layer().next_layer()); }

 private:
  std::unique_ptr<WsSocket> m_ws;
};

}  // namespace

std::unique_ptr<ByteStream> make_tcp_stream(boost::asio::ip::tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}
std::unique_ptr<ByteStream> make_tls_stream(std::unique_ptr<TlsSocket> socket) {
  return std::make_unique<TlsStream>(std::move(socket));
}
std::unique_ptr<ByteStream> make_ws_stream(std::unique_ptr<WsSocket> ws) {
  return std::make_unique<WsStream>(std::move(ws));
}

}  // namespace azhub::emulator
