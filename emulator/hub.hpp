#pragma once
// The emulated IoT Hub without sockets: registry, twins, C2D queues, D2C capture, direct
// methods, policies, and every accept/refuse rule of the device plane (docs/protocol.md
// §2-§9, §11, §13). Single-threaded: every call happens on the io_context thread, so there are
// no locks. MQTT sessions (emulator/mqtt_session.*) hand it decoded packets and receive packets
// through the Session interface; the REST API (emulator/rest_*) calls the service-plane
// functions. Writes go through the Store before they are acknowledged.
#include <chrono>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/http_message.hpp"
#include "core/hub_errors.hpp"
#include "core/jobs.hpp"
#include "emulator/log.hpp"
#include "emulator/clock.hpp"
#include "emulator/mqtt_codec.hpp"
#include "emulator/records.hpp"
#include "emulator/store.hpp"

namespace azhub::emulator {

// Service-plane failures are core::HubError with IoT Hub's code (core/hub_errors.hpp).
using core::HubError;

// What the TLS layer saw of the client certificate (requested, never required).
struct PeerCertificate {
  std::string sha1_hex;       // leaf thumbprints, lowercase hex
  std::string sha256_hex;
  std::string subject_cn;     // leaf subject common name
  bool chain_verified = false;  // chains to the emulator CA or a registered CA
};

struct ConnectInfo {
  std::optional<PeerCertificate> certificate;
  std::string transport;      // "mqtts", "wss", "mqtt" (plain TCP)
  std::string peer;           // "127.0.0.1:40112", for logs
};

// One MQTT connection as Hub sees it. Implemented by MqttSession; unit tests use a fake that
// records what it is handed.
class Session {
 public:
  virtual ~Session() = default;
  // Queues `packet` for the client (CONNACK is returned by Hub::connect, not sent here).
  virtual void send(mqtt::Packet packet) = 0;
  // Drops the connection without a DISCONNECT (MQTT 3.1.1 servers cannot send one). Must not
  // call back into Hub synchronously; the session later calls Hub::disconnected, which is
  // then a no-op for a session Hub already let go.
  virtual void close(std::string_view reason) = 0;
};

struct HubOptions {
  std::string host_name = "localhost";
  std::size_t d2c_keep = 10000;  // captured D2C messages retained
  // Log sink: level 1 = connections, refusals, service operations; 2 = every packet.
  // Messages never contain keys, signatures or tokens.
  Log log;
  // Group commit (docs/conventions.md §6): how long after the first write that is not durable
  // the store commits. 0: at the end of the current event-loop turn.
  std::chrono::milliseconds commit_delay{0};
  // Called once if the store cannot commit. Nothing written since the last commit is durable,
  // so nothing waiting for it (Hub::when_durable) ever runs: the owner must stop the hub.
  std::function<void(std::string_view why)> on_store_failure;
};

// Outcome of a direct method call (docs/protocol.md §9.2).
struct MethodResult {
  int error_code = 0;   // 0 on success; 404103 device not online, 504101 timed out
  int status = 0;       // the device's status code, when error_code == 0
  std::string payload;  // the device's response body (JSON text), empty if it sent none
};
using MethodCallback = std::function<void(const MethodResult& result)>;

// A C2D message to enqueue.
struct C2dSend {
  std::string body;
  core::MessageProperties properties;     // $.mid, $.cid, $.ct, $.ce, iothub-ack, app props
  std::optional<std::int64_t> expiry_ms;  // absolute; default now + 1 h (§6)
};

// The Event Hubs-compatible endpoint's partitions (docs/protocol.md §15.7): 4, the count a new
// IoT hub gets by default; a device's messages all go to one (FNV-1a of its id, modulo 4).
inline constexpr std::uint32_t k_d2c_partitions = 4;
[[nodiscard]] std::uint32_t d2c_partition_of(std::string_view device_id) noexcept;

using ListenerId = std::uint64_t;
using D2cListener = std::function<void(const D2cMessage& message)>;

// Feedback records locked for the service's feedback receiver (docs/protocol.md §6.1).
struct FeedbackBatch {
  std::uint64_t lock = 0;                    // for complete_feedback / abandon_feedback
  std::vector<core::FeedbackRecord> records;  // oldest first
};

class Hub {
 public:
  // Loads everything from `store`; creates the default policies (iothubowner, service, device,
  // registryRead, registryReadWrite) with fresh keys on first start.
  Hub(HubOptions options, Store& store, Clock& clock);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  [[nodiscard]] const std::string& host_name() const noexcept;

  // --- policies ------------------------------------------------------------------------------
  [[nodiscard]] const std::vector<Policy>& policies() const noexcept;
  [[nodiscard]] const Policy* find_policy(std::string_view name) const;

  // --- registry (docs/protocol.md §12.2) ---------------------------------------------------
  // Creates a device (key.module_id empty) or module identity. Uses status, status_reason,
  // auth_type, keys, thumbprints, iot_edge, managed_by from `record`; generates generation_id,
  // etag, and two 32-byte keys for sas when they are empty. Creates the twin.
  // Throws HubError 400004 (bad id/key/thumbprint), 404001 (module of a missing device),
  // 409001 / 409301 (exists).
  IdentityRecord create_identity(IdentityRecord record);
  // Replaces the mutable fields (status, status_reason, auth, iot_edge) of an existing
  // identity. `if_match`: etag (quotes allowed) or "*"; absent = unconditional. Disabling or
  // changing credentials closes its live connection. Throws 400004, 404001/404010, 412001.
  IdentityRecord update_identity(IdentityRecord record, std::optional<std::string_view> if_match);
  [[nodiscard]] std::optional<IdentityRecord> get_identity(const IdentityKey& key) const;
  // The error for a missing identity: 404010 ModuleNotFound when the device exists, else
  // 404001 DeviceNotFound.
  [[nodiscard]] HubError not_found(const IdentityKey& key) const;
  [[nodiscard]] std::vector<IdentityRecord> list_devices() const;
  // The keys of devices (or of modules) in registry order — device id, then module id — that
  // come after `after` (from the first without it), at most `max`: a walk in slices.
  [[nodiscard]] std::vector<IdentityKey> identity_keys(const std::optional<IdentityKey>& after, bool modules,
                                                       std::size_t max) const;
  // Throws 404001 if the device does not exist.
  [[nodiscard]] std::vector<IdentityRecord> list_modules(const std::string& device_id) const;
  // Deletes the identity (a device with its modules, twin, C2D queue) and closes its
  // connections. Throws 404001/404010, 412001.
  void delete_identity(const IdentityKey& key, std::optional<std::string_view> if_match);

  // --- twins (§7, §8) ------------------------------------------------------------------------
  // Throw 404001/404010 for an unknown identity.
  [[nodiscard]] const TwinRecord& get_twin(const IdentityKey& key) const;
  // The REST Twin (§8.2): deviceId[, moduleId], etag, deviceEtag, status, statusUpdateTime,
  // connectionState, lastActivityTime, cloudToDeviceMessageCount, authenticationType,
  // x509Thumbprint, modelId, version, capabilities, tags, properties.{desired,reported} with
  // $metadata and $version, in that member order (core::in_twin_order inside the sections).
  [[nodiscard]] nlohmann::ordered_json service_twin_view(const IdentityKey& key) const;
  // The same document with only the top-level members named in `members` (lower case; the
  // query language matches names ignoring case), for evaluating a query (§16.2) without
  // building what it does not read. Throws 404001/404010.
  [[nodiscard]] nlohmann::json twin_query_view(const IdentityKey& key, const std::set<std::string>& members) const;
  // PATCH /twins: `patch` = {"tags":{..}, "properties":{"desired":{..}}} merge-patched (null
  // deletes); other members ignored. Sends a desired notification (the partial desired doc +
  // $version) when desired changed. Returns the new service view. Throws 400004 (invalid
  // keys/values/limits, or a "reported" write), 404001/404010, 412001.
  nlohmann::ordered_json update_twin(const IdentityKey& key, const nlohmann::json& patch,
                             std::optional<std::string_view> if_match);
  // PUT /twins: replaces tags and properties.desired wholesale (absent = empty); notifies with
  // the full desired doc. Same errors as update_twin.
  nlohmann::ordered_json replace_twin(const IdentityKey& key, const nlohmann::json& twin,
                              std::optional<std::string_view> if_match);

  // --- C2D (§6) ------------------------------------------------------------------------------
  // Enqueues for `device_id` and delivers at once if the device is subscribed. Sets $.to;
  // generates $.mid when absent. Throws 404001, 403004 (50 queued), 413001 (over 64 KB),
  // 400004 (expiry in the past or beyond 48 h).
  QueuedC2dMessage send_c2d(const std::string& device_id, C2dSend message);
  // Drops every queued message; returns how many. Throws 404001.
  std::size_t purge_c2d(const std::string& device_id);
  // Queued (not yet completed) messages, oldest first. Throws 404001.
  [[nodiscard]] std::vector<QueuedC2dMessage> queued_c2d(const std::string& device_id) const;

  // --- C2D feedback (§6.1) -------------------------------------------------------------------
  // Records are made when a message with iothub-ack positive/negative/full is completed,
  // expires, exceeds the delivery count or is purged; each is kept at most
  // core::limits::k_feedback_ttl_s and survives a restart over the same store.
  // Calls `available` (later, from a timer, never inside this call) whenever records become
  // takeable: a new record, a batch abandoned or its lock expired, and once after subscribing
  // when some are already waiting. Until unsubscribed.
  ListenerId subscribe_feedback(std::function<void()> available);
  void unsubscribe_feedback(ListenerId id);
  // Up to core::limits::k_feedback_batch_records of the oldest records not locked, locked
  // together for 60 s (then they return to the pool); nullopt when there are none.
  std::optional<FeedbackBatch> take_feedback();
  // True while the batch `lock` names is taken and neither settled nor lapsed.
  [[nodiscard]] bool feedback_lock_held(std::uint64_t lock) const;
  // Deletes the batch's records (durably). Unknown or expired locks: no-op.
  void complete_feedback(std::uint64_t lock);
  // Returns the batch's records to the pool, counting a delivery; a record abandoned
  // core::limits::k_feedback_max_delivery_count times is dropped. Unknown locks: no-op.
  void abandon_feedback(std::uint64_t lock);

  // --- durability ----------------------------------------------------------------------------
  // True when everything the hub wrote to its store is durable (always, in memory).
  [[nodiscard]] bool durable() const;
  // Runs `then` once everything written to the store so far is durable: at once when it is,
  // otherwise right after the next group commit (never inside this call, then). Every
  // connection calls it before it writes bytes, so nothing it acknowledges can be lost. Never
  // runs if the commit fails (HubOptions::on_store_failure).
  void when_durable(std::function<void()> then);

  // --- D2C capture ---------------------------------------------------------------------------
  // Retained messages with sequence_number > `after`, oldest first, at most `max`.
  [[nodiscard]] std::vector<D2cMessage> d2c_since(std::uint64_t after, std::size_t max) const;
  // Every retained message, oldest first (sequence_number ascending), without copies. Valid
  // until the next capture.
  [[nodiscard]] const std::deque<D2cMessage>& d2c_retained() const noexcept;
  [[nodiscard]] std::uint64_t last_d2c_sequence() const noexcept;
  // Calls `listener` for every message captured from now on, until unsubscribed.
  ListenerId subscribe_d2c(D2cListener listener);
  void unsubscribe_d2c(ListenerId id);

  // --- direct methods (§9) -------------------------------------------------------------------
  // Sends `$iothub/methods/POST/{name}/?$rid=..` with `payload` (JSON text; "null" or empty
  // → empty body) to the identity once it is connected and subscribed to methods (waiting up
  // to `connect_timeout`), then waits `response_timeout` for the answer. `done` is called
  // exactly once, never before invoke_method returns. Throws (synchronously) HubError 400004
  // (bad name, timeouts out of range 5-300 / 0-300, payload over 128 KB or not JSON) and
  // 404001/404010 (unknown identity).
  void invoke_method(const IdentityKey& key, const std::string& name, std::string payload,
                     std::chrono::seconds response_timeout, std::chrono::seconds connect_timeout,
                     MethodCallback done);

  // --- jobs (§17) ----------------------------------------------------------------------------
  // Accepts `job` (core::jobs::parse_job_request's): its queryCondition must be a WHERE
  // condition over devices and its updateTwin a twin patch the twin rules accept. Stores it and
  // starts it at its start time, on this thread, a slice of devices at a time: the devices the
  // condition selects then (pending), each updated or called (running → completed/failed),
  // then the job completed; failed when maxExecutionTimeInSeconds runs out first. Throws
  // HubError 400004 (bad condition or patch), 409 JobAlreadyExists... see §17.
  core::jobs::Job create_job(core::jobs::Job job);
  [[nodiscard]] std::optional<core::jobs::Job> get_job(const std::string& job_id) const;
  // Every job, oldest first (creation time, then id).
  [[nodiscard]] std::vector<core::jobs::Job> list_jobs() const;
  // Stops a job that has not finished: cancelled, its pending devices cancelled; a method call
  // already sent still records its outcome. A finished job is returned as it is. Throws 404002.
  core::jobs::Job cancel_job(const std::string& job_id);
  // Each device's part of each job, by (job id, device id): what FROM devices.jobs reads.
  using DeviceJobs = std::map<std::pair<std::string, std::string>, core::jobs::DeviceJob>;
  [[nodiscard]] const DeviceJobs& device_jobs() const noexcept;

  // --- device plane (MQTT sessions) ----------------------------------------------------------
  // Authenticates a CONNECT (§2, §3.3). On accept the session becomes the identity's current
  // connection (an older one is closed), persistent-session state is resumed or cleared, and
  // queued C2D is delivered to a resumed subscription. Returns the CONNACK to send; any code
  // but accepted means the session sends it and closes.
  mqtt::Connack connect(Session& session, const mqtt::Connect& packet, const ConnectInfo& info);
  // A packet after an accepted CONNECT. Enforces the topic/QoS/size rules and closes the
  // session (Session::close) on a violation.
  void handle_packet(Session& session, const mqtt::Packet& packet);
  // The connection ended. `graceful` = a DISCONNECT was received (otherwise the Will, if any,
  // becomes telemetry with iothub-MessageType=Will). A no-op for a session Hub let go.
  void disconnected(Session& session, bool graceful);
  [[nodiscard]] bool is_connected(const IdentityKey& key) const;
  // A renewed SAS token for the connection `session` holds (AMQP's put-token on a live
  // connection, docs/protocol.md §15.6): checked as at CONNECT (§3.3); when valid the connection
  // now ends at its expiry instead. Returns the refusal (for the log; never a secret), or
  // nullopt. An unknown session is refused.
  [[nodiscard]] std::optional<std::string> reauthenticate(Session& session, const std::string& token);
  // How a device settles a delivered C2D message over AMQP (§6, §15.6): accepted completes it
  // (Success feedback), rejected drops it (Rejected feedback), released/modified abandons it
  // (unlocked and delivered again at once, counting a delivery). Unlike MQTT's PUBACKs these
  // may come in any order. A packet id not in flight (purged, lock expired) is ignored.
  enum class C2dSettlement { complete, reject, abandon };
  void settle_c2d(Session& session, std::uint16_t packet_id, C2dSettlement how);

  // --- device plane over HTTPS (§6.2) ---------------------------------------------------------
  // The refusal of `token` (an Authorization header) for `key`, checked as CONNECT checks a
  // password (§3.3): a SAS token of the identity, or of a policy with DeviceConnect covering it;
  // the identity (and a module's device) must exist and be enabled. nullopt when accepted.
  [[nodiscard]] std::optional<std::string> check_device_token(const IdentityKey& key, const std::string& token) const;
  // Telemetry POSTed by `key`, one message or a batch: the size limit of a telemetry PUBLISH for
  // each, then the capture. A batch is taken whole or not at all. Throws HubError 413001 when a
  // message is over 256 KB.
  void http_telemetry(const IdentityKey& key, std::vector<core::http_message::BatchItem> messages);
  struct LockedC2d {
    QueuedC2dMessage message;
    std::string lock_token;  // the ETag the device settles it with
  };
  // The oldest queued C2D message of `device_id` that is neither locked by an earlier receive
  // nor in flight on a connection, locked for 60 s. The lock lapsing returns it without
  // counting a delivery; only an abandon counts one. nullopt when there is none. Throws 404001.
  [[nodiscard]] std::optional<LockedC2d> receive_c2d_http(const std::string& device_id);
  // Completes, rejects or abandons the message `lock_token` holds. Throws 404001, and 412002
  // DeviceMessageLockLost for a lock that lapsed, was settled, or is not this device's.
  void settle_c2d_http(const std::string& device_id, std::string_view lock_token, C2dSettlement how);

  // Closes every connection (shutdown).
  void close_all(std::string_view reason);

  // Private state (emulator/hub_state.hpp); named here so the hub_*.cpp files can share it.
  struct State;

 private:
  std::unique_ptr<State> m_state;
};

}  // namespace azhub::emulator
