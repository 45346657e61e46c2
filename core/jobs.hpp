#pragma once
// IoT Hub jobs (docs/protocol.md §17): a twin update or a direct method applied to every device
// a query condition selects, at a start time, within a maximum execution time. The job and
// device-job documents of the jobs v2 REST API, their statuses, and the checks a job request
// gets before the hub accepts it. Pure: the emulator runs jobs, `azhub service job` sends
// requests and reads the answers; both use these.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace azhub::core::jobs {

enum class JobType { schedule_update_twin, schedule_device_method };
// "scheduleUpdateTwin", "scheduleDeviceMethod".
[[nodiscard]] std::string_view to_string(JobType type);
[[nodiscard]] std::optional<JobType> parse_job_type(std::string_view text);

// A job's life: queued (accepted, start time not reached) → running → completed, or failed
// (it ran out of maxExecutionTimeInSeconds) or cancelled. "scheduled" and "enqueued" are
// statuses the service documents too; the emulator reports "queued" for a job waiting for its
// start time, as the service answers a PUT.
enum class JobStatus { queued, scheduled, enqueued, running, completed, failed, cancelled, unknown };
[[nodiscard]] std::string_view to_string(JobStatus status);
[[nodiscard]] std::optional<JobStatus> parse_job_status(std::string_view text);
// completed, failed, cancelled.
[[nodiscard]] bool is_finished(JobStatus status);

// One device's part of a job.
enum class DeviceJobStatus { pending, scheduled, running, completed, failed, cancelled };
[[nodiscard]] std::string_view to_string(DeviceJobStatus status);
[[nodiscard]] std::optional<DeviceJobStatus> parse_device_job_status(std::string_view text);

// The method a scheduleDeviceMethod job calls (cloudToDeviceMethod).
struct JobMethod {
  std::string method_name;
  nlohmann::json payload;  // null when none
  int response_timeout_s = 30;
  int connect_timeout_s = 0;
};

struct DeviceJobStatistics {
  std::int64_t device_count = 0;
  std::int64_t failed_count = 0;
  std::int64_t succeeded_count = 0;
  std::int64_t running_count = 0;
  std::int64_t pending_count = 0;
};

struct Job {
  std::string job_id;
  JobType type = JobType::schedule_update_twin;
  std::string query_condition;            // the WHERE condition, without "WHERE"
  std::int64_t created_ms = 0;
  std::int64_t start_ms = 0;              // when it may start (created_ms when none or a past time was asked)
  std::optional<std::int64_t> end_ms;     // when it finished
  std::int64_t max_execution_s = 0;
  std::optional<JobMethod> method;        // scheduleDeviceMethod
  std::optional<nlohmann::json> update_twin;  // scheduleUpdateTwin: {tags, properties.desired}
  JobStatus status = JobStatus::queued;
  std::optional<std::string> failure_reason;
  std::optional<std::string> status_message;
  DeviceJobStatistics statistics;
};

// The outcome of one device's part.
struct DeviceJob {
  std::string job_id;
  std::string device_id;
  JobType type = JobType::schedule_update_twin;
  DeviceJobStatus status = DeviceJobStatus::pending;
  std::int64_t created_ms = 0;
  std::int64_t start_ms = 0;        // 0 = not started
  std::int64_t end_ms = 0;          // 0 = not finished
  std::int64_t last_updated_ms = 0;
  // A method job's answer from the device: its status and payload (JSON, null when none).
  std::optional<int> method_status;
  nlohmann::json method_payload;
  // Why it failed: an IoT Hub error name ("DeviceNotOnline") and a description.
  std::optional<std::string> error_code;
  std::string error_description;
};

// Longest a job may run, and the default the Node service SDK sends (§17).
inline constexpr std::int64_t k_max_execution_default_s = 3600;
// Job ids: 1-64 ASCII letters, digits and '-' (§17).
inline constexpr std::size_t k_job_id_max_chars = 64;
// Throws Error(usage) naming the id otherwise (parse_job_request: HubError 400004).
void validate_job_id(std::string_view id);

// Checks a PUT /jobs/v2/{id} body for the job `path_job_id` and returns the job it asks for:
// queued, start_ms the startTime asked for (0 without one), created_ms 0 (the hub sets both
// when it accepts the job). Throws
// HubError(400004) naming the member at fault: a jobId other than the path's, an unknown type,
// no queryCondition, a missing updateTwin or cloudToDeviceMethod, a bad method name or
// timeouts, a payload over 128 KB, maxExecutionTimeInSeconds not positive, a bad startTime.
// The updateTwin document is returned as sent; its tags and desired properties are checked
// by the twin rules where it is applied.
[[nodiscard]] Job parse_job_request(const nlohmann::json& body, std::string_view path_job_id);

// The PUT body for `job` (the inverse of parse_job_request): jobId, type, queryCondition,
// cloudToDeviceMethod or updateTwin, startTime (when start_ms is not 0), maxExecutionTimeInSeconds.
[[nodiscard]] nlohmann::ordered_json job_request_json(const Job& job);

// The job as the jobs v2 API returns it (JobResponse): jobId, queryCondition, createdTime,
// startTime, endTime, maxExecutionTimeInSeconds, type, cloudToDeviceMethod, updateTwin, status,
// failureReason, statusMessage, deviceJobStatistics, in that member order; members without a
// value are left out.
[[nodiscard]] nlohmann::ordered_json to_json(const Job& job);
// A devices.jobs row: deviceId, jobId, jobType, status, startTimeUtc, endTimeUtc,
// createdDateTimeUtc, lastUpdatedDateTimeUtc, outcome {deviceMethodResponse}, error {code,
// description}.
[[nodiscard]] nlohmann::ordered_json to_json(const DeviceJob& job);

// Reads back what to_json wrote (the emulator's store). Throws Error(failure) "job: <reason>".
[[nodiscard]] Job job_from_json(const nlohmann::json& doc);
[[nodiscard]] DeviceJob device_job_from_json(const nlohmann::json& doc);

}  // namespace azhub::core::jobs
