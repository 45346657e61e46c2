// Hub: jobs (docs/protocol.md §17). A job waits for its start time, then selects its devices with
// its query condition, then updates their twins or calls their method, a slice at a time on the
// hub's thread (a timer between slices, so device traffic and REST calls are served meanwhile).
// Every step is in the store before the next: after a restart a job continues where it was.
#include <algorithm>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/text.hpp"
#include "core/twin_query.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {
namespace {

using core::jobs::DeviceJob;
using core::jobs::DeviceJobStatus;
using core::jobs::Job;
using core::jobs::JobStatus;
using core::jobs::JobType;
using nlohmann::json;

// Devices the selection scan evaluates per slice, twins a twin job updates per slice, and the
// method calls a method job keeps outstanding at once (§17).
constexpr std::size_t k_scan_slice = 2000;
constexpr std::size_t k_twin_slice = 100;
constexpr std::size_t k_method_parallel = 100;


// The selection query of a job: its condition as the WHERE of a devices query. The condition is
// put on a line of its own, so a syntax error's column counts from the condition's start.
// "*" selects every device.
core::TwinQuery selection_of(const std::string& condition) {
  if (core::trim(condition) == "*") return core::TwinQuery::parse("SELECT * FROM devices");
  try {
    auto query = core::TwinQuery::parse("SELECT * FROM devices WHERE\n" + condition);
    if (query.is_aggregate() || query.top())
      throw HubError(400004, "queryCondition: a WHERE condition only (no GROUP BY, TOP or aggregates)");
    return query;
  } catch (const HubError& e) {
    std::string message = e.what();
    if (const auto at = message.find("line 2, "); at != std::string::npos) message.erase(at, 8);
    throw HubError(e.error_code(), "queryCondition: " + message);
  }
}

// The twin write of an updateTwin document: its tags and desired properties (its etag, device
// id and other members are not written, as on PATCH /twins; §17.1).
json twin_patch_of(const json& update) {
  json patch = json::object();
  if (const auto tags = update.find("tags"); tags != update.end() && !tags->is_null()) patch["tags"] = *tags;
  if (const auto props = update.find("properties"); props != update.end() && props->is_object()) {
    // The Node SDK's samples send an empty "reported": {} beside desired; it writes nothing and
    // is dropped. A non-empty one is kept, for the twin rules to refuse.
    if (const auto reported = props->find("reported");
        reported != props->end() && !reported->is_null() && !(reported->is_object() && reported->empty()))
      patch["properties"]["reported"] = *reported;
    if (const auto desired = props->find("desired"); desired != props->end() && !desired->is_null())
      patch["properties"]["desired"] = *desired;
  }
  return patch;
}

bool is_pending(DeviceJobStatus s) { return s == DeviceJobStatus::pending || s == DeviceJobStatus::scheduled; }

void count(core::jobs::DeviceJobStatistics& stats, DeviceJobStatus status, std::int64_t delta) {
  switch (status) {
    case DeviceJobStatus::pending:
    case DeviceJobStatus::scheduled: stats.pending_count += delta; break;
    case DeviceJobStatus::running: stats.running_count += delta; break;
    case DeviceJobStatus::completed: stats.succeeded_count += delta; break;
    case DeviceJobStatus::failed: stats.failed_count += delta; break;
    case DeviceJobStatus::cancelled: break;  // counted in deviceCount only
  }
}

}  // namespace

// --- Hub API ----------------------------------------------------------------------------------

Job Hub::create_job(Job job) {
  State& s = *m_state;
  if (s.jobs.count(job.job_id) != 0)
    throw HubError(409104, fmt::format("a job with id '{}' already exists", job.job_id));
  (void)selection_of(job.query_condition);
  if (job.type == JobType::schedule_update_twin) {
    if (!job.update_twin) throw HubError(400004, "updateTwin is required by a scheduleUpdateTwin job");
    const json patch = twin_patch_of(*job.update_twin);
    if (patch.empty()) throw HubError(400004, "updateTwin has no tags or properties.desired to write");
    validate_twin_update(patch);
  }
  job.status = JobStatus::queued;
  job.created_ms = s.now();
  job.start_ms = std::max(job.start_ms, job.created_ms);  // none, or one in the past: now
  job.statistics = {};
  job.end_ms.reset();
  s.store.put_job(job);
  JobRun& run = s.jobs[job.job_id];
  run.job = std::move(job);
  s.log(1, "job: '{}' ({}) accepted, starts {}", run.job.job_id, core::jobs::to_string(run.job.type),
        run.job.start_ms <= s.now() ? std::string("now") : core::format_iso8601(run.job.start_ms));
  s.schedule_job_step(run, std::chrono::milliseconds(std::max<std::int64_t>(0, run.job.start_ms - s.now())));
  return run.job;
}

std::optional<Job> Hub::get_job(const std::string& job_id) const {
  const auto it = m_state->jobs.find(job_id);
  if (it == m_state->jobs.end()) return std::nullopt;
  return it->second.job;
}

std::vector<Job> Hub::list_jobs() const {
  std::vector<Job> out;
  out.reserve(m_state->jobs.size());
  for (const auto& [id, run] : m_state->jobs) out.push_back(run.job);
  std::stable_sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.created_ms < b.created_ms; });
  return out;
}

Job Hub::cancel_job(const std::string& job_id) {
  State& s = *m_state;
  const auto it = s.jobs.find(job_id);
  if (it == s.jobs.end()) throw HubError(404002, fmt::format("job '{}' does not exist", job_id));
  JobRun& run = it->second;
  if (core::jobs::is_finished(run.job.status)) return run.job;
  s.cancel_job_timers(run);
  std::vector<DeviceJob> changed;
  // Cancelled while still selecting its devices, a job has no parts yet.
  for (const auto& device : run.scanned ? run.targets : std::vector<std::string>{}) {
    auto& part = s.device_jobs.at({job_id, device});
    if (!is_pending(part.status)) continue;
    s.set_device_job(run, part, DeviceJobStatus::cancelled);
    changed.push_back(part);
  }
  s.store.put_device_jobs(changed);
  s.end_job(run, JobStatus::cancelled, std::nullopt);
  return run.job;
}

const Hub::DeviceJobs& Hub::device_jobs() const noexcept { return m_state->device_jobs; }

// --- running ----------------------------------------------------------------------------------

void Hub::State::schedule_job_step(JobRun& run, std::chrono::milliseconds after) {
  if (run.step_timer != 0) clock.cancel_timer(run.step_timer);
  State* self = this;
  run.step_timer = clock.start_timer(after, [self, id = run.job.job_id] {
    self->jobs.at(id).step_timer = 0;
    self->job_step(id);
  });
}

void Hub::State::cancel_job_timers(JobRun& run) {
  if (run.step_timer != 0) clock.cancel_timer(run.step_timer);
  if (run.deadline_timer != 0) clock.cancel_timer(run.deadline_timer);
  run.step_timer = run.deadline_timer = 0;
}

void Hub::State::save_job(const JobRun& run) { store.put_job(run.job); }

void Hub::State::set_device_job(JobRun& run, DeviceJob& part, DeviceJobStatus status) {
  count(run.job.statistics, part.status, -1);
  count(run.job.statistics, status, +1);
  part.status = status;
  part.last_updated_ms = now();
  if (status == DeviceJobStatus::running) part.start_ms = part.last_updated_ms;
  if (status == DeviceJobStatus::completed || status == DeviceJobStatus::failed) part.end_ms = part.last_updated_ms;
}

void Hub::State::begin_job(JobRun& run) {
  run.job.status = JobStatus::running;
  save_job(run);
  log(1, "job: '{}' running", run.job.job_id);
  const std::int64_t deadline_ms = run.job.start_ms + run.job.max_execution_s * 1000;
  State* self = this;
  run.deadline_timer = clock.start_timer(std::chrono::milliseconds(std::max<std::int64_t>(0, deadline_ms - now())),
                                         [self, id = run.job.job_id] {
                                           JobRun& r = self->jobs.at(id);
                                           r.deadline_timer = 0;
                                           if (core::jobs::is_finished(r.job.status)) return;
                                           self->end_job(r, JobStatus::failed,
                                                         "the job did not finish within maxExecutionTimeInSeconds");
                                         });
}

void Hub::State::job_step(const std::string& job_id) {
  JobRun& run = jobs.at(job_id);
  if (core::jobs::is_finished(run.job.status)) return;
  try {
    if (run.job.status != JobStatus::running) begin_job(run);
    if (!run.scanned) return scan_job_targets(run);
    if (run.job.type == JobType::schedule_update_twin) return run_twin_slice(run);
    return run_method_calls(run);
  } catch (const core::Error& e) {
    // The store failed (or a job document is unusable): the job cannot go on. Ending it writes
    // to the store too; if that fails as well the job is failed in memory only (a restart then
    // resumes it), and nothing escapes the timer into the event loop.
    log(1, "job: '{}' failed: {}", job_id, e.what());
    cancel_job_timers(run);
    try {
      end_job(run, JobStatus::failed, e.what());
    } catch (const core::Error& again) {
      log(1, "job: '{}': {}", job_id, again.what());
    }
  }
}

void Hub::State::scan_job_targets(JobRun& run) {
  const auto query = selection_of(run.job.query_condition);
  const auto members = query.referenced_members(true);
  auto it = run.scan_after ? identities.upper_bound(IdentityKey{*run.scan_after, std::string()})
                           : identities.begin();
  std::size_t seen = 0;
  for (; it != identities.end() && seen < k_scan_slice; ++it) {
    const auto& key = it->first;
    if (key.module_id) continue;  // jobs address devices (§17)
    ++seen;
    run.scan_after = key.device_id;
    if (query.matches(hub->twin_query_view(key, members))) run.targets.push_back(key.device_id);
  }
  if (it != identities.end()) return schedule_job_step(run, std::chrono::milliseconds(0));

  // Every device seen: the selection is fixed now, and stored whole in one transaction.
  run.scanned = true;
  std::vector<DeviceJob> parts;
  parts.reserve(run.targets.size());
  const auto at = now();
  for (const auto& device : run.targets) {
    DeviceJob part;
    part.job_id = run.job.job_id;
    part.device_id = device;
    part.type = run.job.type;
    part.status = DeviceJobStatus::pending;
    part.created_ms = part.last_updated_ms = at;
    parts.push_back(part);
    device_jobs[{part.job_id, device}] = std::move(part);
  }
  run.job.statistics.device_count = static_cast<std::int64_t>(run.targets.size());
  run.job.statistics.pending_count = run.job.statistics.device_count;
  store.put_device_jobs(parts);
  save_job(run);
  log(1, "job: '{}' selected {} device(s)", run.job.job_id, run.targets.size());
  schedule_job_step(run, std::chrono::milliseconds(0));
}

void Hub::State::run_twin_slice(JobRun& run) {
  const json patch = twin_patch_of(*run.job.update_twin);
  std::vector<DeviceJob> changed;
  for (std::size_t n = 0; run.next < run.targets.size() && n < k_twin_slice; ++n, ++run.next) {
    const auto& device = run.targets[run.next];
    auto& part = device_jobs.at({run.job.job_id, device});
    if (!is_pending(part.status) && part.status != DeviceJobStatus::running) continue;
    set_device_job(run, part, DeviceJobStatus::running);
    try {
      (void)hub->update_twin(IdentityKey{device, std::nullopt}, patch, std::nullopt);
      set_device_job(run, part, DeviceJobStatus::completed);
    } catch (const HubError& e) {
      part.error_code = std::string(core::name_of(e.error_code()));
      part.error_description = e.what();
      set_device_job(run, part, DeviceJobStatus::failed);
    }
    changed.push_back(part);
  }
  store.put_device_jobs(changed);
  if (run.next < run.targets.size()) {
    save_job(run);
    return schedule_job_step(run, std::chrono::milliseconds(0));
  }
  cancel_job_timers(run);
  end_job(run, JobStatus::completed, std::nullopt);
}

void Hub::State::run_method_calls(JobRun& run) {
  const auto& method = *run.job.method;
  // The parts about to be sent are stored as running first: after a stop, a part found running
  // was (or may have been) sent, and is not sent again (§17.2).
  std::vector<std::string> starting;
  std::vector<DeviceJob> started;
  while (run.next < run.targets.size() && run.in_flight + starting.size() < k_method_parallel) {
    const auto& device = run.targets[run.next++];
    auto& part = device_jobs.at({run.job.job_id, device});
    if (!is_pending(part.status)) continue;
    set_device_job(run, part, DeviceJobStatus::running);
    starting.push_back(device);
    started.push_back(part);
  }
  store.put_device_jobs(started);
  std::vector<DeviceJob> failed_at_once;
  State* self = this;
  for (const auto& device : starting) {
    auto& part = device_jobs.at({run.job.job_id, device});
    ++run.in_flight;
    try {
      hub->invoke_method(IdentityKey{device, std::nullopt}, method.method_name,
                         method.payload.is_null() ? std::string() : method.payload.dump(),
                         std::chrono::seconds(method.response_timeout_s), std::chrono::seconds(method.connect_timeout_s),
                         [self, id = run.job.job_id, device](const MethodResult& result) {
                           self->method_job_done(id, device, result);
                         });
    } catch (const HubError& e) {
      // Refused before it was sent (the device was deleted since the selection).
      --run.in_flight;
      part.error_code = std::string(core::name_of(e.error_code()));
      part.error_description = e.what();
      set_device_job(run, part, DeviceJobStatus::failed);
      failed_at_once.push_back(part);
    }
  }
  store.put_device_jobs(failed_at_once);
  save_job(run);
  if (run.next >= run.targets.size() && run.in_flight == 0) {
    cancel_job_timers(run);
    end_job(run, JobStatus::completed, std::nullopt);
  }
}

void Hub::State::method_job_done(const std::string& job_id, const std::string& device_id, const MethodResult& result) {
  JobRun& run = jobs.at(job_id);
  if (run.in_flight > 0) --run.in_flight;
  auto& part = device_jobs.at({job_id, device_id});
  if (result.error_code == 0) {
    part.method_status = result.status;
    part.method_payload = result.payload.empty() ? json() : json::parse(result.payload, nullptr, false);
    set_device_job(run, part, DeviceJobStatus::completed);
  } else {
    part.error_code = std::string(core::name_of(result.error_code));
    part.error_description = result.error_code == 404103
                                 ? "the device was not online (connected and subscribed to methods) within connectTimeoutInSeconds"
                                 : "the device did not answer within responseTimeoutInSeconds";
    set_device_job(run, part, DeviceJobStatus::failed);
  }
  try {
    store.put_device_jobs({part});
    if (core::jobs::is_finished(run.job.status)) return save_job(run);  // cancelled or out of time
    if (run.next < run.targets.size()) return schedule_job_step(run, std::chrono::milliseconds(0));
    if (run.in_flight == 0) {
      cancel_job_timers(run);
      end_job(run, JobStatus::completed, std::nullopt);
    } else {
      save_job(run);
    }
  } catch (const core::Error& e) {
    log(1, "job: '{}': {}", job_id, e.what());
  }
}

void Hub::State::end_job(JobRun& run, JobStatus status, std::optional<std::string> reason) {
  run.job.status = status;
  run.job.end_ms = now();
  run.job.failure_reason = std::move(reason);
  log(1, "job: '{}' {} ({} of {} device(s) succeeded, {} failed)", run.job.job_id,
      core::jobs::to_string(status), run.job.statistics.succeeded_count, run.job.statistics.device_count,
      run.job.statistics.failed_count);
  save_job(run);
}

// --- restart ----------------------------------------------------------------------------------

void Hub::State::load_jobs() {
  for (auto& part : store.load_device_jobs()) {
    auto key = std::make_pair(part.job_id, part.device_id);
    device_jobs.emplace(std::move(key), std::move(part));
  }
  for (auto& job : store.load_jobs()) {
    JobRun& run = jobs[job.job_id];
    run.job = std::move(job);
    if (core::jobs::is_finished(run.job.status)) {
      for (auto it = device_jobs.lower_bound({run.job.job_id, std::string()});
           it != device_jobs.end() && it->first.first == run.job.job_id; ++it)
        run.targets.push_back(it->first.second);
      run.scanned = true;
      continue;
    }
    // The selection is stored whole or not at all: with no parts the scan starts again.
    run.job.statistics = {};
    std::vector<DeviceJob> interrupted;
    for (auto it = device_jobs.lower_bound({run.job.job_id, std::string()});
         it != device_jobs.end() && it->first.first == run.job.job_id; ++it) {
      DeviceJob& part = it->second;
      run.targets.push_back(part.device_id);
      if (part.status == DeviceJobStatus::running) {
        if (run.job.type == JobType::schedule_device_method) {
          // Sent before the stop, answer unknown: not sent again (a method may not be safe to
          // repeat), reported as failed.
          part.error_code = std::string(core::name_of(500001));
          part.error_description = "the hub stopped while this method call was in flight; it was not sent again";
          part.status = DeviceJobStatus::failed;
          part.end_ms = part.last_updated_ms = now();
          interrupted.push_back(part);
        } else {
          part.status = DeviceJobStatus::pending;  // a twin patch is applied again
        }
      }
      count(run.job.statistics, part.status, +1);
    }
    run.scanned = !run.targets.empty();
    run.job.statistics.device_count = static_cast<std::int64_t>(run.targets.size());
    if (!run.scanned) run.job.statistics = {};
    store.put_device_jobs(interrupted);
    if (run.job.status == JobStatus::running) {
      // Resume: the deadline counts from the original start.
      run.job.status = JobStatus::queued;
      schedule_job_step(run, std::chrono::milliseconds(0));
    } else {
      schedule_job_step(run, std::chrono::milliseconds(std::max<std::int64_t>(0, run.job.start_ms - now())));
    }
  }
}

}  // namespace azhub::emulator
