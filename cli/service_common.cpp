#include "cli/service_common.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "cli/connection_options.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/sas.hpp"

namespace azhub::cli {

void add_service_options(CLI::App& cmd, ServiceOptions& opt) {
  const std::string group = "Connection";
  cmd.add_option("-c,--connection-string", opt.connection_string,
                 "Service connection string HostName=...;SharedAccessKeyName=...;SharedAccessKey=... "
                 "(default: env AZHUB_SERVICE_CONNECTION_STRING)")
      ->type_name("STRING")
      ->group(group);
  cmd.add_option("--port", opt.port, "HTTPS port of the hub (azhub emulate prints its own)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535))
      ->group(group);
  cmd.add_option("--ca-file", opt.ca_file, k_ca_file_help)
      ->type_name("FILE")
      ->group(group);
  cmd.add_option("--proxy", opt.proxy, k_proxy_help)->type_name("URL")->group(group);
}

core::ConnectionString service_connection(const ServiceOptions& opt, Io& io) {
  std::optional<ConnectionStringInput> input;
  if (opt.connection_string) {
    input = ConnectionStringInput{*opt.connection_string, "-c/--connection-string"};
  } else if (auto env = io.env(k_env_service_connection_string); env && !env->empty()) {
    input = ConnectionStringInput{*env, k_env_service_connection_string};
  }
  if (!input) {
    throw core::usage_error(fmt::format(
        "no service connection string: give -c/--connection-string or set {}", k_env_service_connection_string));
  }
  core::ConnectionString cs = parse_connection_input(*input);
  if (cs.kind != core::ConnectionString::Kind::service) {
    throw core::usage_error(fmt::format(
        "{}: a device connection string does not work here; azhub service needs a policy one "
        "(HostName=...;SharedAccessKeyName=...;SharedAccessKey=...)",
        input->source));
  }
  return cs;
}

service::ServiceClient make_service_client(const ServiceOptions& opt, Io& io) {
  service::ServiceClientOptions options;
  options.connection = service_connection(opt, io);
  options.port = opt.port;
  options.ca_file = opt.ca_file;
  options.proxy =
      resolve_proxy(opt.proxy, io, options.connection.host_name, core::TargetScheme::https);
  options.now_unix_s = [&io] { return io.now_unix_seconds(); };
  options.interrupted = [&io] { return io.was_interrupted(); };
  options.trace = [&io](int level, std::string_view line) { io.trace(level, line); };
  return service::ServiceClient(std::move(options));
}

void add_amqp_options(CLI::App& cmd, AmqpOptions& opt, bool rest) {
  const std::string group = "Connection";
  std::vector<std::string> choices{"amqp", "amqp-ws"};
  if (rest) choices.emplace_back("rest");
  cmd.add_option("--transport", opt.transport,
                 rest ? "amqp (AMQPS, port --amqp-port), amqp-ws (AMQP over WebSockets, port --port) or rest "
                        "(azhub emulate's REST path); default amqp"
                      : "amqp (AMQPS, port --amqp-port) or amqp-ws (AMQP over WebSockets, port --port); default amqp")
      ->check(CLI::IsMember(choices))
      ->type_name("KIND")
      ->group(group);
  cmd.add_option("--amqp-port", opt.amqp_port, "AMQPS port of the hub (default 5671; azhub emulate prints its own)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535))
      ->group(group);
  cmd.add_option("--token-ttl", opt.token_ttl,
                 "Lifetime of the AMQP SAS tokens azhub makes, renewed at 3/4 of it (default 1h)")
      ->type_name("DURATION")
      ->group(group);
}

TokenLifetime amqp_token_lifetime(const AmqpOptions& opt) {
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(core::parse_duration(opt.token_ttl, "--token-ttl"));
  if (ttl < std::chrono::seconds(4)) throw core::usage_error("--token-ttl must be at least 4s");
  TokenLifetime t;
  t.ttl_s = std::chrono::duration_cast<std::chrono::seconds>(ttl).count();
  // A token's expiry is a whole second, so it may end up to a second before ttl has passed;
  // the renewal keeps two seconds' margin.
  t.renew_after = std::min(std::chrono::milliseconds(t.ttl_s * 750), std::chrono::milliseconds((t.ttl_s - 2) * 1000));
  return t;
}

std::unique_ptr<service::AmqpClient> open_amqp_client(const ServiceOptions& opt, const AmqpOptions& amqp, Io& io,
                                                      service::Deadline deadline) {
  const core::ConnectionString cs = service_connection(opt, io);
  service::AmqpEndpoint endpoint;
  endpoint.websocket = amqp.transport == "amqp-ws";
  endpoint.tls.host = cs.host_name;
  endpoint.tls.port = endpoint.websocket ? opt.port : amqp.amqp_port;
  endpoint.tls.ca_file = opt.ca_file;
  endpoint.tls.proxy = resolve_proxy(opt.proxy, io, cs.host_name, core::TargetScheme::https);
  auto client = std::make_unique<service::AmqpClient>(
      std::move(endpoint), [&io] { return io.was_interrupted(); },
      [&io](int level, std::string_view line) { io.trace(level, line); });
  // A token for the whole hub, as Microsoft's service SDKs put (docs/protocol.md §15.3).
  client->open(cs.host_name, policy_token(cs, cs.host_name, io, amqp_token_lifetime(amqp).ttl_s), deadline);
  return client;
}

std::string policy_token(const core::ConnectionString& cs, std::string_view resource, Io& io, std::int64_t ttl_s,
                         core::SasKey key) {
  return core::build_sas_token(resource, *cs.shared_access_key, core::sas_expiry(io.now_unix_seconds(), ttl_s),
                               std::string_view(*cs.shared_access_key_name), key);
}

int whole_seconds(const std::string& text, std::string_view flag) {
  const auto ms = core::parse_duration(text, flag).count();
  if (ms % 1000 != 0) throw core::usage_error(fmt::format("{}: the hub takes whole seconds, got {}", flag, text));
  if (ms / 1000 > 100000) throw core::usage_error(fmt::format("{}: {} is too long", flag, text));
  return static_cast<int>(ms / 1000);
}

service::Deadline request_deadline(std::chrono::seconds extra) {
  return std::chrono::steady_clock::now() + std::chrono::seconds(60) + extra;
}

void require_emulator(service::ServiceClient& client, std::string_view command) {
  if (!client.is_emulator(request_deadline())) {
    throw core::usage_error(fmt::format(
        "{} is not azhub emulate: the real IoT Hub offers C2D send / D2C read only over AMQP; "
        "azhub service {} works against azhub emulate",
        client.host(), command));
  }
}

nlohmann::json parse_response_json(const std::string& body, std::string_view what) {
  auto doc = core::parse_json(body);
  if (doc.is_discarded()) throw core::Error(core::ExitCode::failure, fmt::format("{}: the hub's response is not JSON", what));
  return doc;
}

std::int64_t follow_pages(service::ServiceClient& client,
                          const std::function<core::ServiceRequest(std::optional<std::string_view>)>& request_for,
                          const std::function<bool(const nlohmann::json& rows)>& on_page, std::string_view what) {
  std::optional<std::string> continuation;
  std::int64_t pages = 0;
  while (true) {
    std::optional<std::string_view> token;
    if (continuation) token = *continuation;
    const auto response = client.call(request_for(token), request_deadline());
    ++pages;
    const auto rows = parse_response_json(response.body, what);
    if (!rows.is_array()) throw core::Error(core::ExitCode::failure, fmt::format("{}: the hub's answer is not a JSON array", what));
    const bool more_wanted = on_page(rows);
    continuation = response.header("x-ms-continuation");
    if (!continuation || continuation->empty() || !more_wanted) return pages;
  }
}

void print_document(Io& io, const nlohmann::json& doc) {
  const auto text = io.json() ? doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                              : doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  io.out << text << '\n' << std::flush;
}

}  // namespace azhub::cli
