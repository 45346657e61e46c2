// azhub service monitor: device-to-cloud messages as the emulator captures them, read from its
// server-sent-events stream /_emulator/messages/events/stream (the real hub has D2C read only
// over AMQP / Event Hubs, docs/protocol.md §12.4).
#include <memory>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "cli/streaming.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/service_requests.hpp"
#include "service/sse_parser.hpp"

namespace azhub::cli {
namespace {

struct MonitorOptions {
  ServiceOptions svc;
  StreamOptions stream;
  std::optional<std::string> device_id;
  bool since_start = false;
  std::optional<std::int64_t> from_sequence;
};

std::string field_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// "2026-11-26T14:35:50.123Z dev1 #5: {"temp":21}" then one indented line each for the system
// properties, the hub's annotations and the application properties, when there are any.
std::string d2c_text(const nlohmann::json& message) {
  std::string source = message.value("deviceId", std::string("?"));
  if (message.contains("moduleId") && message["moduleId"].is_string()) {
    source += "/" + message["moduleId"].get<std::string>();
  }
  std::string body = message.contains("body") ? field_text(message["body"]) : std::string();
  if (message.value("bodyEncoding", std::string()) == "base64") body = "(base64) " + body;
  std::string out = fmt::format("{} {} #{}: {}\n", message.value("enqueuedTime", std::string("-")), source,
                                message.contains("sequenceNumber") ? message["sequenceNumber"].dump() : "?", body);
  for (const auto& [label, key] : {std::pair{"system", "systemProperties"}, std::pair{"annotations", "annotations"},
                                   std::pair{"properties", "properties"}}) {
    if (!message.contains(key) || !message[key].is_object() || message[key].empty()) continue;
    std::string line;
    for (const auto& [name, value] : message[key].items()) {
      line += fmt::format("{}{}={}", line.empty() ? "" : " ", name, value.is_null() ? "" : field_text(value));
    }
    out += fmt::format("  {}: {}\n", label, line);
  }
  return out;
}

void run_monitor(const MonitorOptions& opt, Io& io) {
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  if (opt.since_start && opt.from_sequence) throw core::usage_error("give --since-start or --from-sequence, not both");
  core::D2cReadOptions read;
  read.device_id = opt.device_id;
  read.from_sequence = opt.from_sequence;
  read.from_start = opt.since_start;
  const auto request = core::build_d2c_stream_request(read);

  auto client = make_service_client(opt.svc, io);
  require_emulator(client, "monitor");
  service::SseParser parser;
  // The emulator's record is printed as it is: its members are what -o json documents.
  const auto on_data = [&](std::string_view bytes) {
    for (const auto& event : parser.feed(bytes)) {
      const auto message = core::parse_json(event.data);
      if (message.is_discarded() || !message.is_object()) {
        io.trace(1, "monitor: skipped an event that is not a JSON object");
        continue;
      }
      if (io.json()) {
        print_document(io, message);
      } else {
        io.out << d2c_text(message) << std::flush;
      }
      stop.count_one();
      if (stop.done()) return false;
    }
    return true;
  };
  try {
    client.stream(request, on_data, stop.deadline());
  } catch (const core::Error& e) {
    if (e.code() == core::ExitCode::interrupted) return;  // Ctrl-C is how a monitor ends; main exits 130
    if (e.code() != core::ExitCode::timeout || !stop.deadline()) throw;
    throw core::Error(core::ExitCode::timeout, stop.timeout_message("message", "messages"));
  }
  if (!stop.done()) throw core::Error(core::ExitCode::failure, "the emulator ended the D2C stream");
}

}  // namespace

void add_service_monitor_command(CLI::App& service, Io& io) {
  auto opt = std::make_shared<MonitorOptions>();
  CLI::App* cmd = service.add_subcommand("monitor", "Print device-to-cloud messages as they arrive (azhub emulate only)");
  cmd->add_option("--device-id", opt->device_id, "Only messages from this device")->type_name("ID");
  add_stream_options(*cmd, opt->stream, "messages");
  cmd->add_flag("--since-start", opt->since_start, "First replay every message the emulator has captured");
  cmd->add_option("--from-sequence", opt->from_sequence, "First replay captured messages from sequence number N")
      ->type_name("N");
  add_service_options(*cmd, opt->svc);
  cmd->footer(
      "Output: per message a line \"<enqueued time> <device>[/<module>] #<sequence>: <body>\"\n"
      "and indented lines for its system and application properties; with -o json the\n"
      "emulator's record, one object per line {sequenceNumber, enqueuedTime, deviceId, moduleId,\n"
      "body, bodyEncoding, systemProperties, properties}, plus annotations {dt-dataschema,\n"
      "dt-subject} for a device that announced a model id; azhub listen prints C2D messages with\n"
      "the same member names. Without --since-start/--from-sequence only messages\n"
      "sent from now on are printed. The real IoT Hub offers D2C read only over AMQP; this\n"
      "command works against azhub emulate and exits 2 with a message elsewhere.");
  cmd->callback([opt, &io] { run_monitor(*opt, io); });
}

}  // namespace azhub::cli
