#pragma once
// Durable state behind Hub: write-through, loaded once at start. Writes are grouped: a durable
// store gathers them in one open transaction and makes them durable at commit() (SQLite: one
// COMMIT with synchronous=FULL, one WAL fsync for many writes). Hub commits at the end of the
// event-loop turn, and every connection waits for that commit before it writes anything
// (Hub::when_durable), so nothing acknowledged (PUBACK, HTTP 2xx, AMQP disposition) can be lost
// (docs/protocol.md §12.3).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "core/jobs.hpp"
#include "emulator/records.hpp"

namespace azhub::emulator {

struct StoreSnapshot {
  std::vector<IdentityRecord> identities;
  std::vector<TwinRecord> twins;
  std::vector<QueuedC2dMessage> c2d;          // in id order
  std::vector<D2cMessage> d2c;          // the retained tail, in sequence order
  std::vector<Policy> policies;
  std::vector<SessionRecord> sessions;
};

class Store {
 public:
  virtual ~Store() = default;
  [[nodiscard]] virtual StoreSnapshot load() = 0;
  virtual void put_identity(const IdentityRecord& record) = 0;
  // Removes the identity and everything it owns (twin, session, for a device: its modules'
  // rows and its C2D queue).
  virtual void erase_identity(const IdentityKey& key) = 0;
  virtual void put_twin(const TwinRecord& twin) = 0;
  virtual void put_c2d(const QueuedC2dMessage& message) = 0;
  virtual void erase_c2d(std::uint64_t id) = 0;
  virtual void erase_c2d_of(const std::string& device_id) = 0;
  // Feedback records (docs/protocol.md §6.1), oldest (lowest id) first. Loaded apart from the
  // snapshot, by Hub's state when it is built.
  [[nodiscard]] virtual std::vector<FeedbackEntry> load_feedback() = 0;
  virtual void put_feedback(const FeedbackEntry& entry) = 0;
  virtual void erase_feedback(std::uint64_t id) = 0;
  // Appends and keeps at most `keep` newest captured messages.
  virtual void put_d2c(const D2cMessage& message, std::size_t keep) = 0;
  virtual void put_policy(const Policy& policy) = 0;
  // Jobs and their devices' parts (docs/protocol.md §17), loaded apart from the snapshot by
  // Hub's state when it is built. put_device_jobs writes all of them in one transaction.
  [[nodiscard]] virtual std::vector<core::jobs::Job> load_jobs() = 0;
  [[nodiscard]] virtual std::vector<core::jobs::DeviceJob> load_device_jobs() = 0;
  virtual void put_job(const core::jobs::Job& job) = 0;
  virtual void put_device_jobs(const std::vector<core::jobs::DeviceJob>& jobs) = 0;
  virtual void put_session(const SessionRecord& session) = 0;
  virtual void erase_session(const IdentityKey& key) = 0;

  // Group commit. pending(): something written is not durable yet. commit() makes every write
  // so far durable; throws Error(failure) when it cannot (the writes are then lost: the caller
  // must not acknowledge them). `on_pending` runs at the first write after a commit, so the
  // owner can schedule one. A store without transactions (memory) is never pending.
  [[nodiscard]] virtual bool pending() const { return false; }
  virtual void commit() {}
  virtual void set_on_pending(std::function<void()> on_pending) { (void)on_pending; }
};

// Keeps everything in memory (--in-memory; unit tests reopen a Hub over the same store).
[[nodiscard]] std::unique_ptr<Store> make_memory_store();

// SQLite database `dir`/emulator.db (created with its schema if missing), WAL mode,
// synchronous=FULL, writes grouped into one transaction per commit(); destroying the store
// commits what is pending. Throws Error(failure) naming the file when it cannot be opened.
[[nodiscard]] std::unique_ptr<Store> make_sqlite_store(const std::filesystem::path& dir);

}  // namespace azhub::emulator
