#pragma once
// The one rule behind group commit (docs/conventions.md §6): a connection writes no byte while
// the hub's store has writes that are not yet durable. Each connection (MQTT, AMQP, HTTPS)
// holds a DurableGate and asks it before every socket write.
#include <utility>

#include "emulator/hub.hpp"

namespace azhub::emulator {

class DurableGate {
 public:
  explicit DurableGate(Hub& hub) : m_hub(hub) {}

  // True when the connection may write now. Otherwise false, and `resume` (which must hold the
  // connection alive, and with it this gate) runs once after the next commit; further calls
  // until then add nothing.
  template <typename F>
  bool ready(F&& resume) {
    if (m_hub.durable()) return true;
    if (!m_waiting) {
      m_waiting = true;
      m_hub.when_durable([this, resume = std::forward<F>(resume)]() mutable {
        m_waiting = false;
        resume();
      });
    }
    return false;
  }

 private:
  Hub& m_hub;
  bool m_waiting = false;
};

}  // namespace azhub::emulator
