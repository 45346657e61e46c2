#pragma once
// Connection options shared by every device command (and `azhub sas`), defined once.
#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/io.hpp"
#include "core/connection_string.hpp"
#include "core/identity.hpp"
#include "core/proxy.hpp"
#include "device/device_client.hpp"

namespace azhub::cli {

// What the user typed, before environment fallbacks and cross-checks.
struct ConnectionOptions {
  std::optional<std::string> connection_string;  // -c; env AZHUB_CONNECTION_STRING, IOTHUB_DEVICE_CONNECTION_STRING
  std::optional<std::string> hub;                // --hub
  std::optional<std::string> device_id;          // --device-id
  std::optional<std::string> module_id;          // --module-id
  std::optional<std::string> key;                // --key; env AZHUB_DEVICE_KEY
  std::optional<std::string> key_file;           // --key-file
  std::optional<std::string> sas_token;          // --sas-token
  std::optional<std::string> cert_file;          // --cert
  std::optional<std::string> cert_key_file;      // --cert-key
  std::optional<std::string> token_command;      // --token-command
};

// How to authenticate once resolved.
struct ResolvedConnection {
  core::Identity identity;
  std::optional<std::string> gateway_host;  // GatewayHostName: where TCP goes
  std::optional<std::string> key;           // base64 symmetric key
  std::optional<std::string> sas_token;     // fixed token
  std::optional<std::string> cert_file;
  std::optional<std::string> cert_key_file;
  std::optional<std::string> token_command;
  bool x509 = false;
};

// Adds -c/--connection-string, --hub, --device-id, --module-id, --key, --key-file to `cmd`.
void add_identity_options(CLI::App& cmd, ConnectionOptions& opt);

// Where a connection string came from, for messages: "-c/--connection-string" or the env name.
struct ConnectionStringInput {
  std::string text;
  std::string source;
};

// -c, else (unless --hub is given) env AZHUB_CONNECTION_STRING, then
// IOTHUB_DEVICE_CONNECTION_STRING. `source` is "-c/--connection-string" or "env NAME". Throws
// Error(usage) when a connection string is combined with --hub, --key or --key-file; callers
// decide about --device-id/--module-id (a service connection string may take them).
[[nodiscard]] std::optional<ConnectionStringInput> connection_string_input(
    const ConnectionOptions& opt, const Env& env);

// Parses `input`, naming the environment variable in messages when it came from there.
[[nodiscard]] core::ConnectionString parse_connection_input(const ConnectionStringInput& input);

// The base64 key from --key, --key-file or env AZHUB_DEVICE_KEY (in that order; --key and
// --key-file together are an error); nullopt when none is given. Throws Error(usage) for an
// unreadable file or a key that is not base64. Messages never contain the key.
[[nodiscard]] std::optional<std::string> resolve_key(const ConnectionOptions& opt, const Env& env);

// Throws Error(usage) unless `host` is a plain host name (no scheme, port, path or spaces).
void validate_hub_host(const std::string& host, std::string_view flag);

// Applies the environment fallbacks and the "-c or --hub/--device-id" checks; reads
// --key-file. Throws Error(usage) naming the flag on any inconsistency.
[[nodiscard]] ResolvedConnection resolve_connection(const ConnectionOptions& opt, const Env& env);

// --- HTTP CONNECT proxy (device commands over WebSockets, service commands) -------------------

inline constexpr const char* k_proxy_help =
    "HTTP proxy http://[USER:PASSWORD@]HOST[:PORT] (default: env https_proxy, HTTPS_PROXY, "
    "all_proxy; NO_PROXY applies)";

// The proxy variables of core::k_proxy_environment that `env` has.
[[nodiscard]] core::ProxyEnvironment read_proxy_environment(const Env& env);

// The proxy for a connection to `host` (core::select_proxy over --proxy `flag` and io.env);
// traces the choice at -vv, never the credentials. Throws Error(usage) for a malformed URL.
[[nodiscard]] std::optional<core::ProxyUrl> resolve_proxy(const std::optional<std::string>& flag,
                                                          const Io& io, std::string_view host,
                                                          core::TargetScheme scheme);

// --- device transport (every device command) ----------------------------------------------------

// The one meaning of --ca-file, for device and service commands alike: the system trust store
// plus the CA certificates in FILE.
inline constexpr const char* k_ca_file_help =
    "Also trust the CA certificates in FILE (PEM), besides the system's";

// What the user typed for the session itself, on top of the identity.
struct DeviceConnectionOptions {
  ConnectionOptions identity;
  std::optional<int> port;               // --port: 8883 (mqtt) or 443 (ws)
  std::optional<std::string> ca_file;    // --ca-file: added to the system trust store
  std::string transport = "mqtt";        // --transport mqtt|ws
  bool no_tls = false;                   // --no-tls: plain TCP, loopback only
  int keep_alive_s = 60;                 // --keep-alive
  std::optional<std::string> model_id;   // --model-id (Plug and Play DTMI)
  std::string token_ttl = "3600";        // --token-ttl DURATION (bare number: seconds)
  std::optional<std::string> proxy;      // --proxy URL (--transport ws); env: core/proxy.hpp
};

// Adds the identity options plus --sas-token, --cert, --cert-key, --token-command, --port,
// --ca-file, --transport, --no-tls, --keep-alive, --model-id, --token-ttl and --proxy to `cmd`.
void add_device_connection_options(CLI::App& cmd, DeviceConnectionOptions& opt);

// Everything DeviceClient needs, checked: resolve_connection plus the transport rules (--no-tls
// only to a loopback host, --proxy only over WebSockets, files readable, ranges). Throws
// Error(usage) naming the flag. `io` supplies the environment, clock, trace and Ctrl-C flag.
[[nodiscard]] device::DeviceSettings resolve_device_settings(const DeviceConnectionOptions& opt,
                                                             const Io& io);

}  // namespace azhub::cli
