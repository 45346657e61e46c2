// Clock on the io_context: one steady_timer per pending callback.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>

#include "emulator/clock.hpp"

namespace azhub::emulator {

namespace {

class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io) : m_io(io) {}
  ~AsioClock() override {
    for (auto& [id, timer] : m_timers) timer->cancel();
  }

  std::int64_t now_unix_ms() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  TimerId start_timer(std::chrono::milliseconds after, std::function<void()> fn) override {
    TimerId id = m_next++;
    auto timer = std::make_shared<boost::asio::steady_timer>(m_io);
    timer->expires_after(after < std::chrono::milliseconds(0) ? std::chrono::milliseconds(0) : after);
    m_timers[id] = timer;
    timer->async_wait([this, id, timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      // A timer that already fired can still be cancelled before its handler runs, so the
      // map, not the error code, says whether it is still wanted. (The clock outlives run().)
      if (ec || m_timers.erase(id) == 0) return;
      fn();
    });
    return id;
  }

  void cancel_timer(TimerId id) override {
    auto it = m_timers.find(id);
    if (it == m_timers.end()) return;
    it->second->cancel();
    m_timers.erase(it);
  }

 private:
  boost::asio::io_context& m_io;
  std::map<TimerId, std::shared_ptr<boost::asio::steady_timer>> m_timers;
  TimerId m_next = 1;
};

}  // namespace

std::unique_ptr<Clock> make_asio_clock(boost::asio::io_context& io) {
  return std::make_unique<AsioClock>(io);
}

}  // namespace azhub::emulator
