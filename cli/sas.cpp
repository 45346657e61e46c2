// azhub sas: prints a SAS token for a device, a module or a shared access policy.
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/connection_options.hpp"
#include "core/connection_string.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/sas.hpp"

namespace azhub::cli {
namespace {

using core::usage_error;

// 9999-12-31T23:59:59Z: beyond this an expiry cannot be shown as ISO 8601 and is surely a typo.
constexpr std::int64_t k_max_expiry = 253402300799;

struct SasOptions {
  ConnectionOptions conn;
  std::optional<std::string> policy;
  std::optional<std::string> ttl;
  std::optional<std::string> expiry;
};

// What to sign: the unencoded resource URI, the key and, for policy tokens, the policy name.
struct SasScope {
  std::string resource_uri;
  std::string key;
  std::optional<std::string> policy;
};

std::string resource_for(const std::string& host, const std::optional<std::string>& device_id,
                         const std::optional<std::string>& module_id) {
  if (module_id && !device_id) throw usage_error("--module-id needs --device-id");
  // A signing tool signs what it is asked to (other SDKs do too): only what would change the
  // resource's shape is refused, not ids the registry would refuse (docs/protocol.md §12.2).
  if (device_id) core::validate_id_segment(*device_id, "--device-id");
  if (module_id) core::validate_id_segment(*module_id, "--module-id");
  if (!device_id) return host;  // service scope (docs/protocol.md §3.2 table)
  return core::device_resource_uri(host, *device_id, module_id);
}

SasScope scope_from_connection_string(const SasOptions& opt, const ConnectionStringInput& input) {
  const core::ConnectionString cs = parse_connection_input(input);
  if (cs.kind == core::ConnectionString::Kind::service) {
    // A policy connection string: the token is for the hub, or for one device with --device-id.
    if (opt.policy && *opt.policy != *cs.shared_access_key_name) {
      throw usage_error(
          fmt::format("--policy {} does not match SharedAccessKeyName {} in the connection string",
                      *opt.policy, *cs.shared_access_key_name));
    }
    return SasScope{resource_for(cs.host_name, opt.conn.device_id, opt.conn.module_id),
                    *cs.shared_access_key, cs.shared_access_key_name};
  }
  if (opt.conn.device_id || opt.conn.module_id) {
    throw usage_error(fmt::format(
        "{} cannot be combined with {} (it is a device connection string; --device-id and "
        "--module-id go with a service connection string or --hub)",
        input.source, opt.conn.device_id ? "--device-id" : "--module-id"));
  }
  if (cs.x509) {
    throw usage_error(fmt::format(
        "{} uses x509=true (certificate authentication): there is no key to sign a SAS token with",
        input.source));
  }
  if (cs.shared_access_signature) {
    throw usage_error(fmt::format(
        "{} holds a fixed SharedAccessSignature and no key: azhub sas needs a SharedAccessKey to "
        "sign a new token",
        input.source));
  }
  if (opt.policy) {
    throw usage_error(fmt::format(
        "--policy needs a policy key: use a service connection string "
        "(HostName=...;SharedAccessKeyName=...;SharedAccessKey=...) or --hub with --key; {} holds "
        "a device key",
        input.source));
  }
  return SasScope{core::device_resource_uri(cs.host_name, *cs.device_id, cs.module_id),
                  *cs.shared_access_key, std::nullopt};
}

SasScope scope_from_flags(const SasOptions& opt, const Env& env) {
  if (!opt.conn.hub) {
    throw usage_error(
        "no connection given: pass -c/--connection-string (or set AZHUB_CONNECTION_STRING), or "
        "--hub with --device-id and --key");
  }
  validate_hub_host(*opt.conn.hub, "--hub");
  if (!opt.policy && !opt.conn.device_id) {
    throw usage_error("--hub needs --device-id (or --policy NAME for a policy token)");
  }
  std::optional<std::string> key = resolve_key(opt.conn, env);
  if (!key) {
    throw usage_error(
        fmt::format("no key to sign with: pass --key or --key-file, or set AZHUB_DEVICE_KEY{}",
                    opt.policy ? " (the key of policy " + *opt.policy + ")" : ""));
  }
  return SasScope{resource_for(*opt.conn.hub, opt.conn.device_id, opt.conn.module_id),
                  std::move(*key), opt.policy};
}

SasScope resolve_scope(const SasOptions& opt, const Env& env) {
  if (opt.policy && opt.policy->empty()) throw usage_error("--policy is empty");
  if (std::optional<ConnectionStringInput> input = connection_string_input(opt.conn, env)) {
    return scope_from_connection_string(opt, *input);
  }
  return scope_from_flags(opt, env);
}

std::int64_t parse_expiry(const std::string& text) {
  std::int64_t value = 0;
  bool ok = !text.empty() && text.size() <= 18;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) value = value * 10 + (c - '0');
  }
  if (!ok || value <= 0) {
    throw usage_error(fmt::format(
        "--expiry: '{}' is not a Unix time (a positive whole number of seconds since 1970)", text));
  }
  if (value > k_max_expiry)
    throw usage_error(fmt::format("--expiry: {} is after year 9999", value));
  return value;
}

std::int64_t parse_ttl_seconds(const std::string& text) {
  if (text.starts_with('-'))
    throw usage_error(fmt::format("--ttl: '{}' must be more than 0", text));
  std::chrono::milliseconds ttl{};
  try {
    ttl = core::parse_duration(text, "--ttl");
  } catch (const core::Error&) {
    throw usage_error(fmt::format(
        "--ttl: '{}' is not a number of seconds (or a duration such as 30m, 12h)", text));
  }
  if (ttl.count() <= 0) throw usage_error(fmt::format("--ttl: '{}' must be more than 0", text));
  if (ttl.count() % 1000 != 0) {
    throw usage_error(fmt::format("--ttl: '{}' is not a whole number of seconds", text));
  }
  return ttl.count() / 1000;
}

std::int64_t resolve_expiry(const SasOptions& opt, const Io& io) {
  if (opt.ttl && opt.expiry) throw usage_error("--ttl and --expiry cannot be combined");
  if (opt.expiry) {
    const std::int64_t expiry = parse_expiry(*opt.expiry);
    if (expiry <= io.now_unix_seconds()) {
      io.trace(0, fmt::format("warning: --expiry {} ({}) is in the past; IoT Hub will refuse "
                              "this token",
                              expiry, core::format_iso8601(expiry * 1000)));
    }
    return expiry;
  }
  const std::int64_t ttl = opt.ttl ? parse_ttl_seconds(*opt.ttl) : 3600;
  const std::int64_t expiry = core::sas_expiry(io.now_unix_seconds(), ttl);
  if (expiry > k_max_expiry)
    throw usage_error(fmt::format("--ttl: expiry would be after year 9999"));
  return expiry;
}

void print_token(const Io& io, const std::string& token, const SasScope& scope,
                 std::int64_t expiry) {
  if (io.json()) {
    const nlohmann::ordered_json record = {{"token", token},
                                           {"resourceUri", scope.resource_uri},
                                           {"expiry", expiry},
                                           {"expiryIso", core::format_iso8601(expiry * 1000)}};
    io.out << record.dump() << '\n';
  } else {
    io.out << token << '\n';
  }
}

// CLI11 prints a subcommand's description both in the parent's list and atop its own help;
// this keeps the list entry to one line and shows the long text in `azhub sas --help`.
class LongDescriptionFormatter : public CLI::Formatter {
 public:
  explicit LongDescriptionFormatter(std::string text) : m_text(std::move(text)) {}
  std::string make_description(const CLI::App*) const override { return m_text + "\n\n"; }

 private:
  std::string m_text;
};

void run_sas(const SasOptions& opt, Io& io) {
  const SasScope scope = resolve_scope(opt, io.env);
  const std::int64_t expiry = resolve_expiry(opt, io);
  const std::string token = core::build_sas_token(
      scope.resource_uri, scope.key, expiry,
      scope.policy ? std::optional<std::string_view>(*scope.policy) : std::nullopt);
  io.trace(1, fmt::format("signed a token for {}{} expiring at {}", scope.resource_uri,
                          scope.policy ? " with policy " + *scope.policy : "",
                          core::format_iso8601(expiry * 1000)));
  print_token(io, token, scope, expiry);
}

}  // namespace

void add_sas_command(CLI::App& app, Io& io) {
  auto opt = std::make_shared<SasOptions>();
  CLI::App* cmd = app.add_subcommand("sas", "Print a SAS token for a device, module or policy");
  cmd->formatter(std::make_shared<LongDescriptionFormatter>(
      "Print a shared access signature (SAS) token on stdout. A device or module token is signed\n"
      "with the identity's key; a policy token (--policy, or a service connection string) with "
      "the\n"
      "policy key, for the whole hub or, with --device-id, for one device. The key is never\n"
      "printed."));
  add_identity_options(*cmd, opt->conn);
  cmd->add_option("--policy", opt->policy, "Policy name (skn) for a policy token signed with --key")
      ->type_name("NAME")
      ->group("Token");
  cmd->add_option("--ttl", opt->ttl, "Lifetime from now in seconds, or 30m, 12h... (default 3600)")
      ->type_name("SECONDS")
      ->group("Token");
  cmd->add_option("--expiry", opt->expiry, "Absolute expiry, Unix time in seconds (not with --ttl)")
      ->type_name("EPOCH")
      ->group("Token");
  cmd->footer(
      "Examples:\n"
      "  # device token valid for one hour\n"
      "  azhub sas -c 'HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=...'\n"
      "  # module token valid for a day, key read from a file\n"
      "  azhub sas --hub myhub.azure-devices.net --device-id gw --module-id cam \\\n"
      "            --key-file cam.key --ttl 24h\n"
      "  # policy token for one device, from a service connection string\n"
      "  azhub sas --device-id dev1 \\\n"
      "            -c "
      "'HostName=myhub.azure-devices.net;SharedAccessKeyName=device;SharedAccessKey=...'\n"
      "  # hub-wide service token with a fixed expiry, as JSON\n"
      "  azhub -o json sas --hub myhub.azure-devices.net --policy iothubowner \\\n"
      "            --key-file owner.key --expiry 1800000000\n"
      "\n"
      "Environment:\n"
      "  AZHUB_CONNECTION_STRING          connection string when neither -c nor --hub is given\n"
      "  IOTHUB_DEVICE_CONNECTION_STRING  the same, if AZHUB_CONNECTION_STRING is unset\n"
      "  AZHUB_DEVICE_KEY                 key when --key and --key-file are absent\n"
      "\n"
      "Output: the token and a newline; with -o json one object {token, resourceUri, expiry\n"
      "(Unix seconds), expiryIso}. Exit status: 0 ok, 2 usage or input error.");
  cmd->callback([opt, &io] { run_sas(*opt, io); });
}

}  // namespace azhub::cli
