#pragma once
// The cloud side of IoT Hub over HTTPS: signs every request with a policy SAS token from a
// service connection string (docs/protocol.md §3.2, "service / registry" scope, sr = host),
// sends it, and turns the hub's error responses (§12.3) into core::HubError with core/hub_errors.hpp's exit codes.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/connection_string.hpp"
#include "core/error.hpp"
#include "service/https_client.hpp"
#include "core/service_requests.hpp"

namespace azhub::service {

struct ServiceClientOptions {
  core::ConnectionString connection;   // service form: HostName, SharedAccessKeyName, SharedAccessKey
  std::uint16_t port = 443;
  std::optional<std::string> ca_file;  // PEM, trusted besides the system trust store
  std::optional<core::ProxyUrl> proxy;  // HTTP CONNECT proxy to tunnel through (core/proxy.hpp)
  std::int64_t token_ttl_s = 3600;
  std::function<std::int64_t()> now_unix_s;           // wall clock, for token expiry
  std::function<bool()> interrupted;                  // polled while waiting
  std::function<void(int, std::string_view)> trace;   // -v lines; never secrets
};


class ServiceClient {
 public:
  // Throws Error(usage) unless `options.connection` is a service (policy) connection string.
  explicit ServiceClient(ServiceClientOptions options);

  // Signs and sends `request`. Returns the response when the status is 2xx; otherwise throws
  // Error("<Name> (<code>): <message>") with core::exit_code_of's code.
  [[nodiscard]] HttpResponse call(core::ServiceRequest request, Deadline deadline);

  // As call(), but returns error responses instead of throwing.
  [[nodiscard]] HttpResponse call_unchecked(core::ServiceRequest request, Deadline deadline);

  // Streams a 2xx body into `on_data` (see HttpsClient::stream); throws as call() otherwise.
  void stream(core::ServiceRequest request, const std::function<bool(std::string_view)>& on_data,
              std::optional<Deadline> deadline);

  // True when the host answers GET /_emulator/health (azhub emulate), false on 404 (a real
  // hub). Throws for anything else.
  [[nodiscard]] bool is_emulator(Deadline deadline);

  // The error of a non-2xx `response`, parsed.
  [[nodiscard]] static core::ServiceError error_of(const HttpResponse& response);

  // The exception for a non-2xx `response`: "<Name> (<code>): <message>", then " (<hint>)" when
  // `hint` is not empty, with core::exit_code_of's code.
  [[nodiscard]] static core::Error error_for(const HttpResponse& response, std::string_view hint = {});

  [[nodiscard]] const std::string& host() const noexcept { return m_options.connection.host_name; }

 private:
  void sign(core::ServiceRequest& request) const;

  ServiceClientOptions m_options;
  HttpsClient m_https;
};

}  // namespace azhub::service
