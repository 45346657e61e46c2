#pragma once
// A small HTTPS/1.1 client for the IoT Hub service REST API (docs/protocol.md §12.1) on
// Boost.Beast + OpenSSL: TLS 1.2+, the system trust store or a CA file, SNI, host name
// verification, optionally through an HTTP CONNECT proxy. One connection per request (the TLS
// settings and trust store are loaded once per client). Every
// wait honours a deadline and the interrupt flag, so no call blocks past what the caller allowed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/proxy.hpp"
#include "core/service_requests.hpp"

namespace boost::asio::ssl {
class context;
}

namespace azhub::service {

struct HttpsEndpoint {
  std::string host;                    // connect to, SNI, certificate name, Host header
  std::uint16_t port = 443;
  std::optional<std::string> ca_file;  // PEM, trusted besides the system trust store
  std::optional<core::ProxyUrl> proxy;  // when set: TCP to the proxy, CONNECT host:port, then TLS
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The value of header `name` (give it lower-case), or nullopt.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

using Deadline = std::chrono::steady_clock::time_point;

class HttpsClient {
 public:
  // `interrupted` is polled while waiting; `trace` receives one line per request (verbosity
  // level, text) and never sees header values.
  HttpsClient(HttpsEndpoint endpoint, std::function<bool()> interrupted,
              std::function<void(int, std::string_view)> trace);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Sends `request` and reads the whole response. Throws Error(connect) when the host cannot
  // be reached or TLS fails, Error(timeout) past `deadline`, Error(interrupted) on Ctrl-C.
  [[nodiscard]] HttpResponse send(const core::ServiceRequest& request, Deadline deadline);

  // Sends `request` and reads the response header. A 2xx body is handed to `on_data` piece by
  // piece as it arrives, until `on_data` returns false or the server ends it (the returned
  // body is then empty); any other status's body is read whole and returned. `deadline` as
  // for send(); nullopt waits for ever.
  [[nodiscard]] HttpResponse stream(const core::ServiceRequest& request,
                                    const std::function<bool(std::string_view)>& on_data,
                                    std::optional<Deadline> deadline);

  [[nodiscard]] const HttpsEndpoint& endpoint() const noexcept { return m_endpoint; }

 private:
  HttpsEndpoint m_endpoint;
  std::function<bool()> m_interrupted;
  std::function<void(int, std::string_view)> m_trace;
  // The TLS settings every request's connection shares (trust store read once).
  std::shared_ptr<boost::asio::ssl::context> m_tls;
};

}  // namespace azhub::service
