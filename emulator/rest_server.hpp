#pragma once
// The REST service API behind the HTTPS port (docs/protocol.md §12): routes each request,
// requires api-version, checks the service SAS token, runs the endpoint and answers with IoT
// Hub's headers (x-ms-request-id on every response, ETag, iothub-errorcode) and error bodies
// (§12.3). Runs on the io_context thread; never blocks it: method invocations answer when the
// device does, D2C streams are pushed as messages arrive.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "emulator/log.hpp"
#include "emulator/http_router.hpp"
#include "emulator/rest_api.hpp"
#include "emulator/rest_events.hpp"

namespace azhub::emulator {

class Clock;
class Hub;

struct RestServerOptions {
  // Log sink (same levels as HubOptions::log): 1 = each request's method, path and status,
  // and refusals; never tokens or keys.
  Log log;
  // Default interval of ": keep-alive" comments on D2C streams (?keepAlive=N overrides).
  std::chrono::seconds stream_keep_alive{15};
  // A D2C stream whose client has this much unsent output is ended, so a stalled reader
  // cannot make the emulator buffer without bound.
  std::size_t stream_max_pending_bytes = 8 * 1024 * 1024;
};

class RestServer : public RestHandler {
 public:
  RestServer(Hub& hub, Clock& clock, RestServerOptions options = {});
  ~RestServer() override;
  RestServer(const RestServer&) = delete;
  RestServer& operator=(const RestServer&) = delete;

  void handle(std::shared_ptr<HttpExchange> exchange) override;

 private:
  void serve(const std::shared_ptr<HttpExchange>& exchange, const std::string& request_id);
  [[nodiscard]] D2cStreamOptions stream_options(const RestRoute& route, const HttpRequest& request,
                                                const std::string& request_id) const;
  void reply(const std::shared_ptr<HttpExchange>& exchange, const std::string& request_id,
             RestReply result);
  [[nodiscard]] std::string make_request_id();
  void log(int level, std::string_view message) const;
  template <typename... Args>
  void log(int level, fmt::format_string<Args...> format, Args&&... args) const {
    m_options.log(level, format, std::forward<Args>(args)...);
  }

  Hub& m_hub;
  Clock& m_clock;
  RestServerOptions m_options;
  RestApi m_api;
  std::mt19937_64 m_random;
};

// A fresh random request id in UUID form ("3f0c...-...").
[[nodiscard]] std::string format_request_id(std::uint64_t high, std::uint64_t low);

}  // namespace azhub::emulator
