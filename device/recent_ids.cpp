#include "device/recent_ids.hpp"

namespace azhub::device {

bool RecentIds::insert(const std::string& id) {
  if (!m_set.insert(id).second) return false;
  m_order.push_back(id);
  if (m_order.size() > m_capacity) {
    m_set.erase(m_order.front());
    m_order.pop_front();
  }
  return true;
}

}  // namespace azhub::device
