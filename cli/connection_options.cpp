#include "cli/connection_options.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "azhub/version.hpp"
#include "device/credentials.hpp"
#include "core/duration.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"

namespace azhub::cli {
namespace {

using core::usage_error;

constexpr std::string_view k_env_connection_string = "AZHUB_CONNECTION_STRING";
constexpr std::string_view k_env_sdk_connection_string = "IOTHUB_DEVICE_CONNECTION_STRING";
constexpr std::string_view k_env_device_key = "AZHUB_DEVICE_KEY";
constexpr std::string_view k_flag_c = "-c/--connection-string";

std::string trim(std::string_view s) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

std::string read_key_file(const std::string& path) {
  std::string key = trim(read_file_argument(path, "--key-file"));
  if (key.empty()) throw usage_error(fmt::format("--key-file: '{}' is empty", path));
  return key;
}

void reject_with_connection_string(const ConnectionOptions& opt, std::string_view source) {
  const auto conflict = [&](bool present, std::string_view flag) {
    if (present) {
      throw usage_error(
          fmt::format("{} cannot be combined with {} (the connection string already "
                      "names the hub and the credentials)",
                      source, flag));
    }
  };
  conflict(opt.hub.has_value(), "--hub");
  conflict(opt.key.has_value(), "--key");
  conflict(opt.key_file.has_value(), "--key-file");
}

}  // namespace

void add_identity_options(CLI::App& cmd, ConnectionOptions& opt) {
  const std::string group = "Connection";
  cmd.add_option("-c,--connection-string", opt.connection_string,
                 "Connection string (default: env AZHUB_CONNECTION_STRING)")
      ->group(group);
  cmd.add_option("--hub", opt.hub, "IoT Hub host name, e.g. myhub.azure-devices.net")
      ->type_name("HOST")
      ->group(group);
  cmd.add_option("--device-id", opt.device_id, "Device id (with --hub)")
      ->type_name("ID")
      ->group(group);
  cmd.add_option("--module-id", opt.module_id, "Module id (with --device-id)")
      ->type_name("ID")
      ->group(group);
  cmd.add_option("--key", opt.key, "Base64 symmetric key (default: env AZHUB_DEVICE_KEY)")
      ->type_name("BASE64")
      ->group(group);
  cmd.add_option("--key-file", opt.key_file, "Read the base64 symmetric key from FILE")
      ->type_name("FILE")
      ->group(group);
}

std::optional<ConnectionStringInput> connection_string_input(const ConnectionOptions& opt,
                                                             const Env& env) {
  if (opt.connection_string) {
    reject_with_connection_string(opt, k_flag_c);
    return ConnectionStringInput{*opt.connection_string, std::string(k_flag_c)};
  }
  // --hub on the command line wins over a connection string in the environment.
  if (opt.hub) return std::nullopt;
  for (std::string_view name : {k_env_connection_string, k_env_sdk_connection_string}) {
    if (std::optional<std::string> value = env(name); value && !trim(*value).empty()) {
      const std::string source = fmt::format("env {}", name);
      reject_with_connection_string(opt, source);
      return ConnectionStringInput{*value, source};
    }
  }
  return std::nullopt;
}

core::ConnectionString parse_connection_input(const ConnectionStringInput& input) {
  try {
    return core::parse_connection_string(input.text);
  } catch (const core::Error& e) {
    if (input.source == k_flag_c) throw;
    throw usage_error(fmt::format("{} (from {})", e.what(), input.source));
  }
}

std::optional<std::string> resolve_key(const ConnectionOptions& opt, const Env& env) {
  if (opt.key && opt.key_file) throw usage_error("--key and --key-file cannot be combined");
  std::optional<std::string> key;
  std::string source;
  if (opt.key) {
    key = trim(*opt.key);
    source = "--key";
  } else if (opt.key_file) {
    key = read_key_file(*opt.key_file);
    source = fmt::format("--key-file '{}'", *opt.key_file);
  } else if (std::optional<std::string> value = env(k_env_device_key); value) {
    key = trim(*value);
    source = fmt::format("env {}", k_env_device_key);
  }
  if (!key) return std::nullopt;
  if (key->empty()) throw usage_error(fmt::format("{}: the key is empty", source));
  if (!core::base64_decode(*key)) {
    throw usage_error(fmt::format("{}: the key is not valid base64", source));
  }
  return key;
}

void validate_hub_host(const std::string& host, std::string_view flag) {
  if (host.empty()) throw usage_error(fmt::format("{} is empty", flag));
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || std::isspace(u) != 0 || u < 0x20 || u >= 0x7F) {
      throw usage_error(fmt::format(
          "{} must be a plain host name such as myhub.azure-devices.net (no scheme, port or path)",
          flag));
    }
  }
}

ResolvedConnection resolve_connection(const ConnectionOptions& opt, const Env& env) {
  ResolvedConnection out;
  out.token_command = opt.token_command;
  if (std::optional<ConnectionStringInput> input = connection_string_input(opt, env)) {
    if (opt.sas_token)
      throw usage_error(fmt::format("{} cannot be combined with --sas-token", k_flag_c));
    core::ConnectionString cs = parse_connection_input(*input);
    if (cs.kind == core::ConnectionString::Kind::service) {
      throw usage_error(fmt::format(
          "{}: this is a service (policy) connection string; device commands need a device one "
          "(HostName=...;DeviceId=...;SharedAccessKey=...)",
          input->source));
    }
    if (cs.x509) {
      if (!opt.cert_file || !opt.cert_key_file) {
        throw usage_error(fmt::format(
            "{}: x509=true needs the device certificate: pass --cert FILE and --cert-key FILE",
            input->source));
      }
    } else if (opt.cert_file || opt.cert_key_file) {
      throw usage_error(
          fmt::format("{} cannot be combined with a connection string without x509=true",
                      opt.cert_file ? "--cert" : "--cert-key"));
    }
    if (opt.device_id || opt.module_id) {
      throw usage_error(
          fmt::format("{} cannot be combined with {} (the connection string already "
                      "names the device)",
                      input->source, opt.device_id ? "--device-id" : "--module-id"));
    }
    out.identity = core::Identity{cs.host_name, *cs.device_id, cs.module_id};
    out.gateway_host = cs.gateway_host_name;
    out.key = cs.shared_access_key;
    out.sas_token = cs.shared_access_signature;
    out.x509 = cs.x509;
    out.cert_file = opt.cert_file;
    out.cert_key_file = opt.cert_key_file;
    return out;
  }

  if (!opt.hub && !opt.device_id) {
    throw usage_error(
        fmt::format("no connection given: pass {} (or set {}), or --hub with --device-id", k_flag_c,
                    k_env_connection_string));
  }
  if (!opt.hub) throw usage_error("--device-id needs --hub (or use -c/--connection-string)");
  if (!opt.device_id) throw usage_error("--hub needs --device-id");
  validate_hub_host(*opt.hub, "--hub");
  core::validate_identity_id(*opt.device_id, "--device-id");
  if (opt.module_id) core::validate_identity_id(*opt.module_id, "--module-id");
  out.identity = core::Identity{*opt.hub, *opt.device_id, opt.module_id};

  const bool explicit_key = opt.key || opt.key_file;
  if (opt.sas_token && explicit_key) {
    throw usage_error(
        fmt::format("--sas-token cannot be combined with {}", opt.key ? "--key" : "--key-file"));
  }
  if (opt.cert_file && (explicit_key || opt.sas_token)) {
    throw usage_error(fmt::format("--cert cannot be combined with {}", opt.sas_token ? "--sas-token"
                                                                       : opt.key     ? "--key"
                                                                                 : "--key-file"));
  }
  if (opt.cert_key_file && !opt.cert_file) throw usage_error("--cert-key needs --cert");
  if (opt.cert_file && !opt.cert_key_file) throw usage_error("--cert needs --cert-key");
  if (opt.sas_token) {
    out.sas_token = *opt.sas_token;
    return out;
  }
  if (opt.cert_file) {
    out.x509 = true;
    out.cert_file = opt.cert_file;
    out.cert_key_file = opt.cert_key_file;
    return out;
  }
  out.key = resolve_key(opt, env);
  if (!out.key && !opt.token_command) {
    throw usage_error(
        fmt::format("no credentials for --device-id {}: pass --key or --key-file, or set {}",
                    *opt.device_id, k_env_device_key));
  }
  return out;
}

// --- device transport ---------------------------------------------------------------------------

namespace {

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

void require_readable(const std::optional<std::string>& path, std::string_view flag) {
  if (!path) return;
  require_file_argument(*path, flag);
}

}  // namespace

core::ProxyEnvironment read_proxy_environment(const Env& env) {
  core::ProxyEnvironment out;
  for (std::string_view name : core::k_proxy_environment)
    if (std::optional<std::string> value = env(name))
      out.emplace(std::string(name), std::move(*value));
  return out;
}

std::optional<core::ProxyUrl> resolve_proxy(const std::optional<std::string>& flag, const Io& io,
                                            std::string_view host, core::TargetScheme scheme) {
  core::ProxyChoice choice = core::select_proxy(flag, read_proxy_environment(io.env), host, scheme);
  if (choice.proxy)
    io.trace(2, fmt::format("proxy for {}: {} (from {})", host, core::proxy_display(*choice.proxy),
                            choice.source));
  else if (!choice.bypass.empty())
    io.trace(2, fmt::format("{} lists {}: connecting without a proxy", choice.bypass, host));
  return choice.proxy;
}

void add_device_connection_options(CLI::App& cmd, DeviceConnectionOptions& opt) {
  add_identity_options(cmd, opt.identity);
  const std::string group = "Connection";
  cmd.add_option("--sas-token", opt.identity.sas_token,
                 "Use this SAS token (not renewed; the session ends when it expires)")
      ->type_name("TOKEN")->group(group);
  cmd.add_option("--cert", opt.identity.cert_file, "X.509 client certificate (PEM)")
      ->type_name("FILE")->group(group);
  cmd.add_option("--cert-key", opt.identity.cert_key_file, "Private key of --cert (PEM)")
      ->type_name("FILE")->group(group);
  cmd.add_option("--token-command", opt.identity.token_command,
                 fmt::format("Run CMD through /bin/sh at every (re)connect; its stdout is the SAS "
                             "token (stopped after {} s)", device::k_token_command_timeout.count()))
      ->type_name("CMD")->group(group);
  cmd.add_option("--token-ttl", opt.token_ttl,
                 "Lifetime of tokens made from a key (renewed at 80 %)")
      ->type_name("DURATION")->group(group);
  cmd.add_option("--transport", opt.transport, "mqtt (port 8883) or ws (MQTT over WebSockets, 443)")
      ->check(CLI::IsMember({"mqtt", "ws"}))->group(group);
  cmd.add_option("--port", opt.port, "TCP port (default 8883, or 443 with --transport ws)")
      ->type_name("PORT")->group(group);
  cmd.add_option("--ca-file", opt.ca_file, k_ca_file_help)
      ->type_name("FILE")->group(group);
  cmd.add_flag("--no-tls", opt.no_tls, "Plain TCP (only to a loopback emulator)")->group(group);
  cmd.add_option("--keep-alive", opt.keep_alive_s, "MQTT keep-alive in seconds")
      ->type_name("SECONDS")->group(group);
  cmd.add_option("--model-id", opt.model_id, "IoT Plug and Play model id (dtmi:...)")
      ->type_name("DTMI")->group(group);
  cmd.add_option("--proxy", opt.proxy, k_proxy_help)->type_name("URL")->group(group);
}

device::DeviceSettings resolve_device_settings(const DeviceConnectionOptions& opt, const Io& io) {
  ResolvedConnection conn = resolve_connection(opt.identity, io.env);
  device::DeviceSettings s;
  s.identity = conn.identity;
  s.connect_host = conn.gateway_host.value_or(conn.identity.host);
  s.transport = opt.transport == "ws" ? device::Transport::websocket : device::Transport::mqtt;
  s.port = opt.port.value_or(s.transport == device::Transport::websocket ? 443 : 8883);
  if (s.port < 1 || s.port > 65535) throw usage_error(fmt::format("--port {} is not a TCP port", s.port));
  s.tls = !opt.no_tls;
  if (opt.no_tls) {
    if (!is_loopback_host(s.connect_host))
      throw usage_error(fmt::format("--no-tls is only allowed to a loopback emulator, not to '{}'",
                                    s.connect_host));
    if (conn.x509) throw usage_error("--no-tls cannot be combined with X.509 (--cert)");
    if (opt.ca_file) throw usage_error("--no-tls cannot be combined with --ca-file");
  }
  require_readable(opt.ca_file, "--ca-file");
  require_readable(conn.cert_file, "--cert");
  require_readable(conn.cert_key_file, "--cert-key");
  s.ca_file = opt.ca_file;
  s.cert_file = conn.cert_file;
  s.cert_key_file = conn.cert_key_file;
  if (opt.proxy && s.transport != device::Transport::websocket)
    throw usage_error("--proxy needs --transport ws (MQTT over TCP cannot go through an HTTP proxy)");
  if (s.transport == device::Transport::websocket)
    s.proxy = resolve_proxy(opt.proxy, io, s.connect_host,
                            s.tls ? core::TargetScheme::https : core::TargetScheme::http);
  core::validate_keep_alive(opt.keep_alive_s, "--keep-alive");
  s.keep_alive_s = opt.keep_alive_s;
  if (opt.model_id) {
    core::validate_model_id(*opt.model_id, "--model-id");
    s.model_id = opt.model_id;
  }
  const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(
      core::parse_duration(opt.token_ttl, "--token-ttl"));
  if (ttl.count() < 1) throw usage_error("--token-ttl must be at least 1s");
  s.product = std::string("azhub/") + k_version;

  const bool has_key = conn.key.has_value();
  if (conn.token_command && (has_key || conn.sas_token || conn.x509))
    throw usage_error(fmt::format("--token-command cannot be combined with {}",
                                  conn.x509 ? "X.509" : conn.sas_token ? "a SAS token" : "a key"));
  if (conn.token_command) {
    s.credentials = device::make_command_credentials(*conn.token_command, io.interrupted);
  } else if (conn.x509) {
    s.credentials = device::make_x509_credentials();
  } else if (conn.sas_token) {
    const std::optional<std::int64_t> expiry = device::token_expiry(*conn.sas_token);
    if (!expiry) throw usage_error("--sas-token: not a SAS token (SharedAccessSignature sr=...&sig=...&se=...)");
    if (*expiry <= io.now_unix_seconds()) throw usage_error("--sas-token: the token has expired (se is in the past)");
    s.credentials = device::make_fixed_credentials(*conn.sas_token);
  } else if (has_key) {
    s.credentials = device::make_key_credentials(conn.identity, *conn.key, ttl.count());
  }
  s.trace = [&io](int level, std::string_view message) { io.trace(level, message); };
  s.now_unix_ms = io.now_unix_ms;
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  s.jitter = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  s.interrupted = io.interrupted;
  return s;
}

}  // namespace azhub::cli
