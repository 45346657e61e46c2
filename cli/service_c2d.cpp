// azhub service c2d send: queue a cloud-to-device message through the emulator's
// /_emulator/devices/{id}/messages/deviceBound (the real hub has C2D send only over AMQP,
// docs/protocol.md §12.4).
#include <iterator>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/properties.hpp"
#include "core/service_requests.hpp"

namespace azhub::cli {
namespace {

struct C2dSendOptions {
  ServiceOptions svc;
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

// --expiry: a duration from now ("10m") or an absolute ISO 8601 UTC time.
std::string expiry_iso(const std::string& text, Io& io) {
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
  return core::format_iso8601(at_ms, true);
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
  if (opt.expiry) sys.expiry = expiry_iso(*opt.expiry, io);
  for (const auto& prop : opt.props) message.properties.application.emplace_back(core::parse_property_argument(prop));
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
  CLI::App* c2d = service.add_subcommand("c2d", "Cloud-to-device messages (azhub emulate only)");
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
  cmd->footer(
      "The real IoT Hub offers C2D send only over AMQP; this command works against azhub\n"
      "emulate and exits 2 with a message elsewhere. Output: one line naming the queued\n"
      "message; with -o json the emulator's answer {deviceId, messageId, expiryTimeUtc,\n"
      "queuedMessages}.");
  cmd->callback([opt, &io] { run_c2d_send(*opt, io); });
}

}  // namespace azhub::cli
