// azhub service job schedule-twin|schedule-method|show|cancel|list: IoT Hub's jobs v2 REST API
// (docs/protocol.md §17). --wait follows a job to its end by reading it again every half second,
// with a progress line on a terminal, and exits by its outcome.
#include <chrono>
#include <memory>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "cli/service_common.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/jobs.hpp"
#include "core/json_text.hpp"
#include "core/service_requests.hpp"
#include "core/text.hpp"
#include "core/twin.hpp"

namespace azhub::cli {
namespace {

namespace jobs = core::jobs;
using nlohmann::json;

constexpr std::chrono::milliseconds k_poll_interval{500};

struct ScheduleOptions {
  ServiceOptions svc;
  std::optional<std::string> job_id;
  std::string where;
  std::optional<std::string> start;
  std::string max_time = "1h";
  bool wait = false;
  // schedule-twin
  std::optional<std::string> desired;
  std::optional<std::string> tags;
  // schedule-method
  std::string method_name;
  std::optional<std::string> payload;
  std::string timeout = "30s";
  std::string connect_timeout = "0";
};

struct JobIdOptions {
  ServiceOptions svc;
  std::string job_id;
  bool wait = false;
};

struct ListOptions {
  ServiceOptions svc;
  std::optional<std::string> type;
  std::optional<std::string> status;
  std::optional<int> page_size;
};

// "azhub-" and 16 random hex digits: a job id the hub accepts (letters, digits, '-').
std::string generated_job_id() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> digit(0, 15);
  std::string id = "azhub-";
  for (int i = 0; i < 16; ++i) id += "0123456789abcdef"[digit(device)];
  return id;
}

jobs::Job job_from(const ScheduleOptions& opt, jobs::JobType type) {
  jobs::Job job;
  job.job_id = opt.job_id.value_or(generated_job_id());
  job.type = type;
  if (core::trim(opt.where).empty())
    throw core::usage_error("--where: give the condition selecting the devices, e.g. \"tags.floor = 2\" (or '*' for all)");
  job.query_condition = opt.where;
  if (opt.start) job.start_ms = core::parse_iso8601_millis(*opt.start, "--start");
  const auto max_ms = core::parse_duration(opt.max_time, "--max-time").count();
  if (max_ms < 1000 || max_ms % 1000 != 0)
    throw core::usage_error(fmt::format("--max-time: whole seconds, at least 1s, got {}", opt.max_time));
  job.max_execution_s = max_ms / 1000;
  return job;
}

// Reads the job again until it has ended; a progress line on stderr while a terminal shows it.
json wait_for_job(service::ServiceClient& client, const std::string& job_id, json doc, Io& io) {
  bool progress_shown = false;
  while (true) {
    const auto status = jobs::parse_job_status(doc.value("status", std::string()));
    if (status && jobs::is_finished(*status)) break;
    if (io.stderr_is_terminal) {
      const auto stats = doc.value("deviceJobStatistics", json::object());
      io.err << fmt::format("\rjob {}: {}, {} of {} device(s) done ({} succeeded, {} failed)\x1b[K", job_id,
                            doc.value("status", std::string("?")),
                            stats.value("succeededCount", 0) + stats.value("failedCount", 0),
                            stats.value("deviceCount", 0), stats.value("succeededCount", 0),
                            stats.value("failedCount", 0))
             << std::flush;
      progress_shown = true;
    }
    const auto until = std::chrono::steady_clock::now() + k_poll_interval;
    while (std::chrono::steady_clock::now() < until) {
      if (io.was_interrupted()) {
        if (progress_shown) io.err << '\n';
        throw core::Error(core::ExitCode::interrupted,
                          fmt::format("stopped waiting; job {} goes on in the hub ('azhub service job show {}')",
                                      job_id, job_id));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    doc = parse_response_json(client.call(core::build_get_job_request(job_id), request_deadline()).body, "job");
  }
  if (progress_shown) io.err << "\r\x1b[K" << std::flush;
  return doc;
}

// Exit status of an ended job: 0 when it completed and no device failed, else 1 naming why.
void check_outcome(const json& doc, const std::string& job_id) {
  const auto status = doc.value("status", std::string());
  const auto stats = doc.value("deviceJobStatistics", json::object());
  const auto failed = stats.value("failedCount", 0);
  if (status == "completed" && failed == 0) return;
  if (status == "completed")
    throw core::Error(core::ExitCode::failure, fmt::format("job {} completed; {} of {} device(s) failed ('azhub service "
                                                           "query \"SELECT * FROM devices.jobs WHERE "
                                                           "devices.jobs.jobId = '{}'\"')",
                                                           job_id, failed, stats.value("deviceCount", 0), job_id));
  const auto reason = doc.value("failureReason", std::string());
  throw core::Error(core::ExitCode::failure,
                    fmt::format("job {} {}{}", job_id, status == "cancelled" ? "was cancelled" : status,
                                reason.empty() ? "" : ": " + reason));
}

// A job document from the hub; an id the hub does not know comes back with status "unknown".
json fetch_job(service::ServiceClient& client, const std::string& job_id) {
  auto doc = parse_response_json(client.call(core::build_get_job_request(job_id), request_deadline()).body, "job");
  if (!doc.is_object() || doc.value("status", std::string()) == "unknown")
    throw core::Error(core::ExitCode::failure, fmt::format("job {} does not exist", job_id));
  return doc;
}

void finish(service::ServiceClient& client, const std::string& job_id, json doc, bool wait, Io& io) {
  if (wait) doc = wait_for_job(client, job_id, std::move(doc), io);
  print_document(io, doc);
  if (wait) check_outcome(doc, job_id);
}

void run_schedule(const ScheduleOptions& opt, jobs::JobType type, Io& io) {
  auto job = job_from(opt, type);
  if (type == jobs::JobType::schedule_update_twin) {
    if (!opt.desired && !opt.tags) throw core::usage_error("schedule-twin: give --desired and/or --tags");
    std::optional<json> desired;
    std::optional<json> tags;
    if (opt.desired) desired = core::parse_json_object(*opt.desired, "--desired");
    if (opt.tags) tags = core::parse_json_object(*opt.tags, "--tags");
    json update = core::build_twin_patch(desired, tags);
    update["etag"] = "*";  // a twin job is a forced update (§17)
    job.update_twin = std::move(update);
  } else {
    jobs::JobMethod method;
    method.method_name = opt.method_name;
    if (opt.payload) {
      method.payload = core::parse_json(*opt.payload);
      if (method.payload.is_discarded())
        throw core::usage_error("--payload: " + core::bad_json_reason(*opt.payload) + " (quote a string as '\"text\"')");
    }
    method.response_timeout_s = whole_seconds(opt.timeout, "--timeout");
    method.connect_timeout_s = whole_seconds(opt.connect_timeout, "--connect-timeout");
    job.method = std::move(method);
  }
  const auto request = core::build_schedule_job_request(job);
  auto client = make_service_client(opt.svc, io);
  auto doc = parse_response_json(client.call(request, request_deadline()).body, "job");
  finish(client, job.job_id, std::move(doc), opt.wait, io);
}

void run_show(const JobIdOptions& opt, Io& io) {
  (void)core::build_get_job_request(opt.job_id);  // checks the id before connecting
  auto client = make_service_client(opt.svc, io);
  finish(client, opt.job_id, fetch_job(client, opt.job_id), opt.wait, io);
}

void run_cancel(const JobIdOptions& opt, Io& io) {
  const auto request = core::build_cancel_job_request(opt.job_id);
  auto client = make_service_client(opt.svc, io);
  print_document(io, parse_response_json(client.call(request, request_deadline()).body, "job cancel"));
}

void run_list(const ListOptions& opt, Io& io) {
  std::optional<jobs::JobType> type;
  std::optional<jobs::JobStatus> status;
  if (opt.type) {
    type = jobs::parse_job_type(*opt.type);
    if (!type) throw core::usage_error(fmt::format("--type: '{}' is not scheduleUpdateTwin or scheduleDeviceMethod", *opt.type));
  }
  if (opt.status) {
    status = jobs::parse_job_status(*opt.status);
    if (!status)
      throw core::usage_error(fmt::format("--status: '{}' is not queued, scheduled, running, completed, failed or cancelled",
                                          *opt.status));
  }
  auto client = make_service_client(opt.svc, io);
  (void)follow_pages(client, [&](std::optional<std::string_view> token) {
    return core::build_jobs_query_request(type, status, opt.page_size, token);
  }, [&](const nlohmann::json& rows) {
    for (const auto& row : rows) io.out << json_line(row) << '\n';
    io.out << std::flush;
    return true;
  }, "job list");
}

void add_schedule_options(CLI::App& cmd, ScheduleOptions& opt) {
  cmd.add_option("--job-id", opt.job_id, "The job's id: letters, digits and '-', up to 64 (default: azhub-<random>)")
      ->type_name("ID");
  cmd.add_option("--where", opt.where, "The condition selecting the devices, e.g. \"tags.floor = 2\"; '*' for all")
      ->required()
      ->type_name("CONDITION");
  cmd.add_option("--start", opt.start, "Start at this UTC time, e.g. 2026-12-24T18:00:00Z (default: now)")->type_name("TIME");
  cmd.add_option("--max-time", opt.max_time, "Stop the job if it runs longer than this (default 1h)")->type_name("DURATION");
  cmd.add_flag("--wait", opt.wait, "Follow the job to its end; exit 1 unless every device succeeded");
  add_service_options(cmd, opt.svc);
}

}  // namespace

void add_service_job_command(CLI::App& service, Io& io) {
  CLI::App* job = service.add_subcommand("job", "Jobs: a twin update or a method call on every device a condition selects");
  job->require_subcommand(1);
  const std::string outcome_footer =
      "With --wait the job is read every half second until it ends (a progress line on a\n"
      "terminal) and then printed; exit status 0 when it completed and every device succeeded,\n"
      "1 when it failed, was cancelled or a device failed, 130 on Ctrl-C (the job goes on).\n"
      "Without --wait the job is printed as the hub accepted it. Exit status 1 if the hub refused\n"
      "the job (a syntax error in --where names the position), 2 usage error, 3 could not\n"
      "connect or authenticate.";

  auto twin = std::make_shared<ScheduleOptions>();
  CLI::App* twin_cmd = job->add_subcommand("schedule-twin", "Schedule a twin update (tags, desired properties) of the selected devices");
  twin_cmd->add_option("--desired", twin->desired, "Desired properties to merge (null deletes)")->type_name("JSON");
  twin_cmd->add_option("--tags", twin->tags, "Tags to merge (null deletes)")->type_name("JSON");
  add_schedule_options(*twin_cmd, *twin);
  twin_cmd->footer(outcome_footer);
  twin_cmd->callback([twin, &io] { run_schedule(*twin, jobs::JobType::schedule_update_twin, io); });

  auto method = std::make_shared<ScheduleOptions>();
  CLI::App* method_cmd = job->add_subcommand("schedule-method", "Schedule a direct method call on the selected devices");
  method_cmd->add_option("--method", method->method_name, "Method name")->required()->type_name("METHOD");
  method_cmd->add_option("--payload", method->payload, "JSON payload (default: null)")->type_name("JSON");
  method_cmd->add_option("--timeout", method->timeout, "How long each device has to answer, 5s-300s (default 30s)")
      ->type_name("DURATION");
  method_cmd->add_option("--connect-timeout", method->connect_timeout,
                         "How long to wait for an offline device to connect, 0-300s (default 0: it fails at once)")
      ->type_name("DURATION");
  add_schedule_options(*method_cmd, *method);
  method_cmd->footer(outcome_footer);
  method_cmd->callback([method, &io] { run_schedule(*method, jobs::JobType::schedule_device_method, io); });

  auto show = std::make_shared<JobIdOptions>();
  CLI::App* show_cmd = job->add_subcommand("show", "Print a job: its status and device statistics");
  show_cmd->add_option("job-id", show->job_id, "Job id")->required()->type_name("ID");
  show_cmd->add_flag("--wait", show->wait, "Follow the job to its end; exit 1 unless every device succeeded");
  add_service_options(*show_cmd, show->svc);
  show_cmd->footer("Output: the job as indented JSON; with -o json on one line. Exit status 1 for a job the hub\n"
                   "does not know. " + outcome_footer.substr(0, outcome_footer.find("Without")));
  show_cmd->callback([show, &io] { run_show(*show, io); });

  auto cancel = std::make_shared<JobIdOptions>();
  CLI::App* cancel_cmd = job->add_subcommand("cancel", "Cancel a job that has not ended; print it");
  cancel_cmd->add_option("job-id", cancel->job_id, "Job id")->required()->type_name("ID");
  add_service_options(*cancel_cmd, cancel->svc);
  cancel_cmd->footer("Devices not yet started are cancelled; a method call already sent still records its answer.\n"
                     "A job that has ended is printed unchanged. Exit status 1 for a job the hub does not know.");
  cancel_cmd->callback([cancel, &io] { run_cancel(*cancel, io); });

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = job->add_subcommand("list", "List jobs, oldest first, one JSON object per line");
  list_cmd->add_option("--type", list->type, "Only jobs of this type: scheduleUpdateTwin or scheduleDeviceMethod")
      ->type_name("TYPE");
  list_cmd->add_option("--status", list->status, "Only jobs with this status, e.g. running or completed")->type_name("STATUS");
  list_cmd->add_option("--page-size", list->page_size, "Jobs per request (x-ms-max-item-count, 1-100)")->type_name("N");
  add_service_options(*list_cmd, list->svc);
  list_cmd->footer("Output: every job in turn, one JSON object per line (text and -o json alike), following\n"
                   "the hub's continuation tokens. Each device's outcome: azhub service query\n"
                   "\"SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'ID'\".");
  list_cmd->callback([list, &io] { run_list(*list, io); });
}

}  // namespace azhub::cli
