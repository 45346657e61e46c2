#pragma once
// Hub's private state, shared by the hub_*.cpp files (registry, twins, messages, methods,
// device plane). Not part of the emulator's API.
#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/topics.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {

// One accepted MQTT connection.
struct Connection {
  Session* session = nullptr;
  std::uint64_t serial = 0;  // distinguishes connections of the same identity over time
  IdentityKey key;
  bool clean_session = true;
  std::optional<mqtt::Will> will;
  TimerId expiry_timer = 0;
  std::map<std::string, std::uint8_t> subscriptions;  // filter -> granted QoS
  std::map<core::SubscriptionKind, std::uint8_t> kinds;  // what those filters are for
  // C2D messages sent at QoS 1 and not yet acknowledged, in send order: packet id, message id.
  std::deque<std::pair<std::uint16_t, std::uint64_t>> c2d_inflight;
  std::uint16_t next_packet_id = 1;
  bool graceful = false;
};

// How long a delivered C2D message stays locked waiting for its PUBACK (§6).
inline constexpr std::chrono::milliseconds k_c2d_lock{60'000};

struct PendingMethod {
  IdentityKey key;
  std::string name;
  std::string payload;
  std::chrono::seconds response_timeout{30};
  MethodCallback done;
  TimerId timer = 0;
  bool sent = false;  // false while waiting for the device to connect and subscribe
};

// The feedback records waiting for the service (docs/protocol.md §6.1, hub_feedback.cpp). Its
// destructor cancels the timers that point back into the hub.
struct FeedbackQueue {
  struct Lock {
    std::vector<std::uint64_t> ids;  // entry ids, oldest first
    TimerId timer = 0;
  };
  Clock& clock;
  std::map<std::uint64_t, FeedbackEntry> entries;  // id -> entry, oldest first
  std::map<std::uint64_t, Lock> locks;             // lock -> what it holds
  std::set<std::uint64_t> locked;                  // entry ids held by a lock
  std::map<ListenerId, std::function<void()>> listeners;
  std::uint64_t last_id = 0;
  std::uint64_t next_lock = 1;
  TimerId notify_timer = 0;  // a pending call of the listeners, 0 = none

  explicit FeedbackQueue(Clock& c) : clock(c) {}
  ~FeedbackQueue() {
    for (auto& [lock, l] : locks) clock.cancel_timer(l.timer);
    if (notify_timer != 0) clock.cancel_timer(notify_timer);
  }
  FeedbackQueue(const FeedbackQueue&) = delete;
  FeedbackQueue& operator=(const FeedbackQueue&) = delete;
};

// How long a batch taken by take_feedback stays locked (§6.1).
inline constexpr std::chrono::milliseconds k_feedback_lock{60'000};

// A job's progress (hub_jobs.cpp, docs/protocol.md §17): the document, the devices it selected,
// and where it is. Device parts live in State::device_jobs.
struct JobRun {
  core::jobs::Job job;
  std::vector<std::string> targets;     // device ids the condition selected, in id order
  bool scanned = false;                 // targets is complete (the scan reached the end)
  std::optional<std::string> scan_after;  // the scan's position: the last device id seen
  std::size_t next = 0;                 // the next target to start
  std::size_t in_flight = 0;            // method calls sent and not answered
  TimerId step_timer = 0;               // the start time, or the next slice
  TimerId deadline_timer = 0;           // maxExecutionTimeInSeconds after the start
};

struct Hub::State {
  HubOptions options;
  Hub* hub = nullptr;  // the Hub this is the state of (jobs call its service API)
  Store& store;
  Clock& clock;
  std::vector<Policy> policies;
  std::map<IdentityKey, IdentityRecord> identities;
  std::map<IdentityKey, TwinRecord> twins;
  std::map<std::string, std::deque<QueuedC2dMessage>> c2d;  // device id -> queue, oldest first
  std::map<IdentityKey, SessionRecord> sessions;      // persistent (CleanSession=0) sessions
  std::deque<D2cMessage> d2c;
  std::uint64_t last_d2c_sequence = 0;
  std::array<std::int64_t, k_d2c_partitions> last_partition_sequence{-1, -1, -1, -1};
  // Gives `m` its partition and the next sequence number there.
  void assign_partition(D2cMessage& m);
  std::uint64_t last_c2d_id = 0;
  std::map<ListenerId, D2cListener> d2c_listeners;
  ListenerId next_listener = 1;
  std::map<Session*, Connection> connections;
  std::map<IdentityKey, Session*> current;  // identity -> its live session
  std::map<IdentityKey, std::int64_t> connection_changed_ms;
  std::uint64_t next_serial = 1;
  std::map<std::string, PendingMethod> methods;  // rid -> call
  std::uint64_t next_rid = 1;
  std::uint64_t next_etag = 1;
  FeedbackQueue feedback_queue;
  std::map<std::string, JobRun> jobs;  // job id -> its progress
  Hub::DeviceJobs device_jobs;         // (job id, device id) -> that device's part

  State(HubOptions o, Store& s, Clock& c)
      : options(std::move(o)), store(s), clock(c), feedback_queue(c) {
    load_feedback();
    store.set_on_pending([this] { schedule_commit(); });
    // A store handed over with writes pending (a Hub reopened over it) gets its commit too.
    if (store.pending()) schedule_commit();
  }

  // Group commit (docs/conventions.md §6).
  bool commit_scheduled = false;
  bool store_failed = false;
  std::vector<std::function<void()>> durable_waiters;
  void schedule_commit();
  void commit_now();

  // Timers Hub keeps no other handle to (a C2D lock, the delivery after a CONNACK): remembered
  // until they fire, so that ~Hub cancels them and none runs on a destroyed Hub.
  std::set<TimerId> loose_timers;
  void start_loose_timer(std::chrono::milliseconds after, std::function<void()> fn) {
    auto id = std::make_shared<TimerId>(0);
    State* self = this;
    *id = clock.start_timer(after, [self, id, fn = std::move(fn)] {
      self->loose_timers.erase(*id);
      fn();
    });
    loose_timers.insert(*id);
  }

  void log(int level, std::string_view message) const { options.log(level, message); }
  // Formats only when the level is logged.
  template <typename... Args>
  void log(int level, fmt::format_string<Args...> format, Args&&... args) const {
    options.log(level, format, std::forward<Args>(args)...);
  }
  [[nodiscard]] std::int64_t now() const { return clock.now_unix_ms(); }

  // 404001 DeviceNotFound, or 404010 ModuleNotFound when the device exists.
  [[nodiscard]] HubError not_found(const IdentityKey& key) const;
  IdentityRecord& identity_or_throw(const IdentityKey& key);
  TwinRecord& twin_or_throw(const IdentityKey& key);
  [[nodiscard]] IdentityRecord with_runtime(const IdentityRecord& record) const;
  [[nodiscard]] std::string new_etag();

  Connection* connection_of(const IdentityKey& key);
  // The identity, or a module's device, is disabled (or the device is gone): no connection.
  [[nodiscard]] bool identity_disabled(const IdentityKey& key) const;
  // The connection ends when the SAS token it authenticated with expires (§2.2); replaces the
  // timer of an earlier token.
  void arm_token_expiry(Connection& c, std::int64_t expiry_s);
  void close_connection(const IdentityKey& key, std::string_view reason);
  std::uint16_t next_packet_id(Connection& c);

  // C2D (hub_messages.cpp)
  void drop_expired_c2d(const std::string& device_id);
  // A queued message expires on its own at its expiry time (feedback Expired, §6.1), not only
  // when the queue is next touched.
  void arm_c2d_expiry(const QueuedC2dMessage& m);
  std::map<std::uint64_t, TimerId> c2d_expiry_timers;  // message id -> its expiry timer
  void deliver_c2d(Connection& c);
  // C2D messages locked by an HTTPS receive (§6.2): lock token -> lock.
  struct HttpC2dLock {
    std::string device_id;
    std::uint64_t message_id = 0;
    TimerId timer = 0;
  };
  std::map<std::string, HttpC2dLock> http_c2d_locks;
  [[nodiscard]] bool http_locked(std::uint64_t message_id) const;
  void complete_c2d(Connection& c, std::uint16_t packet_id);
  // The queued message `id` of `device_id`, or nullptr (purged, expired).
  QueuedC2dMessage* queued_message(const std::string& device_id, std::uint64_t id);
  // Ends queued message `id` with `status` (Success, Rejected, DeliveryCountExceeded): its
  // feedback record first (a store failure after it may repeat a record, never lose one), then
  // the store and the queue. The one ending of a settled message, over MQTT, AMQP and HTTPS.
  // False when it is no longer queued.
  bool finish_c2d(const std::string& device_id, std::uint64_t id, core::FeedbackStatus status);
  void start_c2d_lock(Connection& c, std::uint64_t message_id, std::uint16_t packet_id);
  void capture_d2c(const IdentityKey& source, std::string body, core::MessageProperties props);

  // C2D feedback (hub_feedback.cpp)
  // Records the outcome `status` of `message` when its iothub-ack asks for it (the one path
  // for every outcome: complete, expiry, delivery count, purge, and later reject/abandon).
  void feedback(const QueuedC2dMessage& message, core::FeedbackStatus status);
  void load_feedback();
  void drop_expired_feedback();
  void release_feedback_lock(std::uint64_t lock, bool count_delivery);
  void notify_feedback();

  // twins (hub_twin.cpp)
  void notify_desired(const IdentityKey& key, const nlohmann::json& patch, std::int64_t version);
  std::int64_t patch_reported(const IdentityKey& key, const nlohmann::json& patch);

  // jobs (hub_jobs.cpp)
  void load_jobs();
  void schedule_job_step(JobRun& run, std::chrono::milliseconds after);
  void job_step(const std::string& job_id);
  void begin_job(JobRun& run);
  void scan_job_targets(JobRun& run);
  void run_twin_slice(JobRun& run);
  void run_method_calls(JobRun& run);
  void method_job_done(const std::string& job_id, const std::string& device_id, const MethodResult& result);
  void end_job(JobRun& run, core::jobs::JobStatus status, std::optional<std::string> reason);
  // Moves a device's part to `status` (keeping the job's statistics) and stamps the times.
  void set_device_job(JobRun& run, core::jobs::DeviceJob& part, core::jobs::DeviceJobStatus status);
  void save_job(const JobRun& run);
  void cancel_job_timers(JobRun& run);

  // methods (hub_methods.cpp)
  void send_method(const std::string& rid, PendingMethod& call, Connection& c);
  void flush_methods(Connection& c);
  void finish_method(const std::string& rid, MethodResult result);
  void method_response(Connection& c, int status, const std::string& rid, std::string payload);
};

// The checks update_twin makes of a PATCH before applying it (tags and properties.desired
// sections by the twin rules, no properties.reported). Throws HubError 400004.
void validate_twin_update(const nlohmann::json& patch);

// base64 of `counter` as 8 big-endian bytes (the twin etag form, docs/protocol.md §8.2).
[[nodiscard]] std::string counter_etag(std::uint64_t counter);
// Strips the quotes of an If-Match value; true when it matches `etag` or is "*".
[[nodiscard]] bool if_match_ok(std::optional<std::string_view> if_match, std::string_view etag);
// Random bytes as base64 (keys) / as lowercase hex (ids).
[[nodiscard]] std::string random_base64(std::size_t bytes);
[[nodiscard]] std::string random_hex(std::size_t bytes);

}  // namespace azhub::emulator
