// azhub service feedback: C2D delivery feedback records (docs/protocol.md §6.1) as the hub
// sends them on /messages/serviceBound/feedback over AMQP (§15.4). A feedback message is
// accepted (the hub forgets it) only once every record in it is printed and flushed; one not
// accepted when the command ends (Ctrl-C, a write error, a dropped connection) is delivered
// again to the next reader, so nothing the hub gave out is lost.
#include <chrono>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "cli/streaming.hpp"
#include "core/amqp.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/feedback.hpp"
#include "core/sas.hpp"

namespace azhub::cli {
namespace {

struct FeedbackOptions {
  ServiceOptions svc;
  AmqpOptions amqp;
  StreamOptions stream;
};


std::string record_text(const core::FeedbackRecord& r) {
  std::string line = fmt::format("{} {} {} message {}", core::format_iso8601(r.enqueued_ms, true),
                                 core::to_string(r.status), r.device_id, r.original_message_id);
  if (r.description != core::to_string(r.status)) line += fmt::format(" ({})", r.description);
  return line;
}

void run_feedback(const FeedbackOptions& opt, Io& io) {
  StopAfter stop(opt.stream, std::chrono::steady_clock::now());
  const core::ConnectionString cs = service_connection(opt.svc, io);
  const TokenLifetime lifetime = amqp_token_lifetime(opt.amqp);
  auto token_put = std::chrono::steady_clock::now();
  auto client = open_amqp_client(opt.svc, opt.amqp, io, request_deadline());
  while (!stop.done()) {
    if (std::chrono::steady_clock::now() - token_put >= lifetime.renew_after) {
      token_put = std::chrono::steady_clock::now();
      client->put_token(cs.host_name, policy_token(cs, cs.host_name, io, lifetime.ttl_s), request_deadline());
      io.trace(2, "feedback: renewed the token");
    }
    // Wake at least at the next renewal; the stop deadline bounds the wait otherwise.
    auto wait_until = token_put + lifetime.renew_after;
    if (stop.deadline()) wait_until = std::min(wait_until, *stop.deadline());
    std::optional<service::AmqpDelivery> delivery;
    try {
      delivery = client->receive(core::amqp::k_feedback_address, wait_until);
    } catch (const core::Error& e) {
      if (e.code() == core::ExitCode::interrupted) return;  // Ctrl-C ends a stream; main exits 130
      throw;
    }
    if (!delivery) {
      if (stop.timed_out(std::chrono::steady_clock::now()))
        throw core::Error(core::ExitCode::timeout, stop.timeout_message("feedback record", "feedback records"));
      continue;
    }
    std::vector<core::FeedbackRecord> records;
    try {
      records = core::parse_feedback_batch(delivery->message.body);
    } catch (const core::Error& e) {
      // Not feedback: say so and leave it to the hub (released, so another reader sees it).
      io.trace(1, fmt::format("feedback: released a message that is not feedback: {}", e.what()));
      client->release(*delivery, request_deadline());
      continue;
    }
    // Print the whole batch, even past --count ("at least N"), then accept it.
    for (const auto& r : records) {
      if (io.json()) {
        io.out << core::feedback_record_json(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      } else {
        io.out << record_text(r) << '\n';
      }
      stop.count_one();
    }
    io.out << std::flush;
    client->accept(*delivery, request_deadline());
  }
  client->close(request_deadline());
}

}  // namespace

void add_service_feedback_command(CLI::App& service, Io& io) {
  auto opt = std::make_shared<FeedbackOptions>();
  CLI::App* cmd = service.add_subcommand("feedback", "Stream C2D delivery feedback records (iothub-ack)");
  add_stream_options(*cmd, opt->stream, "feedback records");
  add_service_options(*cmd, opt->svc);
  add_amqp_options(*cmd, opt->amqp, false);
  cmd->footer(
      "Reads the hub's feedback queue over AMQP (/messages/serviceBound/feedback), as for a real\n"
      "IoT Hub. A C2D message asks for feedback with --ack (azhub service c2d send). Output: one\n"
      "line per record, TIME STATUS DEVICE message ID; with -o json one object per line\n"
      "{originalMessageId, enqueuedTimeUtc, statusCode, description, deviceId,\n"
      "deviceGenerationId}. A feedback message is accepted only after all its records are\n"
      "printed; --count N stops after the message holding the Nth record (at least N).");
  cmd->callback([opt, &io] { run_feedback(*opt, io); });
}

}  // namespace azhub::cli
