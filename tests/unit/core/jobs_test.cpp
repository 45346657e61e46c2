// core::jobs (docs/protocol.md §17): the checks of a job request, the documents and their member
// order, and reading back what the emulator stores.
#include <doctest/doctest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/hub_errors.hpp"
#include "core/jobs.hpp"
#include "core/twin_query.hpp"

namespace azhub::core::jobs {
namespace {

using nlohmann::json;

// What the Node service SDK's JobClient.scheduleDeviceMethod sends (job_client.js).
json node_method_body() {
  return json::parse(R"({"jobId":"job-1","type":"scheduleDeviceMethod",
    "cloudToDeviceMethod":{"methodName":"reboot","payload":null,"responseTimeoutInSeconds":30},
    "startTime":"2026-12-01T10:00:00.000Z","maxExecutionTimeInSeconds":3600,"queryCondition":"deviceId IN ['a','b']"})");
}

std::string refusal(const json& body, std::string_view id = "job-1") {
  try {
    (void)parse_job_request(body, id);
  } catch (const HubError& e) {
    CHECK(e.error_code() == 400004);
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("core::jobs::parse_job_request reads what the SDKs send") {
  const auto job = parse_job_request(node_method_body(), "job-1");
  CHECK(job.job_id == "job-1");
  CHECK(job.type == JobType::schedule_device_method);
  CHECK(job.query_condition == "deviceId IN ['a','b']");
  REQUIRE(job.method);
  CHECK(job.method->method_name == "reboot");
  CHECK(job.method->payload.is_null());
  CHECK(job.method->response_timeout_s == 30);
  CHECK(job.method->connect_timeout_s == 0);
  CHECK(job.start_ms == 1'796'119'200'000);
  CHECK(job.max_execution_s == 3600);
  CHECK(job.status == JobStatus::queued);

  // The promise form: startTime null, no maxExecutionTimeInSeconds; the type in another case.
  auto twin = json::parse(R"({"jobId":"t","type":"ScheduleUpdateTwin","updateTwin":{"etag":"*","tags":{"a":1}},
                              "startTime":null,"queryCondition":"*"})");
  const auto t = parse_job_request(twin, "t");
  CHECK(t.type == JobType::schedule_update_twin);
  CHECK(t.start_ms == 0);
  CHECK(t.max_execution_s == k_max_execution_default_s);
  CHECK(*t.update_twin == json::parse(R"({"etag":"*","tags":{"a":1}})"));
}

TEST_CASE("core::jobs::parse_job_request refuses, naming the member") {
  auto body = node_method_body();
  CHECK(refusal(body, "other").find("jobId in the body must be the path's job id 'other'") != std::string::npos);
  CHECK(refusal(body, "a b").find("only ASCII letters, digits and '-'") != std::string::npos);
  CHECK(refusal(body, std::string(65, 'a')).find("1 to 64 characters") != std::string::npos);
  CHECK(refusal(body, "") .find("1 to 64") != std::string::npos);
  body["type"] = "scheduleDirectMethod";
  CHECK(refusal(body).find("type 'scheduleDirectMethod'") != std::string::npos);
  body = node_method_body();
  body.erase("queryCondition");
  CHECK(refusal(body).find("queryCondition is required") != std::string::npos);
  body = node_method_body();
  body.erase("cloudToDeviceMethod");
  CHECK(refusal(body).find("cloudToDeviceMethod is required") != std::string::npos);
  body = node_method_body();
  body["cloudToDeviceMethod"]["methodName"] = "";
  CHECK(refusal(body).find("cloudToDeviceMethod.methodName") != std::string::npos);
  body = node_method_body();
  body["cloudToDeviceMethod"]["responseTimeoutInSeconds"] = 301;
  CHECK(refusal(body).find("responseTimeoutInSeconds must be between 5 and 300") != std::string::npos);
  body = node_method_body();
  body["cloudToDeviceMethod"]["payload"] = std::string(128 * 1024, 'x');
  CHECK(refusal(body).find("over 128 KB") != std::string::npos);
  body = node_method_body();
  body["maxExecutionTimeInSeconds"] = 0;
  CHECK(refusal(body).find("maxExecutionTimeInSeconds") != std::string::npos);
  body = node_method_body();
  body["startTime"] = "tomorrow";
  CHECK(refusal(body).find("startTime") != std::string::npos);
  CHECK(refusal(json::array()).find("JSON object") != std::string::npos);
  auto twin = json::parse(R"({"type":"scheduleUpdateTwin","queryCondition":"*"})");
  CHECK(refusal(twin).find("updateTwin is required") != std::string::npos);
}

TEST_CASE("core::jobs documents: member order, statuses, round trip") {
  Job job;
  job.job_id = "j1";
  job.type = JobType::schedule_device_method;
  job.query_condition = "*";
  job.created_ms = 1'796'119'200'000;
  job.start_ms = job.created_ms;
  job.end_ms = job.created_ms + 1500;
  job.max_execution_s = 60;
  job.method = JobMethod{"reboot", json{{"a", 1}}, 10, 5};
  job.status = JobStatus::failed;
  job.failure_reason = "out of time";
  job.statistics = {3, 1, 2, 0, 0};
  const auto doc = to_json(job);
  CHECK(doc.dump() ==
        R"({"jobId":"j1","queryCondition":"*","createdTime":"2026-12-01T10:00:00.000Z","startTime":"2026-12-01T10:00:00.000Z",)"
        R"("endTime":"2026-12-01T10:00:01.500Z","maxExecutionTimeInSeconds":60,"type":"scheduleDeviceMethod",)"
        R"("cloudToDeviceMethod":{"methodName":"reboot","payload":{"a":1},"responseTimeoutInSeconds":10,"connectTimeoutInSeconds":5},)"
        R"("status":"failed","failureReason":"out of time",)"
        R"("deviceJobStatistics":{"deviceCount":3,"failedCount":1,"succeededCount":2,"runningCount":0,"pendingCount":0}})");
  const auto back = job_from_json(json::parse(doc.dump()));
  CHECK(to_json(back) == doc);
  // The request a client sends for it parses back to the same job.
  const auto request = parse_job_request(json::parse(job_request_json(job).dump()), "j1");
  CHECK(request.method->method_name == "reboot");
  CHECK(request.method->connect_timeout_s == 5);
  CHECK(request.max_execution_s == 60);

  DeviceJob part;
  part.job_id = "j1";
  part.device_id = "d1";
  part.type = JobType::schedule_device_method;
  part.status = DeviceJobStatus::cancelled;
  part.created_ms = part.last_updated_ms = job.created_ms;
  const auto row = to_json(part);
  CHECK(row.dump() == R"({"deviceId":"d1","jobId":"j1","jobType":"scheduleDeviceMethod","status":"canceled",)"
                      R"("createdDateTimeUtc":"2026-12-01T10:00:00.000Z","lastUpdatedDateTimeUtc":"2026-12-01T10:00:00.000Z",)"
                      R"("outcome":{"deviceMethodResponse":null}})");
  part.status = DeviceJobStatus::failed;
  part.error_code = "DeviceNotOnline";
  part.error_description = "offline";
  part.start_ms = part.end_ms = job.created_ms;
  const auto failed = to_json(part);
  CHECK(failed["outcome"] == json::object());
  CHECK(failed["error"] == json{{"code", "DeviceNotOnline"}, {"description", "offline"}});
  CHECK(to_json(device_job_from_json(json::parse(failed.dump()))) == failed);

  CHECK(parse_job_status("Cancelled") == JobStatus::cancelled);
  CHECK_FALSE(parse_job_status("finished"));
  CHECK(parse_device_job_status("canceled") == DeviceJobStatus::cancelled);
  CHECK(is_finished(JobStatus::completed));
  CHECK_FALSE(is_finished(JobStatus::running));
}

TEST_CASE("core::jobs rows answer the devices.jobs examples of Microsoft's query-jobs page") {
  // Rows as the emulator writes them: two devices' parts of two jobs.
  std::vector<json> rows;
  for (const auto& [device, job, type, status] :
       {std::tuple{"myDeviceId", "myJobId", JobType::schedule_update_twin, DeviceJobStatus::completed},
        std::tuple{"myDeviceId", "otherJob", JobType::schedule_device_method, DeviceJobStatus::failed},
        std::tuple{"otherDevice", "myJobId", JobType::schedule_update_twin, DeviceJobStatus::completed}}) {
    DeviceJob part;
    part.device_id = device;
    part.job_id = job;
    part.type = type;
    part.status = status;
    part.created_ms = part.last_updated_ms = part.start_ms = part.end_ms = 1'796'119'200'000;
    rows.push_back(json(to_json(part)));
  }
  const auto select = [&](std::string_view text) {
    const auto query = TwinQuery::parse(text);
    CHECK(query.collection() == QueryCollection::jobs);
    CHECK(query.item_type() == "deviceJob");
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& row : rows)
      if (query.matches(row)) out.emplace_back(row["deviceId"], row["jobId"]);
    return out;
  };
  using Rows = std::vector<std::pair<std::string, std::string>>;
  CHECK(select("SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'myDeviceId'") ==
        Rows{{"myDeviceId", "myJobId"}, {"myDeviceId", "otherJob"}});
  CHECK(select("SELECT * FROM devices.jobs WHERE devices.jobs.deviceId = 'myDeviceId' AND devices.jobs.jobType = "
               "'scheduleUpdateTwin' AND devices.jobs.status = 'completed'") == Rows{{"myDeviceId", "myJobId"}});
  CHECK(select("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'myJobId'") ==
        Rows{{"myDeviceId", "myJobId"}, {"otherDevice", "myJobId"}});
  // "arbitrary Boolean conditions on all object properties", with or without the prefix.
  CHECK(select("SELECT * FROM devices.jobs WHERE status = 'failed' OR IS_DEFINED(error)") ==
        Rows{{"myDeviceId", "otherJob"}});
  CHECK(select("SELECT * FROM devices.jobs WHERE devices.jobs.createdDateTimeUtc > '2016-09-01'").size() == 3);
}

}  // namespace azhub::core::jobs
