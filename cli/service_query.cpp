// azhub service query|stats: IoT Hub's twin query language over POST /devices/query, page by
// page with continuation tokens, and the registry statistics (docs/protocol.md §16).
#include <cstdint>
#include <memory>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "cli/service_common.hpp"
#include "core/error.hpp"
#include "core/service_requests.hpp"
#include "core/twin_query.hpp"

namespace azhub::cli {
namespace {

struct QueryOptions {
  ServiceOptions svc;
  std::string query;
  std::optional<std::int64_t> top;
  std::optional<int> page_size;
};

struct StatsOptions {
  ServiceOptions svc;
};

// Prints every row of every page, one JSON object per line (text mode too: the rows are JSON),
// following x-ms-continuation until the hub sends none or --top rows are out.
void run_query(const QueryOptions& opt, Io& io) {
  if (opt.top && *opt.top < 1) throw core::usage_error("--top: expected 1 or more");
  auto client = make_service_client(opt.svc, io);
  std::int64_t printed = 0;
  const auto request_for = [&](std::optional<std::string_view> token) {
    std::optional<int> page_size = opt.page_size;
    if (opt.top) {
      // Ask for no more than are still wanted.
      const auto wanted = *opt.top - printed;
      const int cap = opt.page_size.value_or(core::k_query_max_page_size);
      if (wanted < cap) page_size = static_cast<int>(wanted);
    }
    return core::build_twin_query_request(opt.query, page_size, token);
  };
  const auto pages = follow_pages(client, request_for, [&](const nlohmann::json& rows) {
    for (const auto& row : rows) {
      io.out << json_line(row) << '\n';
      if (opt.top && ++printed >= *opt.top) break;
      if (!opt.top) ++printed;
    }
    io.out << std::flush;
    return !opt.top || printed < *opt.top;
  }, "query");
  io.trace(1, fmt::format("query: {} row{} in {} page{}", printed, printed == 1 ? "" : "s", pages,
                          pages == 1 ? "" : "s"));
}

std::int64_t count_at(const nlohmann::json& doc, const char* name, std::string_view what) {
  if (!doc.is_object() || !doc.contains(name) || !doc[name].is_number_integer())
    throw core::Error(core::ExitCode::failure, fmt::format("{}: the hub's answer has no {}", what, name));
  return doc[name].get<std::int64_t>();
}

void run_stats(const StatsOptions& opt, Io& io) {
  auto client = make_service_client(opt.svc, io);
  const auto registry = parse_response_json(
      client.call(core::build_registry_statistics_request(), request_deadline()).body, "stats");
  const auto service = parse_response_json(
      client.call(core::build_service_statistics_request(), request_deadline()).body, "stats");
  const nlohmann::json stats = {
      {"totalDeviceCount", count_at(registry, "totalDeviceCount", "stats")},
      {"enabledDeviceCount", count_at(registry, "enabledDeviceCount", "stats")},
      {"disabledDeviceCount", count_at(registry, "disabledDeviceCount", "stats")},
      {"connectedDeviceCount", count_at(service, "connectedDeviceCount", "stats")},
  };
  if (io.json()) {
    io.out << json_line(stats) << '\n' << std::flush;
    return;
  }
  io.out << fmt::format("devices:   {}\nenabled:   {}\ndisabled:  {}\nconnected: {}\n",
                        stats["totalDeviceCount"].get<std::int64_t>(), stats["enabledDeviceCount"].get<std::int64_t>(),
                        stats["disabledDeviceCount"].get<std::int64_t>(),
                        stats["connectedDeviceCount"].get<std::int64_t>())
         << std::flush;
}

}  // namespace

void add_service_query_command(CLI::App& service, Io& io) {
  auto opt = std::make_shared<QueryOptions>();
  CLI::App* cmd = service.add_subcommand("query", "Run an IoT Hub query over device or module twins");
  cmd->add_option("query", opt->query, "The query, e.g. \"SELECT * FROM devices WHERE tags.floor = 2\"")
      ->required()
      ->type_name("QUERY");
  cmd->add_option("--top", opt->top, "Print at most N rows")->type_name("N");
  cmd->add_option("--page-size", opt->page_size, "Rows per request (x-ms-max-item-count, 1-100; default: the hub's, 100)")
      ->type_name("N");
  add_service_options(*cmd, opt->svc);
  cmd->footer(
      "Output: one JSON object per line (text and -o json alike), every page in turn: whole twins\n"
      "for SELECT *, else one object per row with the selected members. Exit status: 1 if the hub\n"
      "refused the query (a syntax error names the position), 2 usage error, 3 could not connect or\n"
      "authenticate.");
  cmd->callback([opt, &io] { run_query(*opt, io); });
}

void add_service_stats_command(CLI::App& service, Io& io) {
  auto opt = std::make_shared<StatsOptions>();
  CLI::App* cmd = service.add_subcommand("stats", "Print the registry's device counts and connected devices");
  add_service_options(*cmd, opt->svc);
  cmd->footer(
      "Output: devices, enabled, disabled and connected counts; with -o json one object\n"
      "{\"totalDeviceCount\",\"enabledDeviceCount\",\"disabledDeviceCount\",\"connectedDeviceCount\"}.\n"
      "Needs a policy with RegistryRead and ServiceConnect (iothubowner has both).");
  cmd->callback([opt, &io] { run_stats(*opt, io); });
}

}  // namespace azhub::cli
