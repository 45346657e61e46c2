// azhub service: the cloud side of IoT Hub over its service REST API (docs/protocol.md §12):
// device identities here; twins, methods, C2D and D2C in cli/service_*.cpp.
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/service_common.hpp"
#include "core/error.hpp"
#include "core/service_requests.hpp"

namespace azhub::cli {
namespace {

struct DeviceCreateOptions {
  ServiceOptions svc;
  std::string device_id;
  std::string auth = "sas";
  std::optional<std::string> primary_thumbprint;
  std::optional<std::string> secondary_thumbprint;
  std::optional<std::string> primary_key;
  std::optional<std::string> secondary_key;
  std::string status = "enabled";
  bool edge = false;
};

struct DeviceShowOptions {
  ServiceOptions svc;
  std::string device_id;
  bool show_keys = false;
};

struct DeviceListOptions {
  ServiceOptions svc;
  std::optional<int> top;
};

struct DeviceDeleteOptions {
  ServiceOptions svc;
  std::string device_id;
  std::optional<std::string> etag;
};

core::DeviceAuthType parse_auth(const std::string& text) {
  if (text == "x509-thumbprint") return core::DeviceAuthType::x509_thumbprint;
  if (text == "x509-ca") return core::DeviceAuthType::x509_ca;
  return core::DeviceAuthType::sas;
}

void run_device_create(const DeviceCreateOptions& opt, Io& io) {
  core::DeviceSpec spec;
  spec.device_id = opt.device_id;
  spec.auth = parse_auth(opt.auth);
  spec.primary_thumbprint = opt.primary_thumbprint;
  spec.secondary_thumbprint = opt.secondary_thumbprint;
  spec.primary_key = opt.primary_key;
  spec.secondary_key = opt.secondary_key;
  spec.enabled = opt.status == "enabled";
  spec.edge = opt.edge;
  const auto request = core::build_create_device_request(spec);
  auto client = make_service_client(opt.svc, io);
  const auto response = client.call(request, request_deadline());
  const auto device = parse_response_json(response.body, "device create");
  const std::string connection_string = core::device_connection_string(client.host(), device);
  // The connection string is what create is for; the keys themselves are never printed.
  if (io.json()) {
    auto doc = core::redact_device_keys(device);
    doc["connectionString"] = connection_string;
    print_document(io, doc);
  } else {
    io.out << connection_string << '\n' << std::flush;
  }
}

void run_device_show(const DeviceShowOptions& opt, Io& io) {
  const auto request = core::build_get_device_request(opt.device_id);
  auto client = make_service_client(opt.svc, io);
  const auto device = parse_response_json(client.call(request, request_deadline()).body, "device show");
  print_document(io, opt.show_keys ? device : core::redact_device_keys(device));
}

std::string string_at(const nlohmann::json& doc, const nlohmann::json::json_pointer& ptr) {
  if (!doc.contains(ptr) || !doc.at(ptr).is_string()) return "-";
  return doc.at(ptr).get<std::string>();
}

void run_device_list(const DeviceListOptions& opt, Io& io) {
  const auto request = core::build_list_devices_request(opt.top);
  auto client = make_service_client(opt.svc, io);
  const auto devices = parse_response_json(client.call(request, request_deadline()).body, "device list");
  if (!devices.is_array()) throw core::Error(core::ExitCode::failure, "device list: expected a JSON array");
  if (io.json()) {
    for (const auto& device : devices) print_document(io, core::redact_device_keys(device));
    return;
  }
  // Text: one aligned line per device: id, status, connection state, authentication type.
  std::size_t width = 8;
  for (const auto& device : devices) width = std::max(width, string_at(device, "/deviceId"_json_pointer).size());
  for (const auto& device : devices) {
    io.out << fmt::format("{:<{}}  {:<8}  {:<12}  {}\n", string_at(device, "/deviceId"_json_pointer), width,
                          string_at(device, "/status"_json_pointer),
                          string_at(device, "/connectionState"_json_pointer),
                          string_at(device, "/authentication/type"_json_pointer));
  }
  io.out << std::flush;
}

void run_device_delete(const DeviceDeleteOptions& opt, Io& io) {
  std::optional<std::string_view> etag;
  if (opt.etag) etag = *opt.etag;
  const auto request = core::build_delete_device_request(opt.device_id, etag);
  auto client = make_service_client(opt.svc, io);
  const auto response = client.call_unchecked(request, request_deadline());
  if (response.status / 100 != 2) {
    throw service::ServiceClient::error_for(
        response, response.status == 412 ? fmt::format("device {} changed since --etag {} was read",
                                                        opt.device_id, opt.etag.value_or("*"))
                                         : std::string());
  }
  if (io.json()) {
    print_document(io, {{"deviceId", opt.device_id}, {"deleted", true}});
  } else {
    io.out << "deleted " << opt.device_id << '\n' << std::flush;
  }
}

void add_device_create(CLI::App& device, Io& io) {
  auto opt = std::make_shared<DeviceCreateOptions>();
  CLI::App* cmd = device.add_subcommand("create", "Register a device; print its connection string");
  cmd->add_option("device-id", opt->device_id, "Id of the new device")->required()->type_name("DEVICE");
  cmd->add_option("--auth", opt->auth, "Authentication: sas (keys generated by the hub), x509-thumbprint, x509-ca")
      ->check(CLI::IsMember({"sas", "x509-thumbprint", "x509-ca"}))
      ->type_name("TYPE");
  cmd->add_option("--primary-thumbprint", opt->primary_thumbprint, "SHA-1/SHA-256 hex thumbprint (x509-thumbprint)")
      ->type_name("HEX");
  cmd->add_option("--secondary-thumbprint", opt->secondary_thumbprint, "Second thumbprint (x509-thumbprint)")
      ->type_name("HEX");
  cmd->add_option("--primary-key", opt->primary_key, "Base64 primary key instead of a generated one (sas)")
      ->type_name("BASE64");
  cmd->add_option("--secondary-key", opt->secondary_key, "Base64 secondary key (sas)")->type_name("BASE64");
  cmd->add_option("--status", opt->status, "enabled or disabled")
      ->check(CLI::IsMember({"enabled", "disabled"}))
      ->type_name("STATUS");
  cmd->add_flag("--edge", opt->edge, "Mark the device as an IoT Edge device");
  add_service_options(*cmd, opt->svc);
  cmd->footer("Output: the device's connection string; with -o json the device object (without\n"
              "its keys) plus connectionString. Exit status: 1 if the hub refused (e.g.\n"
              "DeviceAlreadyExists), 2 usage error, 3 could not connect or authenticate.");
  cmd->callback([opt, &io] { run_device_create(*opt, io); });
}

void add_device_show(CLI::App& device, Io& io) {
  auto opt = std::make_shared<DeviceShowOptions>();
  CLI::App* cmd = device.add_subcommand("show", "Print a device identity (keys hidden)");
  cmd->add_option("device-id", opt->device_id, "Device id")->required()->type_name("DEVICE");
  cmd->add_flag("--show-keys", opt->show_keys, "Include the symmetric keys");
  add_service_options(*cmd, opt->svc);
  cmd->callback([opt, &io] { run_device_show(*opt, io); });
}

void add_device_list(CLI::App& device, Io& io) {
  auto opt = std::make_shared<DeviceListOptions>();
  CLI::App* cmd = device.add_subcommand("list", "List device identities");
  cmd->add_option("--top", opt->top, "At most N devices (1-1000)")->type_name("N");
  add_service_options(*cmd, opt->svc);
  cmd->footer("Output: one line per device (id, status, connection state, authentication type);\n"
              "with -o json one device object per line, without keys.");
  cmd->callback([opt, &io] { run_device_list(*opt, io); });
}

void add_device_delete(CLI::App& device, Io& io) {
  auto opt = std::make_shared<DeviceDeleteOptions>();
  CLI::App* cmd = device.add_subcommand("delete", "Delete a device identity");
  cmd->add_option("device-id", opt->device_id, "Device id")->required()->type_name("DEVICE");
  cmd->add_option("--etag", opt->etag, "Delete only if the device's etag is still ETAG (If-Match)")
      ->type_name("ETAG");
  add_service_options(*cmd, opt->svc);
  cmd->callback([opt, &io] { run_device_delete(*opt, io); });
}

}  // namespace

void add_service_device_commands(CLI::App& service, Io& io) {
  CLI::App* device = service.add_subcommand("device", "Device identities in the hub's registry");
  device->require_subcommand(1);
  add_device_create(*device, io);
  add_device_show(*device, io);
  add_device_list(*device, io);
  add_device_delete(*device, io);
}

void add_service_command(CLI::App& app, Io& io) {
  CLI::App* service = app.add_subcommand(
      "service", "The cloud side: device identities, twins, direct methods, C2D send and feedback, D2C monitor");
  service->require_subcommand(1);
  service->footer(
      "Every service command authenticates with a service (policy) connection string, from\n"
      "-c/--connection-string or env AZHUB_SERVICE_CONNECTION_STRING. device, twin, invoke,\n"
      "query and stats use IoT Hub's REST API over HTTPS (--port, --ca-file); c2d send and\n"
      "feedback use AMQP (--amqp-port, or --transport amqp-ws on --port), as the real hub\n"
      "offers them. All of these work against a real hub; monitor reads a path only azhub\n"
      "emulate offers and exits 2 elsewhere.\n"
      "\n"
      "Examples:\n"
      "  export AZHUB_SERVICE_CONNECTION_STRING='HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=...'\n"
      "  azhub service device create dev2 --port 8443 --ca-file ca.pem\n"
      "  azhub service twin update dev2 --desired '{\"fw\":\"1.2\"}' --port 8443 --ca-file ca.pem\n"
      "  azhub service invoke dev2 reboot '{\"delay\":5}' --timeout 10 --port 8443 --ca-file ca.pem\n"
      "  azhub service c2d send dev2 'led on' --ack full --amqp-port 5671 --ca-file ca.pem\n"
      "  azhub service feedback --count 1 --amqp-port 5671 --ca-file ca.pem\n"
      "  azhub -o json service monitor --device-id dev2 --count 1 --port 8443 --ca-file ca.pem");
  add_service_device_commands(*service, io);
  add_service_twin_commands(*service, io);
  add_service_invoke_command(*service, io);
  add_service_c2d_commands(*service, io);
  add_service_monitor_command(*service, io);
  add_service_feedback_command(*service, io);
  add_service_query_command(*service, io);
  add_service_stats_command(*service, io);
  add_service_job_command(*service, io);
}

}  // namespace azhub::cli
