// Store kept in memory (--in-memory): nothing survives the process, but a Hub reopened over the
// same object sees everything, which is what the unit tests of persistence use.
#include <algorithm>
#include <deque>
#include <map>
#include <utility>

#include "emulator/store.hpp"

namespace azhub::emulator {

namespace {

class MemoryStore final : public Store {
 public:
  StoreSnapshot load() override {
    StoreSnapshot s;
    for (const auto& [k, v] : m_identities) s.identities.push_back(v);
    for (const auto& [k, v] : m_twins) s.twins.push_back(v);
    for (const auto& [k, v] : m_c2d) s.c2d.push_back(v);
    s.d2c.assign(m_d2c.begin(), m_d2c.end());
    for (const auto& [k, v] : m_policies) s.policies.push_back(v);
    for (const auto& [k, v] : m_sessions) s.sessions.push_back(v);
    return s;
  }
  void put_identity(const IdentityRecord& record) override { m_identities[record.key] = record; }
  void erase_identity(const IdentityKey& key) override {
    auto owned = [&](const IdentityKey& k) {
      return k == key || (!key.module_id && k.device_id == key.device_id);
    };
    std::erase_if(m_identities, [&](const auto& e) { return owned(e.first); });
    std::erase_if(m_twins, [&](const auto& e) { return owned(e.first); });
    std::erase_if(m_sessions, [&](const auto& e) { return owned(e.first); });
    if (!key.module_id) erase_c2d_of(key.device_id);
  }
  void put_twin(const TwinRecord& twin) override { m_twins[twin.key] = twin; }
  void put_c2d(const QueuedC2dMessage& message) override { m_c2d[message.id] = message; }
  void erase_c2d(std::uint64_t id) override { m_c2d.erase(id); }
  void erase_c2d_of(const std::string& device_id) override {
    std::erase_if(m_c2d, [&](const auto& e) { return e.second.device_id == device_id; });
  }
  std::vector<FeedbackEntry> load_feedback() override {
    std::vector<FeedbackEntry> out;
    for (const auto& [k, v] : m_feedback) out.push_back(v);
    return out;
  }
  void put_feedback(const FeedbackEntry& entry) override { m_feedback[entry.id] = entry; }
  void erase_feedback(std::uint64_t id) override { m_feedback.erase(id); }
  void put_d2c(const D2cMessage& message, std::size_t keep) override {
    // Captures come in sequence order: the retained tail is a deque (no tree to rebalance on
    // every message). A number seen before replaces its message, as in the SQLite store.
    if (m_d2c.empty() || m_d2c.back().sequence_number < message.sequence_number) {
      m_d2c.push_back(message);
    } else {
      auto at = std::lower_bound(m_d2c.begin(), m_d2c.end(), message.sequence_number,
                                 [](const D2cMessage& m, std::uint64_t seq) { return m.sequence_number < seq; });
      if (at != m_d2c.end() && at->sequence_number == message.sequence_number) *at = message;
      else m_d2c.insert(at, message);
    }
    while (m_d2c.size() > keep) m_d2c.pop_front();
  }
  void put_policy(const Policy& policy) override { m_policies[policy.name] = policy; }
  std::vector<core::jobs::Job> load_jobs() override {
    std::vector<core::jobs::Job> out;
    for (const auto& [k, v] : m_jobs) out.push_back(v);
    return out;
  }
  std::vector<core::jobs::DeviceJob> load_device_jobs() override {
    std::vector<core::jobs::DeviceJob> out;
    for (const auto& [k, v] : m_device_jobs) out.push_back(v);
    return out;
  }
  void put_job(const core::jobs::Job& job) override { m_jobs[job.job_id] = job; }
  void put_device_jobs(const std::vector<core::jobs::DeviceJob>& jobs) override {
    for (const auto& job : jobs) m_device_jobs[{job.job_id, job.device_id}] = job;
  }
  void put_session(const SessionRecord& session) override { m_sessions[session.key] = session; }
  void erase_session(const IdentityKey& key) override { m_sessions.erase(key); }

 private:
  std::map<IdentityKey, IdentityRecord> m_identities;
  std::map<IdentityKey, TwinRecord> m_twins;
  std::map<std::uint64_t, QueuedC2dMessage> m_c2d;
  std::map<std::uint64_t, FeedbackEntry> m_feedback;
  std::deque<D2cMessage> m_d2c;  // sequence_number ascending
  std::map<std::string, Policy> m_policies;
  std::map<IdentityKey, SessionRecord> m_sessions;
  std::map<std::string, core::jobs::Job> m_jobs;
  std::map<std::pair<std::string, std::string>, core::jobs::DeviceJob> m_device_jobs;
};

}  // namespace

std::unique_ptr<Store> make_memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace azhub::emulator
