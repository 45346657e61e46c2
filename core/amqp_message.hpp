#pragma once
// An AMQP 1.0 message as plain values, and its encoding (AMQP 1.0 §3.2, the bare message's
// sections). Both AMQP ends of azhub use it: the emulator's AMQP listener (emulator/amqp_*) and
// the service client (service/amqp_client.*). The bytes are Apache Qpid Proton's codec's; this
// file only translates between Proton's pn_data_t trees and these values, so no caller touches
// Proton's C types. Pure: no I/O (docs/protocol.md §15).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace azhub::core::amqp {

struct Symbol {
  std::string text;
  bool operator==(const Symbol&) const = default;
};
struct Timestamp {
  std::int64_t unix_ms = 0;
  bool operator==(const Timestamp&) const = default;
};
struct Binary {
  std::string bytes;
  bool operator==(const Binary&) const = default;
};
struct Uuid {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const Uuid&) const = default;
};

// The scalar types IoT Hub's AMQP messages use in ids, properties and annotations. Integers of
// every width arrive as int64 (signed) or uint64 (unsigned); they are sent back as long/ulong
// unless `Int` (a 32-bit int, the type of CBS's status-code) is used.
struct Int {
  std::int32_t value = 0;
  bool operator==(const Int&) const = default;
};
// An AMQP array of strings (the Event Hubs management reply's partition_ids).
struct StringArray {
  std::vector<std::string> items;
  bool operator==(const StringArray&) const = default;
};
using Value = std::variant<std::monostate, bool, std::int64_t, std::uint64_t, Int, double, std::string,
                           Symbol, Timestamp, Binary, Uuid, StringArray>;

// "8-4-4-4-12" lowercase hex.
[[nodiscard]] std::string to_string(const Uuid& uuid);
// Parses the 36-character form (either case); nullopt otherwise.
[[nodiscard]] std::optional<Uuid> parse_uuid(std::string_view text);
// A new random (version 4) UUID.
[[nodiscard]] Uuid random_uuid();

// The text of a string, symbol or uuid, or the decimal text of an integer (message and
// correlation ids); nullopt for other types.
[[nodiscard]] std::optional<std::string> text_of(const Value& value);

using Properties = std::vector<std::pair<std::string, Value>>;  // in wire order

// A property by name, or nullptr.
[[nodiscard]] const Value* find(const Properties& properties, std::string_view name);

enum class BodyKind {
  none,        // no body section
  data,        // one data section (opaque bytes): IoT Hub messages
  value,       // an amqp-value section holding `value_body`
  map,         // an amqp-value section holding a map with string keys, `map_body`
};

struct Message {
  // header
  std::optional<bool> durable;
  std::optional<std::uint32_t> ttl_ms;
  std::optional<std::uint32_t> delivery_count;
  // message annotations (symbol keys) and properties
  Properties annotations;
  Value message_id;
  std::optional<std::string> user_id;
  std::optional<std::string> to;
  std::optional<std::string> subject;
  std::optional<std::string> reply_to;
  Value correlation_id;
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<std::int64_t> absolute_expiry_ms;
  std::optional<std::int64_t> creation_ms;
  // application properties (string keys)
  Properties application;
  // body
  BodyKind body_kind = BodyKind::none;
  std::string body;   // the data section's bytes
  Value value_body;   // the amqp-value section
  Properties map_body;  // the amqp-value map (management replies)
};

// Encodes the message's sections (the delivery payload). Throws Error(failure) when Proton's
// encoder refuses (it cannot for values built from these types).
[[nodiscard]] std::string encode(const Message& message);
// Decodes a delivery payload. Throws Error(failure) "AMQP message: ..." for bytes that are not
// a message; nested lists and maps in properties are refused (IoT Hub sends none).
[[nodiscard]] Message decode(std::string_view bytes);

}  // namespace azhub::core::amqp
