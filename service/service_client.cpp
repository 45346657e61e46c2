#include "service/service_client.hpp"

#include <fmt/format.h>

#include "core/sas.hpp"

namespace azhub::service {

using core::Error;
using core::ExitCode;

namespace {

HttpsEndpoint endpoint_of(const ServiceClientOptions& options) {
  const auto& cs = options.connection;
  if (cs.kind != core::ConnectionString::Kind::service || !cs.shared_access_key_name ||
      !cs.shared_access_key) {
    throw core::usage_error(
        "service connection string: expected HostName=...;SharedAccessKeyName=...;SharedAccessKey=... "
        "(a device connection string does not work here)");
  }
  return HttpsEndpoint{cs.host_name, options.port, options.ca_file, options.proxy};
}

}  // namespace

ServiceClient::ServiceClient(ServiceClientOptions options)
    : m_options(std::move(options)),
      m_https(endpoint_of(m_options), m_options.interrupted, m_options.trace) {}

void ServiceClient::sign(core::ServiceRequest& request) const {
  // A fresh token per request: commands are short, and a long `monitor` reconnects never.
  const std::int64_t expiry = core::sas_expiry(m_options.now_unix_s(), m_options.token_ttl_s);
  const auto& cs = m_options.connection;
  request.headers.emplace_back(
      "Authorization", core::build_sas_token(cs.host_name, *cs.shared_access_key, expiry,
                                             std::string_view(*cs.shared_access_key_name)));
}

core::ServiceError ServiceClient::error_of(const HttpResponse& response) {
  const auto header = response.header("iothub-errorcode");
  std::optional<std::string_view> name;
  if (header) name = *header;
  return core::parse_service_error(response.status, response.body, name);
}

core::Error ServiceClient::error_for(const HttpResponse& response, std::string_view hint) {
  const auto error = error_of(response);
  std::string text = core::format_service_error(error);
  if (!hint.empty()) text += fmt::format(" ({})", hint);
  return Error(core::exit_code_of(error), text);
}

HttpResponse ServiceClient::call_unchecked(core::ServiceRequest request, Deadline deadline) {
  sign(request);
  return m_https.send(request, deadline);
}

HttpResponse ServiceClient::call(core::ServiceRequest request, Deadline deadline) {
  HttpResponse response = call_unchecked(std::move(request), deadline);
  if (response.status / 100 != 2) throw error_for(response);
  return response;
}

void ServiceClient::stream(core::ServiceRequest request,
                           const std::function<bool(std::string_view)>& on_data,
                           std::optional<Deadline> deadline) {
  sign(request);
  const HttpResponse response = m_https.stream(request, on_data, deadline);
  if (response.status / 100 != 2) throw error_for(response);
}

bool ServiceClient::is_emulator(Deadline deadline) {
  const HttpResponse response = call_unchecked(core::build_emulator_health_request(), deadline);
  if (response.status / 100 == 2) return true;
  if (response.status == 404) return false;
  const auto error = error_of(response);
  throw Error(core::exit_code_of(error),
              fmt::format("checking for azhub emulate at {}: {}", host(), core::format_service_error(error)));
}

}  // namespace azhub::service
