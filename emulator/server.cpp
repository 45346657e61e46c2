#include "emulator/server.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

#include "core/error.hpp"
#include "core/topics.hpp"
#include "emulator/amqp_connection.hpp"
#include "emulator/byte_stream.hpp"
#include "emulator/certificates.hpp"
#include "emulator/https_connection.hpp"
#include "emulator/mqtt_session.hpp"

namespace azhub::emulator {

using boost::asio::ip::tcp;

namespace {

std::string peer_of(const tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "?";
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

Server::Server(boost::asio::io_context& io, Hub& hub, Clock& clock, RestHandler* rest,
               boost::asio::ssl::context& tls, ServerOptions options)
    : m_io(io), m_hub(hub), m_clock(clock), m_rest(rest), m_tls(tls), m_options(std::move(options)) {}

Server::~Server() = default;

tcp::acceptor Server::open_acceptor(std::uint16_t port, const char* what) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(m_options.bind_address, ec);
  if (ec) throw core::usage_error(fmt::format("--bind: '{}' is not an IP address", m_options.bind_address));
  tcp::endpoint endpoint(address, port);
  tcp::acceptor acceptor(m_io);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw core::Error(core::ExitCode::failure, fmt::format("cannot listen for {} on {} port {}: {}", what,
                                                           m_options.bind_address, port, ec.message()));
  return acceptor;
}

BoundPorts Server::listen() {
  BoundPorts ports;
  m_mqtts.emplace(open_acceptor(m_options.mqtts_port, "MQTT over TLS"));
  ports.mqtts = m_mqtts->local_endpoint().port();
  m_https.emplace(open_acceptor(m_options.https_port, "HTTPS"));
  ports.https = m_https->local_endpoint().port();
  m_amqps.emplace(open_acceptor(m_options.amqps_port, "AMQP over TLS"));
  ports.amqps = m_amqps->local_endpoint().port();
  m_amqps_port = ports.amqps;
  if (m_options.mqtt_port) {
    m_mqtt.emplace(open_acceptor(*m_options.mqtt_port, "plain MQTT"));
    ports.mqtt = m_mqtt->local_endpoint().port();
  }
  accept_mqtts();
  accept_https();
  accept_amqps();
  if (m_mqtt) accept_mqtt();
  return ports;
}

void Server::start_session(std::unique_ptr<ByteStream> stream, ConnectInfo info) {
  if (m_stopped) return;
  auto session = std::make_shared<MqttSession>(m_io, std::move(stream), m_hub, std::move(info), m_options.log,
                                               [this](MqttSession* s) { m_sessions.erase(s); });
  m_sessions[session.get()] = session;
  session->start();
}

void Server::accept_mqtt() {
  m_mqtt->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (m_stopped) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::string peer = peer_of(socket);
      m_options.log(2, "mqtt: connection from {} (plain TCP)", peer);
      start_session(make_tcp_stream(std::move(socket)), ConnectInfo{std::nullopt, "mqtt", peer});
    }
    accept_mqtt();
  });
}

void Server::accept_tls(tcp::acceptor& acceptor, const char* what,
                        std::function<void(std::unique_ptr<ByteStream>, ConnectInfo)> start) {
  acceptor.async_accept([this, &acceptor, what, start](const boost::system::error_code& ec, tcp::socket socket) {
    if (m_stopped) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::string peer = peer_of(socket);
      std::unique_ptr<FdTlsStream> tls;
      try {
        tls = std::make_unique<FdTlsStream>(std::move(socket), m_tls.native_handle());
      } catch (const core::Error& e) {
        m_options.log(1, "{}: {} refused: {}", what, peer, e.what());
        accept_tls(acceptor, what, start);
        return;
      }
      FdTlsStream* raw = tls.get();
      // The handshake owns the stream until it completes; then the session does.
      auto holder = std::make_shared<std::unique_ptr<FdTlsStream>>(std::move(tls));
      // A client that never completes the handshake must not hold its socket forever.
      auto deadline = std::make_shared<boost::asio::steady_timer>(m_io, std::chrono::seconds(10));
      deadline->async_wait([holder](const boost::system::error_code& tec) {
        if (tec || !*holder) return;
        (*holder)->close();
      });
      raw->async_handshake([this, holder, peer, deadline, what, start](const boost::system::error_code& hec) {
        deadline->cancel();
        if (hec || m_stopped) {
          if (m_options.log)
            m_options.log(1, "{}: TLS handshake with {} failed: {}", what, peer,
                          hec ? hec.message() : "stopping");
          return;
        }
        ConnectInfo info{describe_peer_certificate((*holder)->native_handle()), what, peer};
        start(std::move(*holder), std::move(info));
      });
    }
    accept_tls(acceptor, what, start);
  });
}

void Server::accept_mqtts() {
  accept_tls(*m_mqtts, "mqtts",
             [this](std::unique_ptr<ByteStream> stream, ConnectInfo info) { start_session(std::move(stream), std::move(info)); });
}

void Server::accept_amqps() {
  accept_tls(*m_amqps, "amqps",
             [this](std::unique_ptr<ByteStream> stream, ConnectInfo info) { start_amqp(std::move(stream), info); });
}

void Server::start_amqp(std::unique_ptr<ByteStream> stream, const ConnectInfo& info) {
  if (m_stopped) return;
  AmqpEngineOptions options{info.peer, info.transport, m_amqps_port, m_options.log};
  auto conn = std::make_shared<AmqpConnection>(m_io, std::move(stream), m_hub, m_clock, std::move(options),
                                               [this](AmqpConnection* c) { m_amqp.erase(c); });
  m_amqp[conn.get()] = conn;
  conn->start();
}

void Server::accept_https() {
  m_https->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (m_stopped) return;
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::string peer = peer_of(socket);
      auto ws = std::make_unique<WsSocket>(std::move(socket), m_tls);
      auto conn = std::make_shared<HttpsConnection>(
          std::move(ws), peer, m_hub, m_rest, m_options.log,
          [this](std::string_view subprotocol, std::unique_ptr<ByteStream> stream, ConnectInfo info) {
            if (subprotocol == core::k_websocket_amqp_subprotocol) {
              start_amqp(std::move(stream), info);
            } else {
              start_session(std::move(stream), std::move(info));
            }
          });
      std::erase_if(m_https_connections, [](const auto& w) { return w.expired(); });
      m_https_connections.push_back(conn);
      conn->start();
    }
    accept_https();
  });
}

void Server::stop() {
  if (m_stopped) return;
  m_stopped = true;
  boost::system::error_code ignored;
  for (auto* a : {&m_mqtts, &m_https, &m_mqtt, &m_amqps}) {
    if (*a) (*a)->close(ignored);
  }
  m_hub.close_all("emulator shutting down");
  auto sessions = m_sessions;
  for (auto& [raw, weak] : sessions) {
    if (auto s = weak.lock()) s->close("emulator shutting down");
  }
  auto amqp = m_amqp;
  for (auto& [raw, weak] : amqp) {
    if (auto c = weak.lock()) c->close("emulator shutting down");
  }
  for (auto& weak : m_https_connections) {
    if (auto c = weak.lock()) c->close();
  }
  m_https_connections.clear();
}

}  // namespace azhub::emulator
