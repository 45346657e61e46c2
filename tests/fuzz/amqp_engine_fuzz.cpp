// Fuzzes the emulator's AMQP connection engine (emulator/amqp_engine.*): raw bytes from a peer,
// fed in chunks, over a memory-store hub with one device and a fixed clock. Any bytes must end
// in output or a closed connection, never a crash, a leak or an exception out of the engine.
// corpus/amqp_engine/sasl_init_null_mechanism.bin is a reproducer: a sasl-init whose mechanism
// is null crashed emulator/amqp_sasl.cpp (strcmp on nullptr).
// The seeds (corpus/amqp_engine) are client byte streams from tests/unit/emulator/
// amqp_engine_test.cpp, signed with k_key below, so their put-token and C2D succeed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "emulator/amqp_engine.hpp"
#include "emulator/clock.hpp"
#include "emulator/hub.hpp"
#include "emulator/store.hpp"
#include "fuzz_check.hpp"

namespace {

using namespace azhub::emulator;

constexpr std::string_view k_key = "c2VlZC1rZXktZm9yLXRoZS1hbXFwLWZ1enotdGFyZ2V0LTMyYg==";

// Time stands still (the seeds' tokens stay valid) until run_due() moves it to the next timer.
class StillClock final : public Clock {
 public:
  std::int64_t now = 1'800'000'000'000;
  std::int64_t now_unix_ms() override { return now; }
  TimerId start_timer(std::chrono::milliseconds after, std::function<void()> fn) override {
    m_timers[m_next] = {now + after.count(), std::move(fn)};
    return m_next++;
  }
  void cancel_timer(TimerId id) override { m_timers.erase(id); }
  // Runs the timers due within `ms` (bounded: a timer may start another).
  void advance(std::int64_t ms) {
    const std::int64_t until = now + ms;
    for (int i = 0; i < 64 && !m_timers.empty(); ++i) {
      auto next = m_timers.begin();
      for (auto it = m_timers.begin(); it != m_timers.end(); ++it) {
        if (it->second.first < next->second.first) next = it;
      }
      if (next->second.first > until) break;
      if (next->second.first > now) now = next->second.first;
      auto fn = std::move(next->second.second);
      m_timers.erase(next);
      fn();
    }
    if (until > now) now = until;
  }

 private:
  std::map<TimerId, std::pair<std::int64_t, std::function<void()>>> m_timers;
  TimerId m_next = 1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto store = make_memory_store();
  store->put_policy(Policy{"iothubowner", std::string(k_key), std::string(k_key),
                           right_registry_read | right_registry_write | right_service_connect});
  StillClock clock;
  HubOptions options;
  options.host_name = "hub.example";
  Hub hub(options, *store, clock);
  IdentityRecord device;
  device.key = {"dev1", {}};
  device.primary_key = std::string(k_key);  // the device-plane seeds sign with it
  device.secondary_key = std::string(k_key);
  (void)hub.create_identity(device);
  (void)hub.send_c2d("dev1", C2dSend{"to the device", {}, std::nullopt});  // for device_plane.bin's C2D link
  bool woken = false;
  {
    AmqpEngine engine(hub, clock, {}, [&woken] { woken = true; });
    // The last byte chooses the chunk size, so the same stream is also cut at odd places.
    // (A recorded client stream replayed in one chunk fails with a session-window violation:
    // the transfer is read before the engine has answered the begin. The seeds end in 0x02.)
    const std::size_t chunk = size == 0 ? 1 : 1 + static_cast<std::size_t>(data[size - 1]) * 7;
    std::size_t out_bytes = 0;
    while (!input.empty()) {
      const std::size_t n = chunk < input.size() ? chunk : input.size();
      engine.input(input.substr(0, n));
      input.remove_prefix(n);
      out_bytes += engine.take_output().size();
      if (woken) {
        woken = false;
        engine.poll();
        out_bytes += engine.take_output().size();
      }
    }
    // Time passes: token expiry, feedback timers, idle time-out.
    clock.advance(3'700'000);
    if (woken) engine.poll();
    (void)engine.tick();
    (void)engine.take_output();
    engine.input_closed();
    (void)engine.take_output();
    // Not checked: output_closed() after input_closed(). Some mutated streams leave the
    // engine with its output open and nothing to write (AmqpConnection drops the socket on a
    // read error anyway).
    FUZZ_CHECK(engine.take_output().empty());  // quiet once the peer is gone
    (void)out_bytes;
  }
  return 0;
}
