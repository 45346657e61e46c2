#pragma once
// Time and deferred work for the hub: the wall clock and one-shot timers. The real clock runs
// on the io_context (steady_timer); unit tests use a fake they advance by hand.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace azhub::emulator {

using TimerId = std::uint64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall clock: SAS expiry, C2D TTL, timestamps).
  [[nodiscard]] virtual std::int64_t now_unix_ms() = 0;
  // Runs `fn` once, `after` from now, on the hub's thread. Never runs `fn` before returning.
  virtual TimerId start_timer(std::chrono::milliseconds after, std::function<void()> fn) = 0;
  // Cancels a pending timer; a no-op for one that already ran or was cancelled.
  virtual void cancel_timer(TimerId id) = 0;
};

// Clock backed by steady_timers on `io` (system_clock for the wall time).
[[nodiscard]] std::unique_ptr<Clock> make_asio_clock(boost::asio::io_context& io);

}  // namespace azhub::emulator
