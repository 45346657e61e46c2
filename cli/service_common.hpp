#pragma once
// What every `azhub service ...` command shares: the service connection (-c or env
// AZHUB_SERVICE_CONNECTION_STRING, --port, --ca-file), the client built from it, and how a
// JSON document is printed. Each command group lives in its own cli/service_*.cpp.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/io.hpp"
#include "core/sas.hpp"
#include "service/amqp_client.hpp"
#include "service/service_client.hpp"

namespace azhub::cli {

inline constexpr const char* k_env_service_connection_string = "AZHUB_SERVICE_CONNECTION_STRING";

struct ServiceOptions {
  std::optional<std::string> connection_string;  // -c; env AZHUB_SERVICE_CONNECTION_STRING
  std::uint16_t port = 443;                      // --port
  std::optional<std::string> ca_file;            // --ca-file: added to the system trust store
  std::optional<std::string> proxy;              // --proxy URL; env: core/proxy.hpp
};

// How a command that has an AMQP form reaches the hub (docs/protocol.md §15): --transport amqp
// (AMQPS on --amqp-port, default 5671), amqp-ws (AMQP over WebSockets on --port, default 443),
// or, where a command offers it, rest (azhub emulate's /_emulator/ REST path).
struct AmqpOptions {
  std::string transport = "amqp";
  std::uint16_t amqp_port = 5671;
  std::string token_ttl = "1h";  // --token-ttl
};
// AMQP tokens live an hour by default and are put again at three quarters of their life (45
// minutes), as the service SDKs do (docs/protocol.md §15.3).
inline constexpr std::int64_t k_amqp_token_ttl_s = 3600;
struct TokenLifetime {
  std::int64_t ttl_s = k_amqp_token_ttl_s;
  std::chrono::milliseconds renew_after{k_amqp_token_ttl_s * 750};
};
// --token-ttl as a lifetime and its renewal time (3/4 of it, and at least 2 s before it ends).
// Throws Error(usage) for a bad duration or one under 4 s.
[[nodiscard]] TokenLifetime amqp_token_lifetime(const AmqpOptions& opt);
// A policy SAS token from `cs` for `resource`, valid `ttl_s` from now; `key` as IoT Hub
// (decoded) or Event Hubs (text) signs.
[[nodiscard]] std::string policy_token(const core::ConnectionString& cs, std::string_view resource, Io& io,
                                       std::int64_t ttl_s = k_amqp_token_ttl_s,
                                       core::SasKey key = core::SasKey::decoded);
// Adds --transport, --amqp-port and --token-ttl; `rest` adds the rest choice.
void add_amqp_options(CLI::App& cmd, AmqpOptions& opt, bool rest);
// The service connection string from -c or the environment, checked to be a policy one.
[[nodiscard]] core::ConnectionString service_connection(const ServiceOptions& opt, Io& io);
// An AMQP client connected to the hub of `opt` over `amqp`'s transport and authenticated with a
// policy SAS token for the hub (put on $cbs).
[[nodiscard]] std::unique_ptr<service::AmqpClient> open_amqp_client(const ServiceOptions& opt, const AmqpOptions& amqp,
                                                                    Io& io, service::Deadline deadline);
// Adds -c/--connection-string, --port, --ca-file and --proxy to `cmd`.
void add_service_options(CLI::App& cmd, ServiceOptions& opt);

// The client for `opt`: the connection string from -c or the environment, parsed and checked
// to be a service (policy) one, and the proxy (--proxy, the environment, NO_PROXY). Throws
// Error(usage) naming the source otherwise.
[[nodiscard]] service::ServiceClient make_service_client(const ServiceOptions& opt, Io& io);

// A duration flag the hub takes in whole seconds ("30s", "2m", "45"). Throws Error(usage)
// naming `flag` for a fraction of a second or an absurd length.
[[nodiscard]] int whole_seconds(const std::string& text, std::string_view flag);

// The deadline for one plain REST call.
[[nodiscard]] service::Deadline request_deadline(std::chrono::seconds extra = std::chrono::seconds(0));

// Throws Error(usage) unless the hub is `azhub emulate` (C2D send and D2C read have no REST
// form on the real service, docs/protocol.md §12.4).
void require_emulator(service::ServiceClient& client, std::string_view command);

// Parses a response body as JSON; Error(failure) naming `what` when it is not.
[[nodiscard]] nlohmann::json parse_response_json(const std::string& body, std::string_view what);

// Follows a paged answer (queries, the jobs query; docs/protocol.md §16.2): sends
// `request_for(token)` (no token for the first page), hands each page's JSON array to `on_page`,
// and goes on while the hub sends an x-ms-continuation token and `on_page` returns true.
// Returns the number of pages. Throws Error(failure) naming `what` when a page is not an array.
std::int64_t follow_pages(service::ServiceClient& client,
                          const std::function<core::ServiceRequest(std::optional<std::string_view>)>& request_for,
                          const std::function<bool(const nlohmann::json& rows)>& on_page, std::string_view what);

// Text: indented JSON; -o json: one line. Then a newline, flushed.
void print_document(Io& io, const nlohmann::json& doc);

// Adders for the command groups under `azhub service` (cli/service_*.cpp).
void add_service_device_commands(CLI::App& service, Io& io);
void add_service_twin_commands(CLI::App& service, Io& io);
void add_service_invoke_command(CLI::App& service, Io& io);
void add_service_c2d_commands(CLI::App& service, Io& io);
void add_service_monitor_command(CLI::App& service, Io& io);
void add_service_feedback_command(CLI::App& service, Io& io);  // cli/service_feedback.cpp
void add_service_query_command(CLI::App& service, Io& io);  // cli/service_query.cpp
void add_service_stats_command(CLI::App& service, Io& io);  // cli/service_query.cpp
void add_service_job_command(CLI::App& service, Io& io);    // cli/service_job.cpp

}  // namespace azhub::cli
