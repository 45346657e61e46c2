#pragma once
// The last N message ids seen, to drop C2D redeliveries (the hub sends a message again when our
// PUBACK was lost in a drop, docs/protocol.md §6) without growing without bound.
#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

namespace azhub::device {

class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : m_capacity(capacity == 0 ? 1 : capacity) {}

  // True the first time `id` is seen (it is remembered); false for a repeat. The oldest id is
  // forgotten once `capacity` are held.
  bool insert(const std::string& id);
  [[nodiscard]] bool contains(const std::string& id) const { return m_set.count(id) != 0; }
  [[nodiscard]] std::size_t size() const noexcept { return m_order.size(); }

 private:
  std::size_t m_capacity;
  std::deque<std::string> m_order;
  std::unordered_set<std::string> m_set;
};

}  // namespace azhub::device
