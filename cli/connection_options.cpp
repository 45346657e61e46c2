#include "cli/connection_options.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"

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
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw usage_error(fmt::format("--key-file: cannot read '{}': {}", path, std::strerror(errno)));
  }
  std::ostringstream content;
  content << file.rdbuf();
  std::string key = trim(content.str());
  if (key.empty()) throw usage_error(fmt::format("--key-file: '{}' is empty", path));
  return key;
}

void reject_with_connection_string(const ConnectionOptions& opt) {
  const auto conflict = [](bool present, std::string_view flag) {
    if (present) {
      throw usage_error(
          fmt::format("{} cannot be combined with {} (the connection string already "
                      "names the hub, identity and credentials)",
                      k_flag_c, flag));
    }
  };
  conflict(opt.hub.has_value(), "--hub");
  conflict(opt.device_id.has_value(), "--device-id");
  conflict(opt.module_id.has_value(), "--module-id");
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
    reject_with_connection_string(opt);
    return ConnectionStringInput{*opt.connection_string, std::string(k_flag_c)};
  }
  // Identity flags on the command line win over a connection string in the environment.
  if (opt.hub || opt.device_id || opt.module_id) return std::nullopt;
  for (std::string_view name : {k_env_connection_string, k_env_sdk_connection_string}) {
    if (std::optional<std::string> value = env(name); value && !trim(*value).empty()) {
      return ConnectionStringInput{*value, std::string(name)};
    }
  }
  return std::nullopt;
}

core::ConnectionString parse_connection_input(const ConnectionStringInput& input) {
  try {
    return core::parse_connection_string(input.text);
  } catch (const core::Error& e) {
    if (input.source == k_flag_c) throw;
    throw usage_error(fmt::format("{} (from env {})", e.what(), input.source));
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

}  // namespace azhub::cli
