#pragma once
// One TLS connection to a hub endpoint on Boost.Asio + OpenSSL, shared by the HTTPS client
// (service/https_client.*) and the AMQP client (service/amqp_client.*): TLS 1.2+, the system
// trust store plus an optional CA file, SNI, host name verification, optionally through an HTTP
// CONNECT proxy (core/proxy.hpp). Every wait honours a deadline and the interrupt flag.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>

#include "core/error.hpp"
#include "core/proxy.hpp"
#include "service/https_client.hpp"

namespace azhub::service {

namespace detail {
inline bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  (void)boost::asio::ip::make_address(host, ec);
  return !ec;
}
}  // namespace detail

namespace tls_detail {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
using core::Error;
using core::ExitCode;

// The TLS settings for `endpoint`: TLS 1.2 or later, the peer verified against the system trust
// store plus --ca-file. Reading the trust store is most of a connection's set-up (tens of
// milliseconds), so a client that connects several times makes these once.
inline std::shared_ptr<ssl::context> tls_context(const HttpsEndpoint& endpoint) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_peer);
  const auto& ca_file = endpoint.ca_file;
  // --ca-file adds to the system trust store (as for device commands), it does not replace it.
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);
  if (ec && !ca_file) {
    throw Error(ExitCode::connect, "cannot load the system's trusted CA certificates: " + ec.message());
  }
  if (ca_file) {
    boost::system::error_code file_ec;
    ctx->load_verify_file(*ca_file, file_ec);
    if (file_ec) {
      throw core::usage_error(fmt::format("--ca-file: cannot load '{}': {}", *ca_file, file_ec.message()));
    }
  }
  return ctx;
}

// One TLS connection and the io_context that drives it. Every asynchronous operation stores
// its result in members, so a wait abandoned by a deadline or Ctrl-C leaves no handler that
// points into a caller's stack frame.
class TlsConnection {
 public:
  // `tls`: the settings from tls_context(endpoint), shared by the connections of one client;
  // made on connect() when not given.
  TlsConnection(const HttpsEndpoint& endpoint, std::function<bool()> interrupted,
                std::function<void(int, std::string_view)> trace, std::shared_ptr<ssl::context> tls = nullptr)
      : m_endpoint(endpoint), m_interrupted(std::move(interrupted)), m_trace(std::move(trace)), m_ctx(std::move(tls)) {}
  ~TlsConnection() { close(); }
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  const HttpsEndpoint& m_endpoint;
  std::function<bool()> m_interrupted;
  std::function<void(int, std::string_view)> m_trace;
  net::io_context m_ioc{1};
  std::shared_ptr<ssl::context> m_ctx;
  std::optional<beast::ssl_stream<beast::tcp_stream>> m_stream;
  beast::flat_buffer m_buffer;
  bool m_done = false;
  boost::system::error_code m_ec;

  std::string where() const {
    return fmt::format("{}:{}", m_endpoint.host, m_endpoint.port);
  }

  void close() {
    if (!m_stream) return;
    boost::system::error_code ignored;
    beast::get_lowest_layer(*m_stream).socket().close(ignored);
    // Let the aborted operations finish so nothing is left pending.
    m_ioc.restart();
    m_ioc.run_for(std::chrono::seconds(1));
  }

  // Runs the io_context until the current operation completes, the deadline passes or the
  // user interrupts.
  void wait(std::optional<Deadline> deadline, std::string_view doing) {
    m_ioc.restart();
    while (!m_done) {
      if (m_interrupted && m_interrupted()) {
        close();
        throw Error(ExitCode::interrupted, "interrupted");
      }
      auto slice = std::chrono::steady_clock::duration(std::chrono::milliseconds(100));
      if (deadline) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= *deadline) {
          close();
          throw Error(ExitCode::timeout, fmt::format("timed out {} {}", doing, where()));
        }
        slice = std::min(slice, *deadline - now);
      }
      m_ioc.run_one_for(slice);
      if (m_ioc.stopped()) m_ioc.restart();
    }
  }

  // Completion handler for every operation: records the result in the connection.
  struct Completion {
    TlsConnection* self;
    void operator()(boost::system::error_code ec) const {
      self->m_ec = ec;
      self->m_done = true;
    }
    void operator()(boost::system::error_code ec, std::size_t /*bytes*/) const { (*this)(ec); }
  };

  template <class Start>
  void run(Start&& start, std::optional<Deadline> deadline, std::string_view doing) {
    m_done = false;
    m_ec = {};
    start(Completion{this});
    wait(deadline, doing);
  }

  [[noreturn]] void fail_connect(std::string_view doing, const boost::system::error_code& ec) {
    close();
    throw Error(ExitCode::connect, fmt::format("could not {} {}: {}", doing, where(), ec.message()));
  }

  [[noreturn]] void fail_proxy(const std::string& message) {
    close();
    throw Error(ExitCode::connect, message);
  }

  // CONNECT host:port through the proxy (RFC 9110 §9.3.6); returns once the tunnel is open.
  void open_tunnel(std::optional<Deadline> deadline) {
    const HttpsEndpoint& ep = m_endpoint;
    const std::string name = core::proxy_display(*ep.proxy);
    const std::string target = core::format_host_port(ep.host, ep.port);
    const std::string request = core::build_connect_request(*ep.proxy, ep.host, ep.port);
    auto& tcp = beast::get_lowest_layer(*m_stream);
    run([&](auto handler) { net::async_write(tcp, net::buffer(request), std::move(handler)); },
        deadline, "sending CONNECT to the proxy for");
    if (m_ec)
      fail_proxy(fmt::format("could not send the CONNECT to proxy {}: {}", name, m_ec.message()));
    // The answer's header only: the TLS client speaks first, so nothing of the tunnel follows it.
    std::string head;
    run(
        [&](auto handler) {
          net::async_read_until(tcp, net::dynamic_buffer(head, 16 * 1024), "\r\n\r\n",
                                std::move(handler));
        },
        deadline, "waiting for the proxy's answer for");
    const std::optional<core::ProxyReply> reply = core::parse_proxy_reply(head);
    if (!reply) {
      fail_proxy(
          head.empty()
              ? fmt::format("proxy {} closed the connection without answering the CONNECT to {}",
                            name, target)
              : fmt::format("{} is not an HTTP proxy (its answer to CONNECT is not HTTP)", name));
    }
    if (reply->status != 200) fail_proxy(core::describe_proxy_refusal(*ep.proxy, target, *reply));
    if (m_ec)
      fail_proxy(fmt::format("proxy {} broke off its answer to the CONNECT to {}: {}", name, target,
                             m_ec.message()));
    if (m_trace)
      m_trace(2, fmt::format("proxy {} opened a tunnel to {}", name, target));
  }

  void connect(std::optional<Deadline> deadline) {
    if (!m_ctx) m_ctx = tls_context(m_endpoint);
    const HttpsEndpoint& ep = m_endpoint;
    m_stream.emplace(m_ioc, *m_ctx);
    SSL* ssl_handle = m_stream->native_handle();
    // SNI for names only (RFC 6066 forbids IP literals); the certificate must match either way.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    if (detail::is_ip_address(ep.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, ep.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_handle, ep.host.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, ep.host.c_str(), ep.host.size());
    }

    // Through a proxy, TCP goes to the proxy and TLS runs inside its CONNECT tunnel.
    const std::string& tcp_host = ep.proxy ? ep.proxy->host : ep.host;
    const int tcp_port = ep.proxy ? ep.proxy->port : ep.port;
    net::ip::tcp::resolver resolver(m_ioc);
    net::ip::tcp::resolver::results_type endpoints;
    m_done = false;
    resolver.async_resolve(tcp_host, std::to_string(tcp_port),
                           [this, &endpoints](boost::system::error_code ec,
                                              net::ip::tcp::resolver::results_type results) {
                             m_ec = ec;
                             endpoints = std::move(results);
                             m_done = true;
                           });
    try {
      wait(deadline, "resolving");
    } catch (...) {
      resolver.cancel();
      m_ioc.restart();
      m_ioc.run_for(std::chrono::seconds(1));
      throw;
    }
    if (m_ec && ep.proxy)
      fail_proxy(fmt::format("could not resolve the proxy host {}: {}", tcp_host, m_ec.message()));
    if (m_ec) fail_connect("resolve", m_ec);

    auto& tcp = beast::get_lowest_layer(*m_stream);
    m_done = false;
    tcp.async_connect(endpoints, [this](boost::system::error_code ec, const net::ip::tcp::endpoint&) {
      m_ec = ec;
      m_done = true;
    });
    wait(deadline, ep.proxy ? "connecting to a proxy for" : "connecting to");
    if (m_ec && ep.proxy)
      fail_proxy(fmt::format("could not connect to proxy {}: {}", core::proxy_display(*ep.proxy),
                             m_ec.message()));
    if (m_ec) fail_connect("connect to", m_ec);
    tcp.socket().set_option(net::ip::tcp::no_delay(true), m_ec);
    if (ep.proxy) open_tunnel(deadline);

    run([this](auto handler) { m_stream->async_handshake(ssl::stream_base::client, std::move(handler)); },
        deadline, "in the TLS handshake with");
    if (m_ec) {
      const long verify = SSL_get_verify_result(ssl_handle);
      close();
      if (verify != X509_V_OK) {
        throw Error(ExitCode::connect,
                    fmt::format("TLS handshake with {} failed: certificate verification: {}{}", where(),
                                X509_verify_cert_error_string(verify),
                                ep.ca_file ? "" : " (for azhub emulate, pass its CA with --ca-file)"));
      }
      throw Error(ExitCode::connect, fmt::format("TLS handshake with {} failed: {}", where(), m_ec.message()));
    }
  }

};

}  // namespace tls_detail

using tls_detail::TlsConnection;
using tls_detail::tls_context;

}  // namespace azhub::service
