#pragma once
// Reconnect delays: exponential backoff with jitter (docs/protocol.md §2.2: reconnect after a drop).
#include <chrono>

namespace azhub::device {

class Backoff {
 public:
  // Delays grow from `initial` by doubling up to `max`.
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) noexcept
      : m_initial(initial), m_max(max) {}

  // The delay before the next attempt, then counts the attempt. `jitter` in [0, 1] picks a point
  // in the upper half of the current step ("equal jitter"): step/2 + jitter * step/2, so that
  // clients that dropped together do not reconnect together, yet never retry at once.
  [[nodiscard]] std::chrono::milliseconds next(double jitter) noexcept;

  // The un-jittered step the next call to `next` would use.
  [[nodiscard]] std::chrono::milliseconds step() const noexcept;

  // After a connection that held: start again from `initial`.
  void reset() noexcept { m_attempt = 0; }
  [[nodiscard]] int attempts() const noexcept { return m_attempt; }

 private:
  std::chrono::milliseconds m_initial;
  std::chrono::milliseconds m_max;
  int m_attempt = 0;
};

}  // namespace azhub::device
