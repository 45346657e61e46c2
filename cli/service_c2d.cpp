// azhub service c2d send: queue a cloud-to-device message over AMQP, as the real hub takes it
// (a sender link to /messages/devicebound, docs/protocol.md §15.4), or with --transport rest
// through azhub emulate's /_emulator/devices/{id}/messages/deviceBound (§12.4).
#include <iterator>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "core/amqp.hpp"
#include "core/duration.hpp"
#include "core/limits.hpp"
#include "core/error.hpp"
#include "core/properties.hpp"
#include "core/service_requests.hpp"

namespace azhub::cli {
namespace {

struct C2dSendOptions {
  ServiceOptions svc;
  AmqpOptions amqp;
  std::string device_id;
  std::optional<std::string> body;
  std::optional<std::string> file;
  std::vector<std::string> props;
  std::optional<std::string> message_id;
  std::optional<std::string> correlation_id;
  std::optional<std::string> expiry;
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<std::string> ack;
};

// --expiry: a duration from now ("10m") or an absolute ISO 8601 UTC time; Unix milliseconds.
std::int64_t expiry_ms(const std::string& text, Io& io) {
  std::int64_t at_ms = 0;
  try {
    at_ms = io.now_unix_ms() + core::parse_duration(text, "--expiry").count();
  } catch (const core::Error&) {
    try {
      at_ms = core::parse_iso8601_millis(text, "--expiry");
    } catch (const core::Error&) {
      throw core::usage_error(fmt::format(
          "--expiry: '{}' is neither a duration (30s, 10m, 1h) nor an ISO 8601 UTC time (2030-01-01T00:00:00Z)", text));
    }
  }
  return at_ms;
}

std::string body_from(const C2dSendOptions& opt, Io& io) {
  if (opt.body && opt.file) throw core::usage_error("c2d send: give BODY or --file, not both");
  if (!opt.file) return opt.body.value_or("");
  if (*opt.file == "-") return std::string(std::istreambuf_iterator<char>(io.in), std::istreambuf_iterator<char>());
  return read_file_argument(*opt.file, "--file");
}

void run_c2d_send(const C2dSendOptions& opt, Io& io) {
  core::OutgoingC2dMessage message;
  message.device_id = opt.device_id;
  message.body = body_from(opt, io);
  auto& sys = message.properties.system;
  sys.message_id = opt.message_id;
  sys.correlation_id = opt.correlation_id;
  sys.content_type = opt.content_type;
  sys.content_encoding = opt.content_encoding;
  sys.ack = opt.ack;
  const std::optional<std::int64_t> expiry = opt.expiry ? std::optional(expiry_ms(*opt.expiry, io)) : std::nullopt;
  if (expiry) sys.expiry = core::format_iso8601(*expiry, true);
  for (const auto& prop : opt.props) message.properties.application.emplace_back(core::parse_property_argument(prop));
  core::validate_message_size(message.body, message.properties, core::limits::k_c2d_message_bytes, "C2D message");

  if (opt.amqp.transport != "rest") {
    // The message id is chosen here when none is given, so the output (and feedback) can name it.
    if (!sys.message_id) sys.message_id = core::amqp::to_string(core::amqp::random_uuid());
    const auto deadline = request_deadline();
    auto client = open_amqp_client(opt.svc, opt.amqp, io, deadline);
    client->send(core::amqp::k_c2d_send_address,
                 core::amqp::make_c2d_message(opt.device_id, message.body, message.properties, expiry), deadline);
    client->close(request_deadline());
    if (io.json()) {
      nlohmann::ordered_json doc{{"deviceId", opt.device_id}, {"messageId", *sys.message_id}};
      if (sys.expiry) doc["expiryTimeUtc"] = *sys.expiry;
      print_document(io, doc);
      return;
    }
    io.out << fmt::format("queued for {} (message id {})", opt.device_id, *sys.message_id) << '\n' << std::flush;
    return;
  }

  const auto request = core::build_c2d_send_request(message);

  auto client = make_service_client(opt.svc, io);
  require_emulator(client, "c2d send");
  const auto result = parse_response_json(client.call(request, request_deadline()).body, "c2d send");
  if (io.json()) {
    print_document(io, result);
    return;
  }
  std::string line = fmt::format("queued for {}", opt.device_id);
  if (result.contains("messageId") && result["messageId"].is_string()) {
    line += fmt::format(" (message id {})", result["messageId"].get<std::string>());
  }
  if (result.contains("queuedMessages") && result["queuedMessages"].is_number()) {
    line += fmt::format(", {} in its queue", result["queuedMessages"].dump());
  }
  io.out << line << '\n' << std::flush;
}

}  // namespace

void add_service_c2d_commands(CLI::App& service, Io& io) {
  CLI::App* c2d = service.add_subcommand("c2d", "Cloud-to-device messages");
  c2d->require_subcommand(1);
  auto opt = std::make_shared<C2dSendOptions>();
  CLI::App* cmd = c2d->add_subcommand("send", "Queue a cloud-to-device message for a device");
  cmd->add_option("device-id", opt->device_id, "Device id")->required()->type_name("DEVICE");
  cmd->add_option("body", opt->body, "Message body (default: empty)")->type_name("BODY");
  cmd->add_option("--file", opt->file, "Read the body from FILE (- for stdin)")->type_name("FILE");
  cmd->add_option("--prop", opt->props, "Application property name=value (repeatable)")->type_name("K=V");
  cmd->add_option("--message-id", opt->message_id, "Message id")->type_name("ID");
  cmd->add_option("--correlation-id", opt->correlation_id, "Correlation id")->type_name("ID");
  cmd->add_option("--expiry", opt->expiry, "Expiry: a duration from now (10m) or an ISO 8601 UTC time")
      ->type_name("WHEN");
  cmd->add_option("--content-type", opt->content_type, "Content type, e.g. application/json")->type_name("TYPE");
  cmd->add_option("--content-encoding", opt->content_encoding, "Content encoding, e.g. utf-8")->type_name("ENC");
  cmd->add_option("--ack", opt->ack, "Delivery feedback: none, positive, negative or full")
      ->check(CLI::IsMember({"none", "positive", "negative", "full"}))
      ->type_name("KIND");
  add_service_options(*cmd, opt->svc);
  add_amqp_options(*cmd, opt->amqp, true);
  cmd->footer(
      "Sent over AMQP (port 5671, or 443 with --transport amqp-ws) as to a real IoT Hub; with\n"
      "--transport rest through azhub emulate's REST path (emulator only). Output: one line\n"
      "naming the queued message; with -o json {deviceId, messageId[, expiryTimeUtc]} (rest: the\n"
      "emulator's answer, which adds queuedMessages). Delivery outcomes: azhub service feedback.");
  cmd->callback([opt, &io] { run_c2d_send(*opt, io); });
}

}  // namespace azhub::cli
