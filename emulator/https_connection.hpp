#pragma once
// One connection to the HTTPS port: TLS handshake (client certificate requested), then HTTP/1.1
// requests. A WebSocket upgrade on /$iothub/websocket becomes an MqttSession (subprotocol
// "mqtt") or an AmqpConnection ("AMQPWSB10") over WebSockets; every other request goes to the
// RestHandler as an HttpExchange.
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "emulator/log.hpp"
#include "emulator/byte_stream.hpp"
#include "emulator/http_router.hpp"
#include "emulator/durable_gate.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

class MqttSession;

class HttpsConnection : public std::enable_shared_from_this<HttpsConnection> {
 public:
  using Log = emulator::Log;
  // `start_stream` takes over an upgraded WebSocket, with the subprotocol chosen ("mqtt" or
  // "AMQPWSB10"); the server tracks the session.
  using StartStream = std::function<void(std::string_view subprotocol, std::unique_ptr<ByteStream>, ConnectInfo)>;
  // `hub`: its output waits for the hub's group commit (Hub::when_durable).
  HttpsConnection(std::unique_ptr<WsSocket> ws, std::string peer, Hub& hub, RestHandler* rest, Log log,
                  StartStream start_stream);
  ~HttpsConnection();

  void start();
  void close();  // server shutdown
  [[nodiscard]] bool closed() const { return m_closed; }

  // Used by the exchange:
  void write(std::string bytes, bool close_after);
  void respond(HttpResponse response, bool keep_alive);
  void add_close_listener(std::function<void()> fn);
  [[nodiscard]] std::size_t pending_bytes() const { return m_pending; }
  void watch_for_close();  // while streaming: a read that only detects the client leaving
  [[nodiscard]] const std::string& peer() const { return m_peer; }

 private:
  void read_request();
  void on_request();
  void upgrade(HttpRequest request);
  void do_write();
  void finish();

  std::unique_ptr<WsSocket> m_ws;
  std::string m_peer;
  DurableGate m_gate;  // output waits for the hub's group commit
  RestHandler* m_rest;
  Log m_log;
  StartStream m_start_stream;
  std::optional<PeerCertificate> m_cert;
  boost::beast::flat_buffer m_buffer;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> m_parser;
  std::deque<std::pair<std::string, bool>> m_out;  // bytes, close after
  std::size_t m_pending = 0;
  bool m_writing = false;
  bool m_closed = false;
  bool m_upgraded = false;
  bool m_cert_checked = false;  // TLS handshake finished
  bool m_read_next = false;  // read the next request once the response is written
  std::vector<std::function<void()>> m_close_listeners;
  char m_probe = 0;
};

}  // namespace azhub::emulator
