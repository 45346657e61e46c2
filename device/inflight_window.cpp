#include "device/inflight_window.hpp"

#include <algorithm>
#include <cassert>
#include <utility>
#include <vector>

namespace azhub::device {

void InflightWindow::enqueue(Outgoing message) {
  if (!m_queue.empty() && m_queue.back().seq > message.seq) {
    requeue(std::move(message));
    return;
  }
  m_queue.push_back(std::move(message));
}

void InflightWindow::mark_sent(std::uint64_t token) {
  assert(!m_queue.empty());
  Outgoing message = std::move(m_queue.front());
  m_queue.pop_front();
  ++message.attempts;
  m_in_flight.insert_or_assign(token, std::move(message));
}

std::optional<Outgoing> InflightWindow::acknowledge(std::uint64_t token) {
  auto it = m_in_flight.find(token);
  if (it == m_in_flight.end()) return std::nullopt;
  Outgoing message = std::move(it->second);
  m_in_flight.erase(it);
  return message;
}

void InflightWindow::fail(std::uint64_t token) {
  auto it = m_in_flight.find(token);
  if (it == m_in_flight.end()) return;
  Outgoing message = std::move(it->second);
  m_in_flight.erase(it);
  requeue(std::move(message));
}

std::size_t InflightWindow::requeue_all() {
  std::vector<Outgoing> back;
  back.reserve(m_in_flight.size());
  for (auto& [token, message] : m_in_flight) back.push_back(std::move(message));
  m_in_flight.clear();
  std::sort(back.begin(), back.end(), [](const Outgoing& a, const Outgoing& b) { return a.seq < b.seq; });
  // Everything in flight was sent before anything still queued, so it all goes in front.
  std::deque<Outgoing> merged;
  for (auto& message : back) merged.push_back(std::move(message));
  for (auto& message : m_queue) merged.push_back(std::move(message));
  m_queue = std::move(merged);
  std::sort(m_queue.begin(), m_queue.end(),
            [](const Outgoing& a, const Outgoing& b) { return a.seq < b.seq; });
  return back.size();
}

void InflightWindow::requeue(Outgoing message) {
  auto pos = std::lower_bound(m_queue.begin(), m_queue.end(), message.seq,
                              [](const Outgoing& m, std::uint64_t seq) { return m.seq < seq; });
  m_queue.insert(pos, std::move(message));
}

}  // namespace azhub::device
