#include "emulator/https_connection.hpp"

#include <sstream>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <fmt/format.h>

#include "core/topics.hpp"
#include "emulator/certificates.hpp"

namespace azhub::emulator {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

namespace {

constexpr std::size_t k_body_limit = 1024 * 1024;

std::string serialize_response(HttpResponse& response) {
  response.prepare_payload();
  std::ostringstream os;
  os << response;
  return os.str();
}

// The subprotocol to answer with: "mqtt" or "AMQPWSB10" (docs/protocol.md §1, §15.1), the
// first of them the client offers; empty when it offers neither.
std::string_view chosen_subprotocol(const HttpRequest& request) {
  auto it = request.find(http::field::sec_websocket_protocol);
  if (it == request.end()) return {};
  std::string_view value(it->value().data(), it->value().size());
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view item = value.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == core::k_websocket_mqtt_subprotocol) return core::k_websocket_mqtt_subprotocol;
    if (item == core::k_websocket_amqp_subprotocol) return core::k_websocket_amqp_subprotocol;
    start = end + 1;
  }
  return {};
}

// The exchange handed to the REST handler.
class Exchange final : public HttpExchange {
 public:
  Exchange(std::shared_ptr<HttpsConnection> conn, HttpRequest request)
      : m_conn(std::move(conn)), m_request(std::move(request)) {}
  ~Exchange() override {
    if (!m_done && !m_conn->closed()) {
      HttpResponse r{http::status::internal_server_error, m_request.version()};
      r.set(http::field::content_type, "application/json; charset=utf-8");
      r.body() = R"({"Message":"request dropped by the emulator","ExceptionMessage":""})";
      m_conn->respond(std::move(r), false);
    }
  }
  const HttpRequest& request() const override { return m_request; }
  std::string peer() const override { return m_conn->peer(); }
  void respond(HttpResponse response) override {
    if (m_done) return;
    m_done = true;
    m_conn->respond(std::move(response), m_request.keep_alive());
  }
  void start_stream(HttpResponseHeader header) override {
    if (m_done) return;
    m_done = true;
    m_streaming = true;
    header.version(m_request.version());
    header.set(http::field::transfer_encoding, "chunked");
    header.erase(http::field::content_length);
    std::ostringstream os;
    os << header;
    m_conn->write(os.str(), false);
    m_conn->watch_for_close();
  }
  void write_chunk(std::string data) override {
    if (!m_streaming || data.empty()) return;
    m_conn->write(fmt::format("{:x}\r\n", data.size()) + data + "\r\n", false);
  }
  void end_stream() override {
    if (!m_streaming) return;
    m_streaming = false;
    m_conn->write("0\r\n\r\n", true);
  }
  void on_closed(std::function<void()> fn) override { m_conn->add_close_listener(std::move(fn)); }
  bool closed() const override { return m_conn->closed(); }
  std::size_t pending_bytes() const override { return m_conn->pending_bytes(); }

 private:
  std::shared_ptr<HttpsConnection> m_conn;
  HttpRequest m_request;
  bool m_done = false;
  bool m_streaming = false;
};

}  // namespace

HttpsConnection::HttpsConnection(std::unique_ptr<WsSocket> ws, std::string peer, Hub& hub, RestHandler* rest,
                                 Log log, StartStream start_stream)
    : m_ws(std::move(ws)),
      m_peer(std::move(peer)),
      m_gate(hub),
      m_rest(rest),
      m_log(std::move(log)),
      m_start_stream(std::move(start_stream)) {}

HttpsConnection::~HttpsConnection() = default;

void HttpsConnection::start() {
  // A client that never completes the handshake must not hold its socket forever.
  auto deadline = std::make_shared<boost::asio::steady_timer>(m_ws->get_executor(), std::chrono::seconds(10));
  deadline->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->m_closed || self->m_upgraded) return;
    if (self->m_cert_checked) return;
    self->close();
  });
  m_ws->next_layer().async_handshake(
      boost::asio::ssl::stream_base::server,
      [self = shared_from_this(), deadline](const boost::system::error_code& ec) {
        deadline->cancel();
        self->m_cert_checked = true;
        if (ec) {
          self->m_log(1, "https: TLS handshake with {} failed: {}", self->m_peer, ec.message());
          self->finish();
          return;
        }
        self->m_cert = describe_peer_certificate(self->m_ws->next_layer().native_handle());
        self->read_request();
      });
}

void HttpsConnection::read_request() {
  if (m_closed) return;
  m_parser.emplace();
  m_parser->body_limit(k_body_limit);
  http::async_read(m_ws->next_layer(), m_buffer, *m_parser,
                   [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                     if (ec) {
                       if (ec != http::error::end_of_stream && self->m_log && !self->m_closed)
                         self->m_log(2, "https: {}: {}", self->m_peer, ec.message());
                       self->finish();
                       return;
                     }
                     self->on_request();
                   });
}

void HttpsConnection::on_request() {
  HttpRequest request = m_parser->release();
  std::string_view target(request.target().data(), request.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  if (websocket::is_upgrade(request) && (path == core::k_websocket_path || path == core::k_servicebus_websocket_path)) {
    upgrade(std::move(request));
    return;
  }
  if (m_rest == nullptr) {
    HttpResponse r{http::status::not_found, request.version()};
    r.set(http::field::content_type, "application/json; charset=utf-8");
    r.body() = R"({"Message":"no REST API in this build","ExceptionMessage":""})";
    respond(std::move(r), request.keep_alive());
    return;
  }
  try {
    m_rest->handle(std::make_shared<Exchange>(shared_from_this(), std::move(request)));
  } catch (const std::exception& e) {
    // Never let an exception leave the io_context (docs/conventions.md §3); the dropped exchange has
    // already answered 500.
    m_log(1, "https: request from {} failed: {}", m_peer, e.what());
  }
}

void HttpsConnection::upgrade(HttpRequest request) {
  const std::string_view subprotocol = chosen_subprotocol(request);
  if (subprotocol.empty()) {
    HttpResponse r{http::status::bad_request, request.version()};
    r.set(http::field::content_type, "text/plain");
    r.body() = fmt::format("WebSocket subprotocol '{}' or '{}' required\n", core::k_websocket_mqtt_subprotocol,
                           core::k_websocket_amqp_subprotocol);
    respond(std::move(r), false);
    return;
  }
  m_upgraded = true;
  m_ws->set_option(websocket::stream_base::decorator([subprotocol](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, std::string(subprotocol));
  }));
  m_ws->read_message_max(1024 * 1024);
  m_ws->async_accept(request, [self = shared_from_this(), subprotocol](const boost::system::error_code& ec) {
    if (ec) {
      self->m_log(1, "wss: upgrade from {} failed: {}", self->m_peer, ec.message());
      self->finish();
      return;
    }
    const bool amqp = subprotocol == core::k_websocket_amqp_subprotocol;
    ConnectInfo info{self->m_cert, amqp ? "amqpws" : "wss", self->m_peer};
    self->m_closed = true;  // the MQTT session or AMQP connection owns the socket from here
    self->m_start_stream(subprotocol, make_ws_stream(std::move(self->m_ws)), std::move(info));
    self->finish();
  });
}

void HttpsConnection::respond(HttpResponse response, bool keep_alive) {
  response.keep_alive(keep_alive);
  m_read_next = keep_alive;
  write(serialize_response(response), !keep_alive);
}

void HttpsConnection::write(std::string bytes, bool close_after) {
  if (m_closed) return;
  m_pending += bytes.size();
  m_out.emplace_back(std::move(bytes), close_after);
  do_write();
}

void HttpsConnection::do_write() {
  if (m_writing || m_closed) return;
  if (m_out.empty()) {
    if (m_read_next) {
      m_read_next = false;
      read_request();
    }
    return;
  }
  // Nothing goes out before what the hub stored for it is durable (a 200 after its write).
  // The resumption holds the connection: nothing else may while a response waits.
  if (!m_gate.ready([self = shared_from_this()] { self->do_write(); })) return;
  m_writing = true;
  boost::asio::async_write(
      m_ws->next_layer(), boost::asio::buffer(m_out.front().first),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        self->m_writing = false;
        if (ec) {
          self->finish();
          return;
        }
        bool close_after = self->m_out.front().second;
        self->m_pending -= self->m_out.front().first.size();
        self->m_out.pop_front();
        if (close_after) {
          self->close();
          return;
        }
        self->do_write();
      });
}

void HttpsConnection::watch_for_close() {
  // Streams never read a request body, so any read completion means the client went away
  // (or misbehaves): either way the stream ends.
  m_ws->next_layer().async_read_some(boost::asio::buffer(&m_probe, 1),
                                     [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
                                       self->close();
                                     });
}

void HttpsConnection::add_close_listener(std::function<void()> fn) {
  if (m_closed && !m_upgraded) {
    fn();
    return;
  }
  m_close_listeners.push_back(std::move(fn));
}

void HttpsConnection::close() {
  if (m_upgraded) return;
  if (!m_closed) {
    m_closed = true;
    boost::system::error_code ignored;
    m_ws->next_layer().next_layer().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    m_ws->next_layer().next_layer().close(ignored);
  }
  finish();
}

void HttpsConnection::finish() {
  if (!m_upgraded && !m_closed) {
    m_closed = true;
    boost::system::error_code ignored;
    m_ws->next_layer().next_layer().close(ignored);
  }
  auto listeners = std::move(m_close_listeners);
  m_close_listeners.clear();
  for (auto& fn : listeners) fn();
}

}  // namespace azhub::emulator
