#include "service/https_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include <fmt/format.h>
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
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "azhub/version.hpp"
#include "core/error.hpp"
#include "service/tls_connection.hpp"

namespace azhub::service {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using core::Error;
using core::ExitCode;

namespace {

constexpr std::size_t k_max_body_bytes = 16 * 1024 * 1024;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}


}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// Writes `request` on `conn` and reads the response (HttpsClient::send / stream).
struct HttpsExchange {
  TlsConnection& conn;
  beast::flat_buffer m_buffer;

  void write(const core::ServiceRequest& request, std::optional<Deadline> deadline) {
    const HttpsEndpoint& ep = conn.m_endpoint;
    const http::verb verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) throw Error(ExitCode::failure, "unknown HTTP method " + request.method);
    http::request<http::string_body> req{verb, request.target(), 11};
    req.set(http::field::host, ep.port == 443 ? ep.host : fmt::format("{}:{}", ep.host, ep.port));
    req.set(http::field::user_agent, std::string("azhub/") + k_version);
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : request.headers) req.insert(name, value);
    req.body() = request.body;
    if (!request.body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      req.prepare_payload();
    }
    conn.run([this, &req](auto handler) { http::async_write(*conn.m_stream, req, std::move(handler)); }, deadline,
        "sending a request to");
    if (conn.m_ec) conn.fail_connect("send a request to", conn.m_ec);
  }

  // Reads the response header, then the body piece by piece into `on_piece`.
  HttpResponse read(std::optional<Deadline> deadline, bool stream_2xx,
                    const std::function<bool(std::string_view)>& on_piece) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    conn.run([this, &parser](auto handler) { http::async_read_header(*conn.m_stream, m_buffer, parser, std::move(handler)); },
        deadline, "waiting for a response from");
    if (conn.m_ec) conn.fail_connect("read a response from", conn.m_ec);

    HttpResponse response;
    response.status = static_cast<int>(parser.get().result_int());
    for (const auto& field : parser.get()) {
      const auto name = field.name_string();
      const auto value = field.value();
      response.headers.emplace_back(lower(std::string_view(name.data(), name.size())),
                                    std::string(value.data(), value.size()));
    }
    const bool streaming = stream_2xx && response.status / 100 == 2;
    if (streaming && conn.m_trace) {
      // Tells a watcher (and the e2e tests) that the stream is open and events will follow.
      conn.m_trace(1, fmt::format("streaming the response from {}", conn.where()));
    }
    std::array<char, 16 * 1024> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      conn.run([this, &parser](auto handler) { http::async_read_some(*conn.m_stream, m_buffer, parser, std::move(handler)); },
          deadline, "reading a response from");
      const std::size_t got = chunk.size() - parser.get().body().size;
      if (conn.m_ec == http::error::need_buffer) conn.m_ec = {};
      const std::string_view piece(chunk.data(), got);
      if (streaming) {
        if (got > 0 && !on_piece(piece)) break;
      } else {
        if (response.body.size() + got > k_max_body_bytes) {
          throw Error(ExitCode::failure, fmt::format("the response from {} is too large", conn.where()));
        }
        response.body.append(piece);
      }
      if (conn.m_ec == http::error::end_of_stream || conn.m_ec == net::error::eof ||
          conn.m_ec == ssl::error::stream_truncated) {
        break;  // the server closed the connection: the body ends here
      }
      if (conn.m_ec) conn.fail_connect("read a response from", conn.m_ec);
    }
    return response;
  }
};

HttpsClient::HttpsClient(HttpsEndpoint endpoint, std::function<bool()> interrupted,
                         std::function<void(int, std::string_view)> trace)
    : m_endpoint(std::move(endpoint)), m_interrupted(std::move(interrupted)), m_trace(std::move(trace)) {}

HttpsClient::~HttpsClient() = default;

HttpResponse HttpsClient::send(const core::ServiceRequest& request, Deadline deadline) {
  return stream(request, {}, deadline);
}

HttpResponse HttpsClient::stream(const core::ServiceRequest& request,
                                 const std::function<bool(std::string_view)>& on_data,
                                 std::optional<Deadline> deadline) {
  const auto started = std::chrono::steady_clock::now();
  if (m_trace)
    m_trace(2, fmt::format(
                   "{} https://{}:{}{}{}", request.method, m_endpoint.host, m_endpoint.port,
                   request.target(),
                   m_endpoint.proxy ? " via proxy " + core::proxy_display(*m_endpoint.proxy) : ""));
  if (!m_tls) m_tls = tls_context(m_endpoint);
  TlsConnection conn(m_endpoint, m_interrupted, m_trace, m_tls);
  conn.connect(deadline);
  HttpsExchange exchange{conn, {}};
  exchange.write(request, deadline);
  HttpResponse response = exchange.read(deadline, static_cast<bool>(on_data), on_data);
  conn.close();
  if (m_trace) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    m_trace(1, fmt::format("{} {} -> {} ({} ms)", request.method, request.path, response.status, ms.count()));
  }
  return response;
}

}  // namespace azhub::service
