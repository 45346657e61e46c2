// Hub jobs (docs/protocol.md §17) behind a FakeClock and FakeSessions: selection, twin and method
// parts, failures, cancellation, the execution deadline, slices, and a restart over the store.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/jobs.hpp"
#include "core/topics.hpp"
#include "hub_fixture.hpp"

namespace azhub::emulator {
namespace {

using core::jobs::DeviceJobStatus;
using core::jobs::Job;
using core::jobs::JobStatus;
using core::jobs::JobType;
using nlohmann::json;
using testing::FakeSession;
using testing::HubFixture;

Job twin_job(const std::string& id, const std::string& condition, json update) {
  Job job;
  job.job_id = id;
  job.type = JobType::schedule_update_twin;
  job.query_condition = condition;
  job.update_twin = std::move(update);
  job.max_execution_s = 3600;
  return job;
}

Job method_job(const std::string& id, const std::string& condition, const std::string& name) {
  Job job;
  job.job_id = id;
  job.type = JobType::schedule_device_method;
  job.query_condition = condition;
  core::jobs::JobMethod method;
  method.method_name = name;
  method.payload = json{{"delay", 5}};
  method.response_timeout_s = 30;
  job.method = method;
  job.max_execution_s = 3600;
  return job;
}

// Devices dev1 (from the fixture), dev2, dev3; dev1 and dev2 tagged floor 2.
void add_devices(HubFixture& f) {
  for (const char* id : {"dev2", "dev3"}) {
    IdentityRecord r;
    r.key = {id, {}};
    (void)f.hub->create_identity(r);
  }
  for (const char* id : {"dev1", "dev2"}) (void)f.hub->update_twin({id, {}}, json{{"tags", {{"floor", 2}}}}, std::nullopt);
}

const core::jobs::DeviceJob& part(const HubFixture& f, const std::string& job, const std::string& device) {
  return f.hub->device_jobs().at({job, device});
}

}  // namespace

TEST_CASE("emulator::Hub jobs: a twin job updates exactly the selected devices") {
  HubFixture f;
  add_devices(f);
  const auto accepted = f.hub->create_job(twin_job("j1", "tags.floor = 2", json{{"etag", "*"}, {"properties", {{"desired", {{"fw", "2.0"}}}}}}));
  CHECK(accepted.status == JobStatus::queued);
  CHECK(accepted.created_ms == f.clock.now);
  CHECK(f.hub->device_jobs().empty());  // nothing runs inside the request
  f.clock.advance(0);
  const auto job = *f.hub->get_job("j1");
  CHECK(job.status == JobStatus::completed);
  CHECK(job.statistics.device_count == 2);
  CHECK(job.statistics.succeeded_count == 2);
  CHECK(job.statistics.failed_count == 0);
  CHECK(job.end_ms.has_value());
  CHECK(f.hub->get_twin({"dev1", {}}).desired == json{{"fw", "2.0"}});
  CHECK(f.hub->get_twin({"dev2", {}}).desired == json{{"fw", "2.0"}});
  CHECK(f.hub->get_twin({"dev3", {}}).desired == json::object());
  CHECK(part(f, "j1", "dev1").status == DeviceJobStatus::completed);
  CHECK(f.hub->device_jobs().count({"j1", "dev3"}) == 0);
}

TEST_CASE("emulator::Hub jobs: refusals at creation") {
  HubFixture f;
  (void)f.hub->create_job(twin_job("j1", "*", json{{"tags", {{"a", 1}}}}));
  CHECK_THROWS_WITH_AS((void)f.hub->create_job(twin_job("j1", "*", json{{"tags", {{"a", 1}}}})),
                       "a job with id 'j1' already exists", core::HubError);
  try {
    (void)f.hub->create_job(twin_job("j2", "tags.x = = 1", json{{"tags", {{"a", 1}}}}));
    FAIL("accepted a bad condition");
  } catch (const core::HubError& e) {
    CHECK(e.error_code() == 400004);
    CHECK(std::string(e.what()).find("column 10") != std::string::npos);
  }
  CHECK_THROWS_AS((void)f.hub->create_job(twin_job("j3", "tags.x = 1 GROUP BY tags.x", json{{"tags", {{"a", 1}}}})), core::HubError);
  CHECK_THROWS_AS((void)f.hub->create_job(twin_job("j4", "*", json{{"tags", {{"bad.key", 1}}}})), core::HubError);
  CHECK_THROWS_AS((void)f.hub->create_job(twin_job("j5", "*", json{{"etag", "*"}})), core::HubError);
  CHECK_FALSE(f.hub->get_job("j2"));
  CHECK_THROWS_WITH_AS((void)f.hub->cancel_job("nope"), "job 'nope' does not exist", core::HubError);
}

TEST_CASE("emulator::Hub jobs: a method job records answers, offline devices and timeouts") {
  HubFixture f;
  add_devices(f);
  FakeSession s1;
  f.online(s1);
  f.subscribe(s1, {{"$iothub/methods/POST/#", 0}});
  (void)f.hub->create_job(method_job("m1", "*", "reboot"));
  f.clock.advance(0);
  // dev1 got the request with the job's payload; dev2 and dev3 are offline (connect timeout 0).
  const auto pubs = s1.publishes();
  REQUIRE(pubs.size() == 1);
  const auto request = core::parse_method_request_topic(pubs[0].topic);
  REQUIRE(request);
  CHECK(request->name == "reboot");
  CHECK(json::parse(pubs[0].payload) == json{{"delay", 5}});
  CHECK(f.hub->get_job("m1")->status == JobStatus::running);
  CHECK(part(f, "m1", "dev1").status == DeviceJobStatus::running);
  CHECK(part(f, "m1", "dev2").status == DeviceJobStatus::failed);
  CHECK(*part(f, "m1", "dev2").error_code == "DeviceNotOnline");
  f.hub->handle_packet(s1, mqtt::Publish{"$iothub/methods/res/201/?$rid=" + request->rid, R"({"ok":true})", 0, false, false, 0});
  const auto job = *f.hub->get_job("m1");
  CHECK(job.status == JobStatus::completed);
  CHECK(job.statistics.device_count == 3);
  CHECK(job.statistics.succeeded_count == 1);
  CHECK(job.statistics.failed_count == 2);
  const auto& answered = part(f, "m1", "dev1");
  CHECK(answered.status == DeviceJobStatus::completed);
  CHECK(*answered.method_status == 201);
  CHECK(answered.method_payload == json{{"ok", true}});
  const auto row = core::jobs::to_json(answered);
  CHECK(row["outcome"]["deviceMethodResponse"]["status"] == 201);
  CHECK(core::jobs::to_json(part(f, "m1", "dev3"))["outcome"] == json::object());

  SUBCASE("a device that does not answer fails with GatewayTimeout") {
    (void)f.hub->create_job(method_job("m2", "deviceId = 'dev1'", "reboot"));
    f.clock.advance(0);
    f.clock.advance(30'000);
    CHECK(*part(f, "m2", "dev1").error_code == "GatewayTimeout");
    CHECK(f.hub->get_job("m2")->status == JobStatus::completed);
  }
}

TEST_CASE("emulator::Hub jobs: start time, cancellation and the execution deadline") {
  HubFixture f;
  add_devices(f);
  auto later = twin_job("later", "*", json{{"tags", {{"x", 1}}}});
  later.start_ms = f.clock.now + 60'000;
  (void)f.hub->create_job(later);
  f.clock.advance(59'000);
  CHECK(f.hub->get_job("later")->status == JobStatus::queued);
  CHECK(f.hub->get_twin({"dev1", {}}).tags.count("x") == 0);

  SUBCASE("it runs at its start time") {
    f.clock.advance(1'000);
    CHECK(f.hub->get_job("later")->status == JobStatus::completed);
    CHECK(f.hub->get_twin({"dev1", {}}).tags["x"] == 1);
  }
  SUBCASE("cancelled before it starts, it never runs") {
    const auto cancelled = f.hub->cancel_job("later");
    CHECK(cancelled.status == JobStatus::cancelled);
    f.clock.advance(120'000);
    CHECK(f.hub->get_job("later")->status == JobStatus::cancelled);
    CHECK(f.hub->get_twin({"dev1", {}}).tags.count("x") == 0);
    // A job that has ended is returned as it is.
    CHECK(f.hub->cancel_job("later").end_ms == cancelled.end_ms);
  }
  SUBCASE("a method job still waiting for devices at its deadline fails; pending parts can be cancelled") {
    auto slow = method_job("slow", "*", "reboot");
    slow.method->connect_timeout_s = 120;
    slow.max_execution_s = 10;
    (void)f.hub->create_job(slow);
    f.clock.advance(0);
    CHECK(f.hub->get_job("slow")->statistics.running_count == 3);
    f.clock.advance(10'000);
    const auto job = *f.hub->get_job("slow");
    CHECK(job.status == JobStatus::failed);
    CHECK(job.failure_reason == "the job did not finish within maxExecutionTimeInSeconds");
    // The calls already sent still end and are recorded.
    f.clock.advance(110'000);
    CHECK(part(f, "slow", "dev1").status == DeviceJobStatus::failed);
    CHECK(f.hub->get_job("slow")->status == JobStatus::failed);
    CHECK(f.hub->get_job("slow")->statistics.failed_count == 3);
  }
}

TEST_CASE("emulator::Hub jobs: a large job runs in slices, serving the hub in between") {
  HubFixture f;
  for (int i = 0; i < 250; ++i) {
    IdentityRecord r;
    r.key = {"bulk" + std::to_string(1000 + i), {}};
    (void)f.hub->create_identity(r);
  }
  (void)f.hub->create_job(twin_job("big", "STARTSWITH(deviceId, 'bulk')", json{{"tags", {{"batch", 7}}}}));
  // 250 twins are three slices of 100, with a zero-delay timer between them: other work due at
  // the same time (here a probe that re-arms itself) runs between the slices and sees the job
  // part done.
  std::vector<std::int64_t> seen;
  std::function<void()> probe = [&] {
    const auto now = *f.hub->get_job("big");
    seen.push_back(now.statistics.succeeded_count);
    if (!core::jobs::is_finished(now.status)) f.clock.start_timer(std::chrono::milliseconds(0), probe);
  };
  f.clock.start_timer(std::chrono::milliseconds(0), probe);
  f.clock.advance(0);
  CHECK(seen == std::vector<std::int64_t>{0, 100, 200, 250});  // after the selection, then after each slice
  const auto job = *f.hub->get_job("big");
  CHECK(job.status == JobStatus::completed);
  CHECK(job.statistics.device_count == 250);
  CHECK(job.statistics.succeeded_count == 250);
  CHECK(f.hub->get_twin({"bulk1249", {}}).tags["batch"] == 7);
  CHECK(f.hub->get_twin({"dev1", {}}).tags.count("batch") == 0);
}

TEST_CASE("emulator::Hub jobs: cancelled while it is still selecting its devices") {
  HubFixture f;
  for (int i = 0; i < 2500; ++i) {  // more than one selection slice (2,000 devices)
    IdentityRecord r;
    r.key = {"many" + std::to_string(10000 + i), {}};
    (void)f.hub->create_identity(r);
  }
  (void)f.hub->create_job(twin_job("sel", "*", json{{"tags", {{"x", 1}}}}));
  // Run the start and the first selection slice only: advance(0) would run every slice, so
  // cancel from a timer that comes due between them (the FakeClock runs due timers in order).
  f.clock.start_timer(std::chrono::milliseconds(0), [&f] { (void)f.hub->cancel_job("sel"); });
  f.clock.advance(0);
  const auto job = *f.hub->get_job("sel");
  CHECK(job.status == JobStatus::cancelled);
  CHECK(job.statistics.succeeded_count == 0);
  CHECK(f.hub->get_twin({"many10000", {}}).tags.count("x") == 0);
}

TEST_CASE("emulator::Hub jobs: after a restart") {
  HubFixture f;
  add_devices(f);
  (void)f.hub->create_job(twin_job("done", "tags.floor = 2", json{{"tags", {{"y", 1}}}}));
  f.clock.advance(0);
  auto later = twin_job("later", "*", json{{"tags", {{"z", 1}}}});
  later.start_ms = f.clock.now + 60'000;
  (void)f.hub->create_job(later);
  FakeSession s1;
  f.online(s1);
  f.subscribe(s1, {{"$iothub/methods/POST/#", 0}});
  auto inflight = method_job("inflight", "deviceId = 'dev1'", "reboot");
  (void)f.hub->create_job(inflight);
  f.clock.advance(0);
  REQUIRE(s1.publishes().size() == 1);
  CHECK(part(f, "inflight", "dev1").status == DeviceJobStatus::running);

  f.open();  // the process stopped with the call in flight
  const auto done = *f.hub->get_job("done");
  CHECK(done.status == JobStatus::completed);
  CHECK(done.statistics.succeeded_count == 2);
  CHECK(part(f, "done", "dev2").status == DeviceJobStatus::completed);
  CHECK(f.hub->get_job("later")->status == JobStatus::queued);
  f.clock.advance(0);
  // The call sent before the stop is not sent again; it is failed.
  const auto& lost = part(f, "inflight", "dev1");
  CHECK(lost.status == DeviceJobStatus::failed);
  CHECK(*lost.error_code == "ServerError");
  CHECK(f.hub->get_job("inflight")->status == JobStatus::completed);
  CHECK(f.hub->get_job("inflight")->statistics.failed_count == 1);
  // The scheduled job still starts at its time.
  f.clock.advance(60'000);
  CHECK(f.hub->get_job("later")->status == JobStatus::completed);
  CHECK(f.hub->get_twin({"dev3", {}}).tags["z"] == 1);
  CHECK(f.hub->list_jobs().size() == 3);
}

}  // namespace azhub::emulator
