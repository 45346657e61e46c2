// azhub emulate: runs the local IoT Hub until SIGINT/SIGTERM.
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/topics.hpp"
#include "emulator/emulator.hpp"

namespace azhub::cli {

namespace {

struct EmulateOptions {
  std::optional<std::string> state_dir;
  bool in_memory = false;
  std::vector<std::string> devices;
  std::string bind = "127.0.0.1";
  std::uint16_t mqtt_port = 8883;
  std::uint16_t https_port = 8443;
  std::uint16_t amqp_port = 5671;
  std::optional<std::uint16_t> tcp_port;
  std::string host_name = "localhost";
  std::vector<std::string> client_cas;
  std::uint32_t commit_delay_ms = 0;
};

nlohmann::json ready_json(const emulator::ReadyInfo& r) {
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& [id, cs] : r.devices) devices.push_back({{"deviceId", id}, {"connectionString", cs}});
  return {{"event", "ready"},
          {"hostName", r.host_name},
          {"serviceConnectionString", r.service_connection_string},
          {"eventHubsConnectionString", r.event_hubs_connection_string},
          {"caFile", r.ca_file.string()},
          {"stateDir", r.state_dir ? nlohmann::json(r.state_dir->string()) : nlohmann::json(nullptr)},
          {"ports", {{"mqtts", r.ports.mqtts},
                     {"https", r.ports.https},
                     {"amqps", r.ports.amqps},
                     {"mqtt", r.ports.mqtt ? nlohmann::json(*r.ports.mqtt) : nlohmann::json(nullptr)}}},
          {"devices", devices}};
}

void print_ready_text(const emulator::ReadyInfo& r, std::ostream& out) {
  out << "IoT Hub emulator ready (host name " << r.host_name << ")\n";
  out << "  MQTT over TLS:        port " << r.ports.mqtts << '\n';
  out << "  AMQP over TLS:        port " << r.ports.amqps << '\n';
  out << "  HTTPS (REST + MQTT and AMQP over WebSockets at " << core::k_websocket_path << "): port " << r.ports.https
      << '\n';
  if (r.ports.mqtt) out << "  MQTT (plain TCP):     port " << *r.ports.mqtt << '\n';
  out << "  CA certificate:       " << r.ca_file.string() << '\n';
  out << "  State:                " << (r.state_dir ? r.state_dir->string() : std::string("in memory")) << '\n';
  out << "Service connection string:\n  " << r.service_connection_string << '\n';
  out << "Event Hubs-compatible endpoint (built-in D2C endpoint):\n  " << r.event_hubs_connection_string << '\n';
  for (const auto& [id, cs] : r.devices) out << "Device " << id << ":\n  " << cs << '\n';
  out << "Press Ctrl-C to stop.\n";
}

void run_emulate(const EmulateOptions& opt, Io& io) {
  if (opt.in_memory && opt.state_dir) throw core::usage_error("--in-memory and --state-dir exclude each other");
  if (opt.in_memory && opt.commit_delay_ms != 0)
    throw core::usage_error("--commit-delay applies to a state directory; --in-memory has nothing to commit");
  emulator::EmulatorOptions options;
  if (!opt.in_memory) {
    options.state_dir = opt.state_dir ? std::filesystem::path(*opt.state_dir) : emulator::default_state_dir(io.env);
  }
  options.host_name = opt.host_name;
  options.devices = opt.devices;
  options.commit_delay = std::chrono::milliseconds(opt.commit_delay_ms);
  for (const auto& ca : opt.client_cas) options.client_cas.emplace_back(ca);
  options.server.bind_address = opt.bind;
  options.server.mqtts_port = opt.mqtt_port;
  options.server.https_port = opt.https_port;
  options.server.amqps_port = opt.amqp_port;
  options.server.mqtt_port = opt.tcp_port;
  // Hub, session and REST messages never carry keys or tokens (their contract); -v shows
  // connections, refusals and operations, -vv every delivery, -vvv every packet.
  // Lines above -v's level are never formatted.
  options.log = emulator::Log([&io](int level, std::string_view message) { io.trace(level, message); }, io.verbosity);
  options.server.log = options.log;

  emulator::Emulator emu(std::move(options));
  // A SIGINT/SIGTERM that came while the hub was loading (before the emulator's own signal
  // handling was installed) ends the run here, without a ready line.
  if (io.interrupted != nullptr && io.interrupted->load()) {
    io.trace(1, "emulator: interrupted before it was ready");
    return;
  }
  if (io.json()) {
    io.out << ready_json(emu.ready()).dump() << '\n' << std::flush;
  } else {
    print_ready_text(emu.ready(), io.out);
    io.out << std::flush;
  }
  emu.run();
  io.trace(1, "emulator: stopped");
}

}  // namespace

void add_emulate_command(CLI::App& app, Io& io) {
  auto opt = std::make_shared<EmulateOptions>();
  CLI::App* cmd = app.add_subcommand("emulate", "Run a local IoT Hub emulator (MQTT, AMQP, WebSockets, REST)");
  auto* state = cmd->add_option("--state-dir", opt->state_dir,
                                "Directory for durable state and the CA (default $XDG_STATE_HOME/azhub/emulator)");
  cmd->add_flag("--in-memory", opt->in_memory, "Keep state in memory only (nothing survives exit)")->excludes(state);
  cmd->add_option("--device", opt->devices, "Register this device (SAS) if missing and print its connection string")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--commit-delay", opt->commit_delay_ms,
                  "With a state directory: milliseconds to gather writes before one commit; replies wait for "
                  "it (default 0: the end of each event-loop turn)")
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--bind", opt->bind, "Address to listen on (default loopback)");
  cmd->add_option("--mqtt-port", opt->mqtt_port, "MQTT over TLS port (0 = any free port)");
  cmd->add_option("--https-port", opt->https_port, "HTTPS port: REST API, MQTT and AMQP over WebSockets (0 = any)");
  cmd->add_option("--amqp-port", opt->amqp_port, "AMQP over TLS port (0 = any free port)");
  cmd->add_option("--tcp-port", opt->tcp_port, "Also serve plain MQTT on this port (off unless given; 0 = any)");
  cmd->add_option("--host-name", opt->host_name, "Host name devices and tokens use (default localhost)");
  cmd->add_option("--client-ca", opt->client_cas,
                  "Trust this CA (PEM) for certificateAuthority devices, besides the emulator's own CA")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::ExistingFile);
  cmd->footer(
      "Output: the ports, CA file and connection strings, once it listens; with -o json one line\n"
      "{event: \"ready\", hostName, serviceConnectionString, eventHubsConnectionString, caFile, stateDir, ports {mqtts, https, amqps,\n"
      "mqtt}, devices [{deviceId, connectionString}]}. See azhub-emulate(1).");
  cmd->callback([opt, &io] { run_emulate(*opt, io); });
}

}  // namespace azhub::cli
