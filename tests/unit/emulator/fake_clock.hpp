#pragma once
// A Clock for unit tests of Hub and RestServer: time stands still until advance() moves it,
// running every timer that comes due, in order.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "emulator/clock.hpp"

namespace azhub::emulator::testing {

inline constexpr std::int64_t k_now_ms = 1'800'000'000'000;  // 2027-01-15

class FakeClock final : public Clock {
 public:
  std::int64_t now = k_now_ms;
  std::int64_t now_unix_ms() override { return now; }
  TimerId start_timer(std::chrono::milliseconds after, std::function<void()> fn) override {
    const TimerId id = m_next++;
    m_timers[id] = {now + after.count(), std::move(fn)};
    return id;
  }
  void cancel_timer(TimerId id) override { m_timers.erase(id); }
  // Moves time forward by `ms`, running every timer that comes due, in order.
  void advance(std::int64_t ms) {
    const std::int64_t until = now + ms;
    for (;;) {
      auto next = m_timers.end();
      for (auto it = m_timers.begin(); it != m_timers.end(); ++it) {
        if (it->second.first <= until && (next == m_timers.end() || it->second.first < next->second.first))
          next = it;
      }
      if (next == m_timers.end()) break;
      now = std::max(now, next->second.first);
      auto fn = std::move(next->second.second);
      m_timers.erase(next);
      fn();
    }
    now = until;
  }

 private:
  std::map<TimerId, std::pair<std::int64_t, std::function<void()>>> m_timers;
  TimerId m_next = 1;
};

}  // namespace azhub::emulator::testing
