#pragma once
// A Session for unit tests of Hub and its planes: records every packet Hub hands it and whether
// (and why) Hub closed it.
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emulator/hub.hpp"

namespace azhub::emulator::testing {

class FakeSession final : public Session {
 public:
  std::vector<mqtt::Packet> sent;
  bool closed = false;
  std::string close_reason;
  void send(mqtt::Packet packet) override { sent.push_back(std::move(packet)); }
  void close(std::string_view reason) override {
    closed = true;
    close_reason = reason;
  }
  // The PUBLISH packets sent, in order.
  [[nodiscard]] std::vector<mqtt::Publish> publishes() const {
    std::vector<mqtt::Publish> out;
    for (const auto& p : sent) {
      if (const auto* pub = std::get_if<mqtt::Publish>(&p)) out.push_back(*pub);
    }
    return out;
  }
  // The last packet of type T sent, or nullptr.
  template <class T>
  [[nodiscard]] const T* last() const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (const auto* p = std::get_if<T>(&*it)) return p;
    }
    return nullptr;
  }
};

}  // namespace azhub::emulator::testing
