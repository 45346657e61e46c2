// azhub service invoke: a direct method call through the hub (docs/protocol.md §9.2).
#include <memory>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/service_requests.hpp"

namespace azhub::cli {
namespace {

struct InvokeOptions {
  ServiceOptions svc;
  std::string device_id;
  std::string method_name;
  std::optional<std::string> payload;
  std::optional<std::string> module_id;
  std::string timeout = "30s";
  std::string connect_timeout = "0";
};

void run_invoke(const InvokeOptions& opt, Io& io) {
  core::MethodInvocation invocation;
  invocation.device_id = opt.device_id;
  invocation.module_id = opt.module_id;
  invocation.method_name = opt.method_name;
  if (opt.payload) {
    invocation.payload = core::parse_json(*opt.payload);
    if (invocation.payload.is_discarded()) {
      throw core::usage_error("payload: " + core::bad_json_reason(*opt.payload) +
                              " (quote a string payload as '\"text\"')");
    }
  }
  invocation.response_timeout_s = whole_seconds(opt.timeout, "--timeout");
  invocation.connect_timeout_s = whole_seconds(opt.connect_timeout, "--connect-timeout");
  const auto request = core::build_invoke_method_request(invocation);

  auto client = make_service_client(opt.svc, io);
  // The hub answers by itself when the device is late (504101), so wait a little longer.
  const auto deadline = request_deadline(
      std::chrono::seconds(invocation.response_timeout_s + invocation.connect_timeout_s));
  const auto result = parse_response_json(client.call(request, deadline).body, "invoke");
  const int status = result.is_object() && result.contains("status") && result["status"].is_number_integer()
                         ? result["status"].get<int>()
                         : 0;
  const nlohmann::json payload = result.is_object() && result.contains("payload") ? result["payload"] : nlohmann::json();
  print_document(io, {{"status", status}, {"payload", payload}});
  if (status < 200 || status > 299) {
    throw core::Error(core::ExitCode::failure,
                      fmt::format("the device answered method {} with status {}", opt.method_name, status));
  }
}

}  // namespace

void add_service_invoke_command(CLI::App& service, Io& io) {
  auto opt = std::make_shared<InvokeOptions>();
  CLI::App* cmd = service.add_subcommand("invoke", "Call a direct method on a device; print {status, payload}");
  cmd->add_option("device-id", opt->device_id, "Device id")->required()->type_name("DEVICE");
  cmd->add_option("method", opt->method_name, "Method name")->required()->type_name("METHOD");
  cmd->add_option("payload", opt->payload, "JSON payload (default: null)")->type_name("PAYLOAD");
  cmd->add_option("--timeout", opt->timeout, "How long the device has to answer, 5s-300s (default 30s)")
      ->type_name("DURATION");
  cmd->add_option("--connect-timeout", opt->connect_timeout,
                  "How long to wait for an offline device to connect, 0-300s (default 0)")
      ->type_name("DURATION");
  cmd->add_option("--module-id", opt->module_id, "Call the method on this module of the device")->type_name("ID");
  add_service_options(*cmd, opt->svc);
  cmd->footer(
      "Output: {\"status\": S, \"payload\": ...} as the device answered (indented; one line with\n"
      "-o json). Exit status: 0 when the device answered 2xx, 1 when it answered another status\n"
      "or is not online (DeviceNotOnline 404103), 4 when it did not answer within --timeout\n"
      "(GatewayTimeout 504101).");
  cmd->callback([opt, &io] { run_invoke(*opt, io); });
}

}  // namespace azhub::cli
