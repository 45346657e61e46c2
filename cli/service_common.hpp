#pragma once
// What every `azhub service ...` command shares: the service connection (-c or env
// AZHUB_SERVICE_CONNECTION_STRING, --port, --ca-file), the client built from it, and how a
// JSON document is printed. Each command group lives in its own cli/service_*.cpp.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/io.hpp"
#include "service/service_client.hpp"

namespace azhub::cli {

inline constexpr const char* k_env_service_connection_string = "AZHUB_SERVICE_CONNECTION_STRING";

struct ServiceOptions {
  std::optional<std::string> connection_string;  // -c; env AZHUB_SERVICE_CONNECTION_STRING
  std::uint16_t port = 443;                      // --port
  std::optional<std::string> ca_file;            // --ca-file: added to the system trust store
  std::optional<std::string> proxy;              // --proxy URL; env: core/proxy.hpp
};

// Adds -c/--connection-string, --port, --ca-file and --proxy to `cmd`.
void add_service_options(CLI::App& cmd, ServiceOptions& opt);

// The client for `opt`: the connection string from -c or the environment, parsed and checked
// to be a service (policy) one, and the proxy (--proxy, the environment, NO_PROXY). Throws
// Error(usage) naming the source otherwise.
[[nodiscard]] service::ServiceClient make_service_client(const ServiceOptions& opt, Io& io);

// The deadline for one plain REST call.
[[nodiscard]] service::Deadline request_deadline(std::chrono::seconds extra = std::chrono::seconds(0));

// Throws Error(usage) unless the hub is `azhub emulate` (C2D send and D2C read have no REST
// form on the real service, docs/protocol.md §12.4).
void require_emulator(service::ServiceClient& client, std::string_view command);

// Parses a response body as JSON; Error(failure) naming `what` when it is not.
[[nodiscard]] nlohmann::json parse_response_json(const std::string& body, std::string_view what);

// Text: indented JSON; -o json: one line. Then a newline, flushed.
void print_document(Io& io, const nlohmann::json& doc);

// Adders for the command groups under `azhub service` (cli/service_*.cpp).
void add_service_device_commands(CLI::App& service, Io& io);
void add_service_twin_commands(CLI::App& service, Io& io);
void add_service_invoke_command(CLI::App& service, Io& io);
void add_service_c2d_commands(CLI::App& service, Io& io);
void add_service_monitor_command(CLI::App& service, Io& io);
void add_service_query_command(CLI::App& service, Io& io);  // cli/service_query.cpp
void add_service_stats_command(CLI::App& service, Io& io);  // cli/service_query.cpp

}  // namespace azhub::cli
