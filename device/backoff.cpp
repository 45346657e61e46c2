#include "device/backoff.hpp"

#include <algorithm>

namespace azhub::device {

std::chrono::milliseconds Backoff::step() const noexcept {
  auto delay = m_initial;
  for (int i = 0; i < m_attempt && delay < m_max; ++i) delay *= 2;
  return std::min(delay, m_max);
}

std::chrono::milliseconds Backoff::next(double jitter) noexcept {
  const auto full = step();
  ++m_attempt;
  jitter = std::clamp(jitter, 0.0, 1.0);
  const auto half = full.count() / 2;
  return std::chrono::milliseconds(full.count() - half +
                                   static_cast<long long>(jitter * static_cast<double>(half)));
}

}  // namespace azhub::device
