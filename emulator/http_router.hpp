#pragma once
// The seam between the HTTPS port and the REST service API. The server (emulator/server.cpp)
// owns the TLS connection: it reads each request, turns a WebSocket upgrade on
// /$iothub/websocket (with or without ?iothub-no-client-cert=true) into an MQTT session, and
// hands every other request to the RestHandler as an HttpExchange. All on the io_context
// thread.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/beast/http.hpp>

namespace azhub::emulator {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using HttpResponseHeader = boost::beast::http::response_header<>;

// One request and its response. Keep the shared_ptr for as long as the response is pending
// (e.g. a method invocation); dropping it unanswered sends 500.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  [[nodiscard]] virtual const HttpRequest& request() const = 0;
  [[nodiscard]] virtual std::string peer() const = 0;  // "127.0.0.1:40112"

  // Sends a complete response (Content-Length is set by the server; keep-alive follows the
  // request). Call once.
  virtual void respond(HttpResponse response) = 0;

  // Streaming response (D2C monitor): sends `header` with Transfer-Encoding: chunked, then
  // each write_chunk as one chunk, until end_stream(). The connection closes afterwards.
  virtual void start_stream(HttpResponseHeader header) = 0;
  virtual void write_chunk(std::string data) = 0;
  virtual void end_stream() = 0;
  // `fn` runs once when the client goes away or the server stops before the exchange ended
  // (so a stream can unsubscribe). Runs immediately if that already happened.
  virtual void on_closed(std::function<void()> fn) = 0;
  [[nodiscard]] virtual bool closed() const = 0;
  // Bytes handed to write_chunk that have not reached the socket yet, so a stream can give up
  // on a client that stopped reading (0 when the server does not track it).
  [[nodiscard]] virtual std::size_t pending_bytes() const { return 0; }
};

// Implemented by the REST service API (emulator/rest_server.*).
class RestHandler {
 public:
  virtual ~RestHandler() = default;
  virtual void handle(std::shared_ptr<HttpExchange> exchange) = 0;
};

}  // namespace azhub::emulator
