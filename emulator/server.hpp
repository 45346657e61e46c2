#pragma once
// The emulator's listeners on one io_context (docs/conventions.md §6): MQTT over TLS (--mqtt-port),
// AMQP over TLS (--amqp-port), the HTTPS port serving the REST API and MQTT and AMQP over
// WebSockets (--https-port), and optional plain MQTT (--tcp-port). Tracks every connection so
// stop() can close them all.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "emulator/log.hpp"
#include "emulator/http_router.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

class MqttSession;
class HttpsConnection;
class AmqpConnection;
class Clock;

struct ServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t mqtts_port = 8883;              // 0 = ephemeral
  std::uint16_t https_port = 8443;
  std::uint16_t amqps_port = 5671;
  std::optional<std::uint16_t> mqtt_port;       // plain TCP; off unless set
  Log log;
};

struct BoundPorts {
  std::uint16_t mqtts = 0;
  std::uint16_t https = 0;
  std::uint16_t amqps = 0;
  std::optional<std::uint16_t> mqtt;
};

class Server {
 public:
  // `rest` may be null (then non-WebSocket HTTPS requests get 404).
  Server(boost::asio::io_context& io, Hub& hub, Clock& clock, RestHandler* rest, boost::asio::ssl::context& tls,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on every port; throws Error(failure) naming the address and port that
  // could not be bound.
  BoundPorts listen();
  // Closes the acceptors and every connection; run() returns once the handlers drain.
  void stop();

 private:
  void accept_mqtts();
  void accept_https();
  void accept_mqtt();
  void accept_amqps();
  void start_session(std::unique_ptr<class ByteStream> stream, ConnectInfo info);
  void start_amqp(std::unique_ptr<class ByteStream> stream, const ConnectInfo& info);
  // Accepts on `acceptor`, runs the TLS handshake (10 s at most), then hands the stream on.
  void accept_tls(boost::asio::ip::tcp::acceptor& acceptor, const char* what,
                  std::function<void(std::unique_ptr<class ByteStream>, ConnectInfo)> start);
  boost::asio::ip::tcp::acceptor open_acceptor(std::uint16_t port, const char* what);

  boost::asio::io_context& m_io;
  Hub& m_hub;
  Clock& m_clock;
  RestHandler* m_rest;
  boost::asio::ssl::context& m_tls;
  ServerOptions m_options;
  std::optional<boost::asio::ip::tcp::acceptor> m_mqtts;
  std::optional<boost::asio::ip::tcp::acceptor> m_https;
  std::optional<boost::asio::ip::tcp::acceptor> m_mqtt;
  std::optional<boost::asio::ip::tcp::acceptor> m_amqps;
  std::uint16_t m_amqps_port = 0;
  std::map<MqttSession*, std::weak_ptr<MqttSession>> m_sessions;
  std::map<AmqpConnection*, std::weak_ptr<AmqpConnection>> m_amqp;
  std::vector<std::weak_ptr<HttpsConnection>> m_https_connections;
  bool m_stopped = false;
};

}  // namespace azhub::emulator
