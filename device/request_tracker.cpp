#include "device/request_tracker.hpp"

#include <utility>

namespace azhub::device {

std::string RequestTracker::next_rid() { return std::to_string(m_next++); }

void RequestTracker::add(PendingRequest request) {
  std::string rid = request.rid;
  m_pending.insert_or_assign(std::move(rid), std::move(request));
}

std::optional<PendingRequest> RequestTracker::complete(const std::string& rid) {
  auto it = m_pending.find(rid);
  if (it == m_pending.end()) return std::nullopt;
  PendingRequest request = std::move(it->second);
  m_pending.erase(it);
  return request;
}

std::vector<std::string> RequestTracker::expire(std::chrono::steady_clock::time_point now) {
  std::vector<std::string> expired;
  for (auto it = m_pending.begin(); it != m_pending.end();) {
    if (it->second.deadline <= now) {
      expired.push_back(it->first);
      it = m_pending.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::optional<std::chrono::steady_clock::time_point> RequestTracker::next_deadline() const {
  std::optional<std::chrono::steady_clock::time_point> earliest;
  for (const auto& [rid, request] : m_pending)
    if (!earliest || request.deadline < *earliest) earliest = request.deadline;
  return earliest;
}

}  // namespace azhub::device
