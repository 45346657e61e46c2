#include "emulator/byte_stream.hpp"

#include <algorithm>
#include <climits>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/error.hpp"

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

FdTlsStream::FdTlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx) : m_socket(std::move(socket)) {
  m_ssl = SSL_new(ctx);
  if (m_ssl == nullptr) throw core::Error(core::ExitCode::failure, "TLS: cannot create a connection (SSL_new)");
  m_socket.non_blocking(true);
  if (SSL_set_fd(m_ssl, static_cast<int>(m_socket.native_handle())) != 1) {
    SSL_free(m_ssl);
    throw core::Error(core::ExitCode::failure, "TLS: cannot attach the socket (SSL_set_fd)");
  }
  SSL_set_accept_state(m_ssl);
}

FdTlsStream::~FdTlsStream() {
  boost::system::error_code ignored;
  m_socket.close(ignored);
  SSL_free(m_ssl);
}

boost::system::error_code FdTlsStream::error_of(int ssl_error) const {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return boost::asio::error::eof;
  if (ssl_error == SSL_ERROR_SYSCALL) {
    const int e = errno;
    // A peer that closed without close_notify, as IoT Hub's clients often do: end of stream.
    if (ERR_peek_error() == 0 && (e == 0 || e == ECONNRESET || e == EPIPE)) return boost::asio::error::eof;
    if (e != 0) return {e, boost::system::system_category()};
  }
  const unsigned long code = ERR_get_error();
  if (code != 0) return {static_cast<int>(code), boost::asio::error::get_ssl_category()};
  return boost::asio::error::connection_reset;
}

void FdTlsStream::wait_for(int want, std::function<void()> retry,
                           std::function<void(const boost::system::error_code&)> fail) {
  if (want != SSL_ERROR_WANT_READ && want != SSL_ERROR_WANT_WRITE) {
    boost::asio::post(m_socket.get_executor(), [fail = std::move(fail), ec = error_of(want)] { fail(ec); });
    return;
  }
  m_socket.async_wait(want == SSL_ERROR_WANT_READ ? boost::asio::ip::tcp::socket::wait_read
                                                  : boost::asio::ip::tcp::socket::wait_write,
                      [retry = std::move(retry), fail = std::move(fail)](const boost::system::error_code& ec) {
                        if (ec) {
                          fail(ec);
                        } else {
                          retry();
                        }
                      });
}

void FdTlsStream::async_handshake(std::function<void(const boost::system::error_code& ec)> done) {
  ERR_clear_error();
  errno = 0;
  const int r = SSL_do_handshake(m_ssl);
  if (r == 1) {
    boost::asio::post(m_socket.get_executor(), [done = std::move(done)] { done({}); });
    return;
  }
  const int err = SSL_get_error(m_ssl, r);
  wait_for(err, [this, done] { async_handshake(done); }, done);
}

void FdTlsStream::async_read_some(boost::asio::mutable_buffer buffer, IoHandler handler) {
  ERR_clear_error();
  errno = 0;
  std::size_t got = 0;
  const int r = SSL_read_ex(m_ssl, buffer.data(), std::min<std::size_t>(buffer.size(), INT_MAX), &got);
  if (r == 1) {
    boost::asio::post(m_socket.get_executor(), [handler = std::move(handler), got] { handler({}, got); });
    return;
  }
  const int err = SSL_get_error(m_ssl, r);
  wait_for(err, [this, buffer, handler] { async_read_some(buffer, handler); },
           [handler](const boost::system::error_code& ec) { handler(ec, 0); });
}

void FdTlsStream::async_write(boost::asio::const_buffer buffer, IoHandler handler) {
  write_from(buffer, 0, std::move(handler));
}

void FdTlsStream::write_from(boost::asio::const_buffer buffer, std::size_t done, IoHandler handler) {
  while (done < buffer.size()) {
    ERR_clear_error();
    errno = 0;
    std::size_t written = 0;
    // A retry after WANT_* repeats the same bytes from the same place, as OpenSSL requires.
    const int r = SSL_write_ex(m_ssl, static_cast<const char*>(buffer.data()) + done, buffer.size() - done, &written);
    if (r == 1) {
      done += written;
      continue;
    }
    const int err = SSL_get_error(m_ssl, r);
    wait_for(err, [this, buffer, done, handler] { write_from(buffer, done, handler); },
             [handler, done](const boost::system::error_code& ec) { handler(ec, done); });
    return;
  }
  boost::asio::post(m_socket.get_executor(), [handler = std::move(handler), done] { handler({}, done); });
}

void FdTlsStream::close() { close_socket(m_socket); }

std::unique_ptr<ByteStream> make_tcp_stream(boost::asio::ip::tcp::socket socket) {
  return std::make_unique<TcpStream>(std::move(socket));
}
std::unique_ptr<ByteStream> make_ws_stream(std::unique_ptr<WsSocket> ws) {
  return std::make_unique<WsStream>(std::move(ws));
}

}  // namespace azhub::emulator
