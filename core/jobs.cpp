#include "core/jobs.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/hub_errors.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"
#include "core/topics.hpp"

namespace azhub::core::jobs {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::array<std::pair<JobType, std::string_view>, 2> k_types{{
    {JobType::schedule_update_twin, "scheduleUpdateTwin"},
    {JobType::schedule_device_method, "scheduleDeviceMethod"},
}};

constexpr std::array<std::pair<JobStatus, std::string_view>, 8> k_statuses{{
    {JobStatus::queued, "queued"},
    {JobStatus::scheduled, "scheduled"},
    {JobStatus::enqueued, "enqueued"},
    {JobStatus::running, "running"},
    {JobStatus::completed, "completed"},
    {JobStatus::failed, "failed"},
    {JobStatus::cancelled, "cancelled"},
    {JobStatus::unknown, "unknown"},
}};

constexpr std::array<std::pair<DeviceJobStatus, std::string_view>, 6> k_device_statuses{{
    {DeviceJobStatus::pending, "pending"},
    {DeviceJobStatus::scheduled, "scheduled"},
    {DeviceJobStatus::running, "running"},
    {DeviceJobStatus::completed, "completed"},
    {DeviceJobStatus::failed, "failed"},
    {DeviceJobStatus::cancelled, "canceled"},  // one L, as DeviceJobStatus spells it
}};

template <typename Enum, std::size_t N>
std::string_view name_in(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return {};
}

// The service compares these names ignoring case (the SDKs write them in camelCase).
template <typename Enum, std::size_t N>
std::optional<Enum> value_in(const std::array<std::pair<Enum, std::string_view>, N>& table, std::string_view text) {
  for (const auto& [v, name] : table)
    if (iequals(name, text)) return v;
  return std::nullopt;
}

[[noreturn]] void refuse(const std::string& message) { throw HubError(400004, message); }

// A member that must be an integer in [lo, hi] when present and not null.
std::optional<std::int64_t> integer_member(const json& body, const char* name, std::int64_t lo, std::int64_t hi) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) refuse(fmt::format("{} must be an integer", name));
  const auto value = it->get<std::int64_t>();
  if (value < lo || value > hi) refuse(fmt::format("{} must be between {} and {}", name, lo, hi));
  return value;
}

JobMethod parse_method(const json& body) {
  const auto it = body.find("cloudToDeviceMethod");
  if (it == body.end() || !it->is_object())
    refuse("cloudToDeviceMethod is required by a scheduleDeviceMethod job and must be an object");
  const json& m = *it;
  JobMethod method;
  const auto name = m.find("methodName");
  if (name == m.end() || !name->is_string()) refuse("cloudToDeviceMethod.methodName is required");
  method.method_name = name->get<std::string>();
  try {
    validate_method_name(method.method_name);
  } catch (const Error& e) {
    refuse(fmt::format("cloudToDeviceMethod.methodName: {}", e.what()));
  }
  if (const auto payload = m.find("payload"); payload != m.end()) method.payload = *payload;
  if (method.payload.dump().size() > limits::k_method_payload_bytes)
    refuse("cloudToDeviceMethod.payload is over 128 KB");
  if (const auto t = integer_member(m, "responseTimeoutInSeconds", limits::k_method_timeout_min_s,
                                    limits::k_method_timeout_max_s))
    method.response_timeout_s = static_cast<int>(*t);
  if (const auto t = integer_member(m, "connectTimeoutInSeconds", 0, limits::k_method_connect_timeout_max_s))
    method.connect_timeout_s = static_cast<int>(*t);
  return method;
}

std::string timestamp(std::int64_t ms) { return format_iso8601(ms, true); }

std::int64_t time_member(const json& doc, const char* name) {
  const auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) return 0;
  try {
    return parse_iso8601_millis(it->get<std::string>(), name);
  } catch (const Error& e) {
    throw Error(ExitCode::failure, fmt::format("job: {}", e.what()));
  }
}

std::string string_member(const json& doc, const char* name) {
  const auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) throw Error(ExitCode::failure, fmt::format("job: {} is missing", name));
  return it->get<std::string>();
}

template <typename T>
T parsed(std::optional<T> value, const char* what) {
  if (!value) throw Error(ExitCode::failure, fmt::format("job: unknown {}", what));
  return *value;
}

}  // namespace

void validate_job_id(std::string_view id) {
  if (id.empty() || id.size() > k_job_id_max_chars)
    throw usage_error(fmt::format("job id '{}': must be 1 to {} characters", id, k_job_id_max_chars));
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) throw usage_error(fmt::format("job id '{}': only ASCII letters, digits and '-' are allowed", id));
  }
}

std::string_view to_string(JobType type) { return name_in(k_types, type); }
std::optional<JobType> parse_job_type(std::string_view text) { return value_in(k_types, text); }
std::string_view to_string(JobStatus status) { return name_in(k_statuses, status); }
std::optional<JobStatus> parse_job_status(std::string_view text) { return value_in(k_statuses, text); }
std::string_view to_string(DeviceJobStatus status) { return name_in(k_device_statuses, status); }
std::optional<DeviceJobStatus> parse_device_job_status(std::string_view text) {
  return value_in(k_device_statuses, text);
}

bool is_finished(JobStatus status) {
  return status == JobStatus::completed || status == JobStatus::failed || status == JobStatus::cancelled;
}

Job parse_job_request(const json& body, std::string_view path_job_id) {
  try {
    validate_job_id(path_job_id);
  } catch (const Error& e) {
    refuse(e.what());
  }
  if (!body.is_object()) refuse("the body must be a JSON object describing the job");
  Job job;
  job.job_id = std::string(path_job_id);
  if (const auto id = body.find("jobId"); id != body.end() && !id->is_null()) {
    if (!id->is_string() || id->get_ref<const std::string&>() != path_job_id)
      refuse(fmt::format("jobId in the body must be the path's job id '{}'", path_job_id));
  }
  const auto type = body.find("type");
  if (type == body.end() || !type->is_string()) refuse("type is required: scheduleUpdateTwin or scheduleDeviceMethod");
  const auto parsed_type = parse_job_type(type->get<std::string>());
  if (!parsed_type)
    refuse(fmt::format("type '{}' is not scheduleUpdateTwin or scheduleDeviceMethod", type->get<std::string>()));
  job.type = *parsed_type;

  const auto condition = body.find("queryCondition");
  if (condition == body.end() || !condition->is_string() || condition->get_ref<const std::string&>().empty())
    refuse("queryCondition is required: the WHERE condition selecting the job's devices");
  job.query_condition = condition->get<std::string>();

  if (job.type == JobType::schedule_device_method) {
    job.method = parse_method(body);
  } else {
    const auto twin = body.find("updateTwin");
    if (twin == body.end() || !twin->is_object())
      refuse("updateTwin is required by a scheduleUpdateTwin job and must be an object");
    job.update_twin = *twin;
  }

  if (const auto start = body.find("startTime"); start != body.end() && !start->is_null()) {
    if (!start->is_string()) refuse("startTime must be an ISO 8601 time");
    try {
      job.start_ms = parse_iso8601_millis(start->get<std::string>(), "startTime");
    } catch (const Error& e) {
      refuse(e.what());
    }
  }
  job.max_execution_s = integer_member(body, "maxExecutionTimeInSeconds", 1, std::numeric_limits<std::int32_t>::max())
                            .value_or(k_max_execution_default_s);
  job.status = JobStatus::queued;
  return job;
}

namespace {
ordered_json method_json(const JobMethod& method) {
  return {{"methodName", method.method_name},
          {"payload", method.payload},
          {"responseTimeoutInSeconds", method.response_timeout_s},
          {"connectTimeoutInSeconds", method.connect_timeout_s}};
}
}  // namespace

ordered_json job_request_json(const Job& job) {
  ordered_json doc;
  doc["jobId"] = job.job_id;
  doc["type"] = to_string(job.type);
  doc["queryCondition"] = job.query_condition;
  if (job.method) doc["cloudToDeviceMethod"] = method_json(*job.method);
  if (job.update_twin) doc["updateTwin"] = *job.update_twin;
  if (job.start_ms != 0) doc["startTime"] = timestamp(job.start_ms);
  doc["maxExecutionTimeInSeconds"] = job.max_execution_s;
  return doc;
}

ordered_json to_json(const Job& job) {
  ordered_json doc;
  doc["jobId"] = job.job_id;
  doc["queryCondition"] = job.query_condition;
  doc["createdTime"] = timestamp(job.created_ms);
  doc["startTime"] = timestamp(job.start_ms);
  if (job.end_ms) doc["endTime"] = timestamp(*job.end_ms);
  doc["maxExecutionTimeInSeconds"] = job.max_execution_s;
  doc["type"] = to_string(job.type);
  if (job.method) doc["cloudToDeviceMethod"] = method_json(*job.method);
  if (job.update_twin) doc["updateTwin"] = *job.update_twin;
  doc["status"] = to_string(job.status);
  if (job.failure_reason) doc["failureReason"] = *job.failure_reason;
  if (job.status_message) doc["statusMessage"] = *job.status_message;
  doc["deviceJobStatistics"] = {{"deviceCount", job.statistics.device_count},
                                {"failedCount", job.statistics.failed_count},
                                {"succeededCount", job.statistics.succeeded_count},
                                {"runningCount", job.statistics.running_count},
                                {"pendingCount", job.statistics.pending_count}};
  return doc;
}

ordered_json to_json(const DeviceJob& job) {
  ordered_json doc;
  doc["deviceId"] = job.device_id;
  doc["jobId"] = job.job_id;
  doc["jobType"] = to_string(job.type);
  doc["status"] = to_string(job.status);
  if (job.start_ms != 0) doc["startTimeUtc"] = timestamp(job.start_ms);
  if (job.end_ms != 0) doc["endTimeUtc"] = timestamp(job.end_ms);
  doc["createdDateTimeUtc"] = timestamp(job.created_ms);
  doc["lastUpdatedDateTimeUtc"] = timestamp(job.last_updated_ms);
  if (job.status == DeviceJobStatus::failed) {
    doc["outcome"] = ordered_json::object();  // as the service writes a failed part's
  } else {
    ordered_json response = nullptr;
    if (job.method_status) response = {{"status", *job.method_status}, {"payload", job.method_payload}};
    doc["outcome"] = {{"deviceMethodResponse", response}};
  }
  if (job.error_code) doc["error"] = {{"code", *job.error_code}, {"description", job.error_description}};
  return doc;
}

Job job_from_json(const json& doc) {
  if (!doc.is_object()) throw Error(ExitCode::failure, "job: not a JSON object");
  Job job;
  job.job_id = string_member(doc, "jobId");
  job.query_condition = string_member(doc, "queryCondition");
  job.created_ms = time_member(doc, "createdTime");
  job.start_ms = time_member(doc, "startTime");
  if (doc.contains("endTime")) job.end_ms = time_member(doc, "endTime");
  job.max_execution_s = doc.value("maxExecutionTimeInSeconds", k_max_execution_default_s);
  job.type = parsed(parse_job_type(string_member(doc, "type")), "type");
  if (const auto m = doc.find("cloudToDeviceMethod"); m != doc.end() && m->is_object()) {
    JobMethod method;
    method.method_name = string_member(*m, "methodName");
    method.payload = m->value("payload", json());
    method.response_timeout_s = m->value("responseTimeoutInSeconds", 30);
    method.connect_timeout_s = m->value("connectTimeoutInSeconds", 0);
    job.method = std::move(method);
  }
  if (const auto t = doc.find("updateTwin"); t != doc.end() && t->is_object()) job.update_twin = *t;
  job.status = parsed(parse_job_status(string_member(doc, "status")), "status");
  if (doc.contains("failureReason")) job.failure_reason = string_member(doc, "failureReason");
  if (doc.contains("statusMessage")) job.status_message = string_member(doc, "statusMessage");
  if (const auto s = doc.find("deviceJobStatistics"); s != doc.end() && s->is_object()) {
    job.statistics.device_count = s->value("deviceCount", std::int64_t{0});
    job.statistics.failed_count = s->value("failedCount", std::int64_t{0});
    job.statistics.succeeded_count = s->value("succeededCount", std::int64_t{0});
    job.statistics.running_count = s->value("runningCount", std::int64_t{0});
    job.statistics.pending_count = s->value("pendingCount", std::int64_t{0});
  }
  return job;
}

DeviceJob device_job_from_json(const json& doc) {
  if (!doc.is_object()) throw Error(ExitCode::failure, "job: not a JSON object");
  DeviceJob job;
  job.device_id = string_member(doc, "deviceId");
  job.job_id = string_member(doc, "jobId");
  job.type = parsed(parse_job_type(string_member(doc, "jobType")), "jobType");
  job.status = parsed(parse_device_job_status(string_member(doc, "status")), "status");
  job.start_ms = time_member(doc, "startTimeUtc");
  job.end_ms = time_member(doc, "endTimeUtc");
  job.created_ms = time_member(doc, "createdDateTimeUtc");
  job.last_updated_ms = time_member(doc, "lastUpdatedDateTimeUtc");
  if (const auto o = doc.find("outcome"); o != doc.end() && o->is_object()) {
    if (const auto r = o->find("deviceMethodResponse"); r != o->end() && r->is_object()) {
      job.method_status = r->value("status", 0);
      job.method_payload = r->value("payload", json());
    }
  }
  if (const auto e = doc.find("error"); e != doc.end() && e->is_object()) {
    job.error_code = string_member(*e, "code");
    job.error_description = e->value("description", std::string());
  }
  return job;
}

}  // namespace azhub::core::jobs
