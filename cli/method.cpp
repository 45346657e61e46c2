// azhub method serve: answers direct methods, with a handler command or a fixed response.
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/connection_options.hpp"
#include "cli/output.hpp"
#include "cli/streaming.hpp"
#include "core/json_text.hpp"
#include "device/device_client.hpp"
#include "device/subprocess.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/topics.hpp"

namespace azhub::cli {

namespace {

using core::Error;
using core::ExitCode;
using core::usage_error;
using Clock = std::chrono::steady_clock;

struct MethodOptions {
  DeviceConnectionOptions conn;
  StreamOptions stream;
  std::optional<std::string> handler;
  std::string handler_timeout = "30s";
  std::optional<int> status;
  std::optional<std::string> payload;
  std::vector<std::string> methods;
};

struct Answer {
  int status = 200;
  std::string payload;
  std::string outcome;
};

std::string error_payload(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Answer interrupted_answer() {
  return {503, error_payload("azhub method serve was interrupted"), "interrupted"};
}

Answer run_handler(const MethodOptions& opt, std::chrono::milliseconds timeout,
                   const device::IncomingMethodCall& call, const Io& io) {
  device::ShellRequest request;
  request.input = call.payload;
  request.env = {{"AZHUB_METHOD_NAME", call.name}, {"AZHUB_REQUEST_ID", call.rid}};
  request.timeout = timeout;
  request.interrupted = io.interrupted;
  device::ProcessResult result = device::run_shell(*opt.handler, request);
  // Ctrl-C stopped the handler: answer at once, as for the calls drained while stopping.
  if (result.interrupted) return interrupted_answer();
  if (result.timed_out)
    return {504, error_payload(fmt::format("handler timed out after {}", opt.handler_timeout)), "timed out"};
  if (result.exit_code != 0) {
    std::string err = result.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    if (err.empty()) err = fmt::format("handler exited with status {}", result.exit_code);
    return {500, error_payload(err), fmt::format("handler failed (exit {})", result.exit_code)};
  }
  const auto first = result.out.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {200, "null", "handled"};
  auto doc = core::parse_json(result.out);
  if (doc.is_discarded())
    return {500, error_payload("handler printed something that is not JSON"), "handler output not JSON"};
  std::string payload = doc.dump();
  if (payload.size() > core::limits::k_method_payload_bytes)
    return {500, error_payload("handler response is over 128 KB"), "handler output too large"};
  return {200, std::move(payload), "handled"};
}

void check_options(const MethodOptions& opt) {
  if (opt.handler && (opt.status || opt.payload))
    throw usage_error("--handler cannot be combined with --status/--payload");
  if (!opt.handler && !opt.status && !opt.payload)
    throw usage_error("say how to answer: --handler CMD, or --status N [--payload JSON]");
  if (opt.status && (*opt.status < 0 || *opt.status > 65535))
    throw usage_error(fmt::format("--status {}: must be 0 to 65535", *opt.status));
  if (opt.payload) {
    auto doc = core::parse_json(*opt.payload);
    if (doc.is_discarded()) throw usage_error("--payload: " + core::bad_json_reason(*opt.payload));
    if (opt.payload->size() > core::limits::k_method_payload_bytes)
      throw usage_error("--payload is over the 128 KB method payload limit");
  }
  for (const auto& name : opt.methods) {
    try {
      core::validate_method_name(name);
    } catch (const Error& e) {
      throw usage_error(fmt::format("--method: {}", e.what()));
    }
  }
  (void)core::parse_duration(opt.handler_timeout, "--handler-timeout");
}

void run_method_serve(const MethodOptions& opt, Io& io) {
  check_options(opt);
  const auto handler_timeout = core::parse_duration(opt.handler_timeout, "--handler-timeout");
  StopAfter stop(opt.stream, Clock::now());
  device::DeviceClient client(resolve_device_settings(opt.conn, io));
  client.want_methods();
  client.connect();
  Output output(io);
  io.trace(1, "waiting for direct methods");
  const auto answer_call = [&](const device::IncomingMethodCall& call) {
    const auto started = Clock::now();
    Answer answer;
    if (client.interrupted()) {
      // Stopping on Ctrl-C: answer at once rather than leave the caller to its timeout.
      answer = interrupted_answer();
    } else if (!opt.methods.empty() &&
               std::find(opt.methods.begin(), opt.methods.end(), call.name) == opt.methods.end()) {
      answer = {404, error_payload(fmt::format("method '{}' is not handled by this device", call.name)),
                "not handled"};
    } else if (opt.handler) {
      answer = run_handler(opt, handler_timeout, call, io);
    } else {
      answer = {opt.status.value_or(200), opt.payload.value_or("null"), "fixed"};
    }
    client.respond_method(call.rid, answer.status, answer.payload);
    output.method_call(MethodCallRecord{
        call.name, call.rid, answer.status,
        std::chrono::duration<double, std::milli>(Clock::now() - started).count(), answer.outcome});
  };
  while (!stop.done()) {
    auto call = client.next_method(stop.deadline());
    if (!call) break;
    answer_call(*call);
    stop.count_one();
  }
  // Calls that arrived before the end are answered too ("at least --count"), never left to time
  // out at the caller.
  client.stop_receiving();
  while (auto call = client.next_method(Clock::now())) answer_call(*call);
  // Let the last response leave before the DISCONNECT.
  const bool interrupted = client.interrupted();
  client.close(std::chrono::seconds(1));
  if (interrupted) throw Error(ExitCode::interrupted, "interrupted");
  if (stop.timed_out(Clock::now()))
    throw Error(ExitCode::timeout, stop.timeout_message("method call", "method calls"));
}

}  // namespace

void add_method_command(CLI::App& app, Io& io) {
  CLI::App* method = app.add_subcommand("method", "Answer direct methods");
  method->require_subcommand(1);
  auto opt = std::make_shared<MethodOptions>();
  CLI::App* serve = method->add_subcommand("serve", "Answer direct methods until --count or --timeout");
  serve->add_option("--handler", opt->handler,
                    "Run CMD via /bin/sh per call: payload on stdin, env AZHUB_METHOD_NAME and "
                    "AZHUB_REQUEST_ID; stdout (JSON) is the response; exit 0 -> 200, else 500")
      ->type_name("CMD");
  serve->add_option("--handler-timeout", opt->handler_timeout, "Stop the handler (its process group) after DURATION and answer 504")
      ->type_name("DURATION");
  serve->add_option("--status", opt->status, "Answer every call with this status")->type_name("N");
  serve->add_option("--payload", opt->payload, "Answer every call with this JSON payload")->type_name("JSON");
  serve->add_option("--method", opt->methods, "Only answer NAME (repeatable); others get 404")
      ->type_name("NAME")
      ->allow_extra_args(false);
  add_stream_options(*serve, opt->stream, "calls");
  add_device_connection_options(*serve, opt->conn);
  serve->callback([opt, &io] { run_method_serve(*opt, io); });
}

}  // namespace azhub::cli
