#pragma once
// MQTT 3.1.1 packets the emulator speaks, a strict incremental parser and a serializer.
// No I/O: a session appends received bytes to a buffer and calls parse_packet until it
// returns need_more (or bad, which closes the connection). Fuzzed by tests/fuzz/mqtt_codec.cpp.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/connack.hpp"

namespace azhub::emulator::mqtt {

struct Will {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool operator==(const Will&) const = default;
};

struct Connect {
  std::string protocol_name = "MQTT";
  std::uint8_t protocol_level = 4;
  bool clean_session = true;
  std::uint16_t keep_alive = 0;  // seconds
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  bool operator==(const Connect&) const = default;
};

// CONNACK return codes (MQTT 3.1.1 §3.2.2.3), from core.
using ConnectReturn = core::ConnackCode;

struct Connack {
  bool session_present = false;
  ConnectReturn code = ConnectReturn::accepted;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;  // 0 when qos == 0
  bool operator==(const Publish&) const = default;
};

struct Puback {
  std::uint16_t packet_id = 0;
  bool operator==(const Puback&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::pair<std::string, std::uint8_t>> filters;  // filter, requested QoS
  bool operator==(const Subscribe&) const = default;
};

inline constexpr std::uint8_t k_suback_failure = 0x80;
struct Suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> return_codes;  // granted QoS or 0x80
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};
struct Disconnect {
  bool operator==(const Disconnect&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, Puback, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect>;

// "CONNECT", "PUBLISH", ... (for logs).
[[nodiscard]] std::string_view packet_name(const Packet& packet);

enum class ParseStatus { complete, need_more, bad };

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  std::optional<Packet> packet;  // set when complete
  std::size_t consumed = 0;      // bytes of `data` the packet used, when complete
  std::string error;             // why, when bad
  // When need_more and `data` starts with a PUBLISH whose topic length has arrived: the payload
  // bytes it announces, so a session can refuse an oversized message before reading it.
  std::optional<std::size_t> announced_payload_bytes;
};

// Largest remaining length accepted by default: a 256 KB D2C message plus a long topic.
inline constexpr std::size_t k_default_max_packet_bytes = 512 * 1024;

// Parses the first packet at the start of `data`. Strict per MQTT 3.1.1: reserved flag bits,
// remaining-length encoding, UTF-8 strings (no U+0000), QoS values, packet id != 0 where
// required, no trailing bytes inside a packet. A remaining length over `max_packet_bytes` is
// bad. Packets a server sends (CONNACK, SUBACK, ...) parse too, for clients and tests.
[[nodiscard]] ParseResult parse_packet(std::string_view data,
                                       std::size_t max_packet_bytes = k_default_max_packet_bytes);

// The wire bytes of `packet`. Asserts on values that cannot be encoded (strings over 64 KiB).
[[nodiscard]] std::string serialize(const Packet& packet);

}  // namespace azhub::emulator::mqtt
