// azhub service twin show|update: the service view of a twin (docs/protocol.md §8.2) and
// PATCH /twins/{id} with optimistic concurrency (§12.1 If-Match, 412 on a stale etag).
#include <iterator>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "cli/service_common.hpp"
#include "core/error.hpp"
#include "core/service_requests.hpp"
#include "core/twin.hpp"

namespace azhub::cli {
namespace {

struct TwinShowOptions {
  ServiceOptions svc;
  std::string device_id;
  std::optional<std::string> module_id;
};

struct TwinUpdateOptions {
  ServiceOptions svc;
  std::string device_id;
  std::optional<std::string> module_id;
  std::optional<std::string> patch;    // positional: a full patch document, "-" for stdin
  std::optional<std::string> file;     // --file
  std::optional<std::string> desired;  // --desired JSON
  std::optional<std::string> tags;     // --tags JSON
  std::optional<std::string> etag;
};

std::optional<std::string_view> as_view(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  return std::string_view(*value);
}

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The patch document from exactly one of: the positional argument, --file, --desired/--tags.
nlohmann::json patch_from(const TwinUpdateOptions& opt, Io& io) {
  const int sources = (opt.patch ? 1 : 0) + (opt.file ? 1 : 0) + (opt.desired || opt.tags ? 1 : 0);
  if (sources == 0) throw core::usage_error("twin update: give --desired, --tags, a PATCH document or --file");
  if (sources > 1) {
    throw core::usage_error("twin update: give either --desired/--tags, a PATCH document or --file, not several");
  }
  if (opt.desired || opt.tags) {
    std::optional<nlohmann::json> desired;
    std::optional<nlohmann::json> tags;
    if (opt.desired) desired = core::parse_json_object(*opt.desired, "--desired");
    if (opt.tags) tags = core::parse_json_object(*opt.tags, "--tags");
    return core::build_twin_patch(desired, tags);
  }
  if (opt.file) {
    return core::parse_json_object(read_file_argument(*opt.file, "--file"), "--file " + *opt.file);
  }
  if (*opt.patch == "-") return core::parse_json_object(read_all(io.in), "twin patch (stdin)");
  return core::parse_json_object(*opt.patch, "twin patch");
}

void run_twin_show(const TwinShowOptions& opt, Io& io) {
  const auto request = core::build_get_twin_request(opt.device_id, as_view(opt.module_id));
  auto client = make_service_client(opt.svc, io);
  print_document(io, parse_response_json(client.call(request, request_deadline()).body, "twin show"));
}

void run_twin_update(const TwinUpdateOptions& opt, Io& io) {
  const auto request =
      core::build_update_twin_request(opt.device_id, patch_from(opt, io), as_view(opt.etag), as_view(opt.module_id));
  auto client = make_service_client(opt.svc, io);
  const auto response = client.call_unchecked(request, request_deadline());
  if (response.status / 100 != 2) {
    throw service::ServiceClient::error_for(
        response, response.status == 412
                      ? fmt::format("the twin changed since etag {} was read; run 'azhub service twin "
                                    "show' for the current etag",
                                    opt.etag.value_or("?"))
                      : std::string());
  }
  print_document(io, parse_response_json(response.body, "twin update"));
}

}  // namespace

void add_service_twin_commands(CLI::App& service, Io& io) {
  CLI::App* twin = service.add_subcommand("twin", "Device and module twins: tags, desired and reported properties");
  twin->require_subcommand(1);

  auto show = std::make_shared<TwinShowOptions>();
  CLI::App* show_cmd = twin->add_subcommand("show", "Print the service view of a twin");
  show_cmd->add_option("device-id", show->device_id, "Device id")->required()->type_name("DEVICE");
  show_cmd->add_option("--module-id", show->module_id, "The module's twin instead")->type_name("ID");
  add_service_options(*show_cmd, show->svc);
  show_cmd->footer("Output: the twin as indented JSON; with -o json on one line.");
  show_cmd->callback([show, &io] { run_twin_show(*show, io); });

  auto update = std::make_shared<TwinUpdateOptions>();
  CLI::App* update_cmd =
      twin->add_subcommand("update", "Merge-patch desired properties and tags; print the new twin");
  update_cmd->add_option("device-id", update->device_id, "Device id")->required()->type_name("DEVICE");
  update_cmd->add_option("patch", update->patch,
                         "Patch document {\"tags\":{...},\"properties\":{\"desired\":{...}}}, or - for stdin")
      ->type_name("PATCH");
  update_cmd->add_option("--desired", update->desired, "Desired properties to merge (null deletes)")
      ->type_name("JSON");
  update_cmd->add_option("--tags", update->tags, "Tags to merge (null deletes)")->type_name("JSON");
  update_cmd->add_option("--file", update->file, "Read the patch document from FILE")->type_name("FILE");
  update_cmd->add_option("--etag", update->etag, "Update only if the twin's etag is still ETAG (If-Match)")
      ->type_name("ETAG");
  update_cmd->add_option("--module-id", update->module_id, "Update the module's twin instead")->type_name("ID");
  add_service_options(*update_cmd, update->svc);
  update_cmd->footer(
      "Output: the updated twin. Exit status: 1 if the hub refused the patch, or if --etag no\n"
      "longer matches (412 PreconditionFailed), 2 for invalid JSON or a patch breaking the\n"
      "twin rules (key names, depth, size).");
  update_cmd->callback([update, &io] { run_twin_update(*update, io); });
}

}  // namespace azhub::cli
