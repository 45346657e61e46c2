// azhub service monitor: device-to-cloud messages from the hub's Event Hubs-compatible endpoint
// over AMQP, as a real hub offers them (docs/protocol.md §15.7): the IoT Hub host redirects to
// the endpoint, every partition gets a consumer link, and a dropped connection is resumed after
// the last event printed per partition, so nothing is printed twice. With --transport rest, the
// emulator's own server-sent-events stream /_emulator/messages/events/stream (§12.4).
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "cli/streaming.hpp"
#include "cli/connection_options.hpp"
#include "core/amqp.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/sas.hpp"
#include "core/topics.hpp"
#include "core/json_text.hpp"
#include "core/service_requests.hpp"
#include "service/sse_parser.hpp"

namespace azhub::cli {
namespace {

struct MonitorOptions {
  ServiceOptions svc;
  AmqpOptions amqp;
  StreamOptions stream;
  std::optional<std::string> device_id;
  bool since_start = false;
  std::optional<std::int64_t> from_sequence;
  std::optional<std::string> enqueued_after;
  std::string consumer_group{core::amqp::k_default_consumer_group};
  std::vector<std::string> partitions;
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
  std::string number = message.contains("sequenceNumber") ? message["sequenceNumber"].dump() : "?";
  if (message.contains("partition") && message["partition"].is_string())
    number = message["partition"].get<std::string>() + "/" + number;
  std::string out = fmt::format("{} {} #{}: {}\n", message.value("enqueuedTime", std::string("-")), source, number, body);
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

void print_record(Io& io, const nlohmann::ordered_json& record) {
  if (io.json()) {
    io.out << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n' << std::flush;
  } else {
    io.out << d2c_text(nlohmann::json(record)) << std::flush;
  }
}

// Events the endpoint may send ahead per partition; the Event Hubs SDK's default prefetch is 300.
constexpr int k_event_credit = 300;

// The Event Hubs-compatible endpoint the hub redirects to (docs/protocol.md §15.7).
struct EventHubsEndpoint {
  std::string host;
  std::uint16_t port = core::amqp::k_amqps_port;
  std::string entity;
};

EventHubsEndpoint find_event_hubs(const MonitorOptions& opt, const core::ConnectionString& cs, Io& io) {
  // As Microsoft's iothubConnectionString sample: SASL PLAIN to the IoT hub with the policy and
  // a token for {host}/messages/events, then a receiver the hub answers with a redirect.
  const bool ws = opt.amqp.transport == "amqp-ws";
  service::AmqpEndpoint endpoint;
  endpoint.websocket = ws;
  endpoint.tls.host = cs.host_name;
  endpoint.tls.port = ws ? opt.svc.port : opt.amqp.amqp_port;
  endpoint.tls.ca_file = opt.svc.ca_file;
  endpoint.tls.proxy = resolve_proxy(opt.svc.proxy, io, cs.host_name, core::TargetScheme::https);
  endpoint.sasl = service::AmqpEndpoint::Sasl::plain;
  endpoint.sasl_user = fmt::format("{}@sas.root.{}", *cs.shared_access_key_name, core::amqp::event_hub_name(cs.host_name));
  endpoint.sasl_password = policy_token(cs, cs.host_name + "/messages/events", io, 300);
  service::AmqpClient hub(std::move(endpoint), [&io] { return io.was_interrupted(); },
                          [&io](int level, std::string_view line) { io.trace(level, line); });
  const auto deadline = request_deadline();
  hub.connect(deadline);
  const auto redirect =
      hub.redirect_of(fmt::format("amqps://{}/messages/events/$management", cs.host_name), deadline);
  hub.close(request_deadline());
  if (!redirect) throw core::Error(core::ExitCode::failure, fmt::format("{} did not redirect messages/events to its Event Hubs-compatible endpoint", cs.host_name));
  EventHubsEndpoint eh;
  eh.host = redirect->hostname;
  eh.port = ws ? opt.svc.port : redirect->port.value_or(core::amqp::k_amqps_port);
  // "amqps://{host}:5671/{entity}/$management"
  std::string_view a = redirect->address;
  const auto tail = a.rfind("/$management");
  const auto head = a.rfind('/', tail == std::string_view::npos ? a.size() : tail - 1);
  if (tail == std::string_view::npos || head == std::string_view::npos || head + 1 >= tail)
    throw core::Error(core::ExitCode::failure, fmt::format("the hub's redirect names no Event Hub ('{}')", redirect->address));
  eh.entity = std::string(a.substr(head + 1, tail - head - 1));
  io.trace(1, fmt::format("monitor: {} redirects to the Event Hub {} on {}:{}", cs.host_name, eh.entity, eh.host, eh.port));
  return eh;
}

// Reads events from every partition until --count, --timeout or Ctrl-C. `last` holds the
// sequence number printed last per partition; a reconnect starts after it.
void run_monitor_amqp(const MonitorOptions& opt, Io& io) {
  namespace amqp = core::amqp;
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  if (opt.since_start + opt.from_sequence.has_value() + opt.enqueued_after.has_value() > 1)
    throw core::usage_error("give one of --since-start, --from-sequence and --enqueued-after");
  if (opt.from_sequence && *opt.from_sequence < 0)
    throw core::usage_error(fmt::format("--from-sequence {}: must be 0 or more", *opt.from_sequence));
  std::optional<std::int64_t> enqueued_after_ms;
  if (opt.enqueued_after) enqueued_after_ms = core::parse_iso8601_millis(*opt.enqueued_after, "--enqueued-after");
  const core::ConnectionString cs = service_connection(opt.svc, io);
  const TokenLifetime lifetime = amqp_token_lifetime(opt.amqp);
  std::map<std::string, std::int64_t> last;  // partition -> last sequence number printed (or skipped)
  int failures = 0;
  for (;;) {
    try {
      const EventHubsEndpoint eh = find_event_hubs(opt, cs, io);
      service::AmqpEndpoint endpoint;
      endpoint.websocket = opt.amqp.transport == "amqp-ws";
      endpoint.websocket_path = std::string(core::k_servicebus_websocket_path);
      endpoint.tls.host = eh.host;
      endpoint.tls.port = eh.port;
      endpoint.tls.ca_file = opt.svc.ca_file;
      endpoint.tls.proxy = resolve_proxy(opt.svc.proxy, io, eh.host, core::TargetScheme::https);
      endpoint.sasl = service::AmqpEndpoint::Sasl::anonymous;
      service::AmqpClient client(std::move(endpoint), [&io] { return io.was_interrupted(); },
                                 [&io](int level, std::string_view line) { io.trace(level, line); });
      const std::string audience = fmt::format("sb://{}/{}", eh.host, eh.entity);
      const auto token = [&] {
        // Event Hubs signs with the key text (docs/protocol.md §15.7).
        return policy_token(cs, audience, io, lifetime.ttl_s, core::SasKey::text);
      };
      client.connect(request_deadline());
      client.put_token(audience, token(), request_deadline());
      auto token_put = std::chrono::steady_clock::now();
      const auto read = [&](std::string_view type, std::optional<std::string> partition) {
        amqp::Message request;
        request.application = {{"operation", std::string(amqp::k_management_read)},
                               {"name", eh.entity},
                               {"type", std::string(type)},
                               {"security_token", token()}};
        if (partition) request.application.emplace_back("partition", *partition);
        request.body_kind = amqp::BodyKind::data;
        request.body = "[]";
        auto reply = client.request(amqp::k_management_address, std::move(request), request_deadline());
        const auto status = amqp::parse_cbs_reply(reply);
        if (!status || status->status / 100 != 2)
          throw core::Error(core::ExitCode::failure,
                            fmt::format("the Event Hub refused to describe {}: {} {}", partition ? "a partition" : "itself",
                                        status ? status->status : 0, status ? status->description : ""));
        return reply.map_body;
      };
      std::vector<std::string> ids = opt.partitions;
      if (ids.empty()) {
        const auto props = read(amqp::k_eventhub_type, std::nullopt);
        const amqp::Value* v = amqp::find(props, "partition_ids");
        if (v == nullptr || !std::holds_alternative<amqp::StringArray>(*v))
          throw core::Error(core::ExitCode::failure, "the Event Hub named no partitions");
        ids = std::get<amqp::StringArray>(*v).items;
      }
      for (const auto& id : ids) {
        amqp::EventPosition position;
        if (auto it = last.find(id); it != last.end()) {
          position = {amqp::EventPosition::Kind::sequence, false, it->second};
        } else if (opt.from_sequence) {
          position = {amqp::EventPosition::Kind::sequence, true, *opt.from_sequence};
        } else if (enqueued_after_ms) {
          position = {amqp::EventPosition::Kind::enqueued_time, false, *enqueued_after_ms};
        } else if (opt.since_start) {
          position = {amqp::EventPosition::Kind::offset, false, -1};
        } else {
          // From now on: after the partition's last event, so a reconnect resumes exactly.
          const auto props = read(amqp::k_partition_type, id);
          const amqp::Value* v = amqp::find(props, "last_enqueued_sequence_number");
          std::int64_t seq = -1;
          if (v != nullptr && std::holds_alternative<std::int64_t>(*v)) seq = std::get<std::int64_t>(*v);
          if (const amqp::Value* empty = amqp::find(props, "is_partition_empty");
              empty != nullptr && std::holds_alternative<bool>(*empty) && std::get<bool>(*empty))
            seq = -1;
          position = {amqp::EventPosition::Kind::sequence, false, seq};
          last[id] = seq;
        }
        client.attach_receiver(amqp::consumer_address({eh.entity, opt.consumer_group, static_cast<std::uint32_t>(std::stoul(id))}),
                               amqp::event_filter(position), request_deadline(), k_event_credit);
      }
      io.trace(1, fmt::format("monitor: reading {} partition(s) of {}", ids.size(), eh.entity));
      failures = 0;
      while (!stop.done()) {
        if (std::chrono::steady_clock::now() - token_put >= lifetime.renew_after) {
          token_put = std::chrono::steady_clock::now();
          client.put_token(audience, token(), request_deadline());
          io.trace(2, "monitor: renewed the token");
        }
        auto wait_until = token_put + lifetime.renew_after;
        if (stop.deadline()) wait_until = std::min(wait_until, *stop.deadline());
        auto got = client.receive_any(wait_until);
        if (!got) {
          if (stop.timed_out(std::chrono::steady_clock::now()))
            throw core::Error(core::ExitCode::timeout, stop.timeout_message("message", "messages"));
          continue;
        }
        const auto& [address, delivery] = *got;
        const auto consumer = amqp::parse_consumer_address(address);
        const std::string partition = consumer ? std::to_string(consumer->partition) : std::string("?");
        const auto record = amqp::event_record_json(delivery.message, partition);
        const auto seq = record["sequenceNumber"].is_number_integer() ? record["sequenceNumber"].get<std::int64_t>() : -1;
        if (auto it = last.find(partition); it != last.end() && seq <= it->second) {
          client.accept_later(delivery);  // already printed before a reconnect
          continue;
        }
        const bool wanted = !opt.device_id || (record["deviceId"].is_string() && record["deviceId"] == *opt.device_id);
        if (wanted) {
          print_record(io, record);
          stop.count_one();
        }
        last[partition] = seq;
        client.accept_later(delivery);
      }
      client.close(request_deadline());
      return;
    } catch (const core::Error& e) {
      if (e.code() == core::ExitCode::interrupted) return;  // Ctrl-C is how a monitor ends; main exits 130
      if (e.code() != core::ExitCode::connect || last.empty()) throw;
      // The connection or a link dropped after events flowed: resume after what was printed.
      if (++failures > 5) throw;
      io.trace(1, fmt::format("monitor: {}; reconnecting ({} of 5)", e.what(), failures));
      for (int i = 0; i < 10 * failures && !io.was_interrupted(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (io.was_interrupted()) return;
    }
  }
}

void run_monitor(const MonitorOptions& opt, Io& io) {
  if (opt.amqp.transport != "rest") return run_monitor_amqp(opt, io);
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  if (opt.enqueued_after || opt.partitions.size() > 0 || opt.consumer_group != core::amqp::k_default_consumer_group)
    throw core::usage_error("--enqueued-after, --partition and --consumer-group need --transport amqp or amqp-ws");
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
  CLI::App* cmd = service.add_subcommand("monitor", "Print device-to-cloud messages as they arrive");
  cmd->add_option("--device-id", opt->device_id, "Only messages from this device")->type_name("ID");
  add_stream_options(*cmd, opt->stream, "messages");
  cmd->add_flag("--since-start", opt->since_start,
                "Start at the earliest message the hub still holds (every partition; rest: the emulator's capture)");
  cmd->add_option("--from-sequence", opt->from_sequence,
                  "Start at sequence number N (in every partition; rest: the emulator's own numbering)")
      ->type_name("N");
  cmd->add_option("--enqueued-after", opt->enqueued_after, "Start after this ISO 8601 UTC time (amqp)")
      ->type_name("TIME");
  cmd->add_option("--consumer-group", opt->consumer_group, "Event Hubs consumer group (default $Default)")
      ->type_name("NAME");
  cmd->add_option("--partition", opt->partitions, "Read only this partition (repeatable; default all)")
      ->type_name("ID");
  add_service_options(*cmd, opt->svc);
  add_amqp_options(*cmd, opt->amqp, true);
  cmd->footer(
      "Output: per message a line \"<enqueued time> <device>[/<module>] #<sequence>: <body>\"\n"
      "and indented lines for its system and application properties; with -o json the\n"
      "emulator's record, one object per line {sequenceNumber, enqueuedTime, deviceId, moduleId,\n"
      "body, bodyEncoding, systemProperties, properties}, plus annotations {dt-dataschema,\n"
      "dt-subject} for a device that announced a model id; azhub listen prints C2D messages with\n"
      "the same member names. Over AMQP (the default, as from a real hub's Event Hubs-compatible\n"
      "endpoint) the record adds partition and offset, sequenceNumber counts per partition,\n"
      "annotations hold the hub's iothub-* annotations, and the text line shows #PARTITION/SEQ.\n"
      "Without --since-start/--from-sequence/--enqueued-after only messages sent from now on are\n"
      "printed. A dropped connection is resumed after the last message printed per partition.\n"
      "--transport rest reads azhub emulate's own stream and exits 2 elsewhere.");
  cmd->callback([opt, &io] { run_monitor(*opt, io); });
}

}  // namespace azhub::cli
