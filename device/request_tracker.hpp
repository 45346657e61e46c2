#pragma once
// Twin requests waiting for their "$iothub/twin/res/{status}/?$rid=" answer (docs/protocol.md
// §7.1): one entry per $rid, with a deadline. Pure: the caller passes `now`.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace azhub::device {

struct PendingRequest {
  std::string rid;
  std::string topic;    // to publish again after a reconnect: twin requests are QoS 0
  std::string payload;
  std::chrono::steady_clock::time_point deadline;
};

class RequestTracker {
 public:
  // Allocates the next $rid: a counter, unique for the life of the client.
  [[nodiscard]] std::string next_rid();
  // Starts waiting for `request.rid` (replaces an entry with the same rid).
  void add(PendingRequest request);

  // The answer for `rid` arrived: removes and returns the request, nullopt if unknown (late, or
  // already expired).
  [[nodiscard]] std::optional<PendingRequest> complete(const std::string& rid);

  // Removes and returns the rids of requests whose deadline is at or before `now`.
  [[nodiscard]] std::vector<std::string> expire(std::chrono::steady_clock::time_point now);

  // The earliest deadline, if any request is pending.
  [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> next_deadline() const;

  [[nodiscard]] const std::map<std::string, PendingRequest>& pending() const noexcept {
    return m_pending;
  }
  [[nodiscard]] bool empty() const noexcept { return m_pending.empty(); }

 private:
  std::uint64_t m_next = 1;
  std::map<std::string, PendingRequest> m_pending;
};

}  // namespace azhub::device
