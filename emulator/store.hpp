#pragma once
// Durable state behind Hub: write-through, loaded once at start. Every call returns only once
// the change is durable (SQLite: committed with synchronous=FULL), so Hub acknowledges a write
// (PUBACK, HTTP 2xx) only after it is on disk.
#include <cstdint>
#include <filesystem>
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
};

// Keeps everything in memory (--in-memory; unit tests reopen a Hub over the same store).
[[nodiscard]] std::unique_ptr<Store> make_memory_store();

// SQLite database `dir`/emulator.db (created with its schema if missing), WAL mode,
// synchronous=FULL. Throws Error(failure) naming the file when it cannot be opened.
[[nodiscard]] std::unique_ptr<Store> make_sqlite_store(const std::filesystem::path& dir);

}  // namespace azhub::emulator
