#pragma once
// What the emulator stores: identities, twins, C2D messages, C2D feedback, D2C captures,
// policies.
// Plain values, shared by Hub and Store.
#include <compare>
#include <cstdint>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/feedback.hpp"
#include "core/properties.hpp"

namespace azhub::emulator {

// A device ({device_id}) or a module ({device_id, module_id}).
struct IdentityKey {
  std::string device_id;
  std::optional<std::string> module_id;
  auto operator<=>(const IdentityKey&) const = default;
  bool operator==(const IdentityKey&) const = default;
};
// "dev" or "dev/mod" (for logs and messages).
[[nodiscard]] std::string to_string(const IdentityKey& key);

enum class AuthType { sas, self_signed, certificate_authority, none };
// "sas", "selfSigned", "certificateAuthority", "none" (the REST spellings, §12.2).
[[nodiscard]] std::string_view to_string(AuthType type);
[[nodiscard]] std::optional<AuthType> parse_auth_type(std::string_view text);

enum class DeviceStatus { enabled, disabled };

// A registry entry (device or module identity), as persisted.
struct IdentityRecord {
  IdentityKey key;
  std::string generation_id;            // fixed at creation
  std::string etag;                     // changes on every identity update
  DeviceStatus status = DeviceStatus::enabled;
  std::optional<std::string> status_reason;
  std::int64_t status_updated_ms = 0;   // 0 = never ("0001-01-01T00:00:00")
  AuthType auth_type = AuthType::sas;
  std::string primary_key;              // base64; empty unless auth_type == sas
  std::string secondary_key;
  std::optional<std::string> primary_thumbprint;    // hex (SHA-1 or SHA-256), selfSigned
  std::optional<std::string> secondary_thumbprint;
  bool iot_edge = false;
  std::string managed_by;               // modules only; empty otherwise
  std::int64_t last_activity_ms = 0;
  // Runtime state filled by Hub on reads (not persisted):
  bool connected = false;
  std::int64_t connection_state_updated_ms = 0;
  std::size_t c2d_message_count = 0;    // queued C2D messages (devices)
};

// A device or module twin. Sections hold user properties only; $version and $metadata are
// kept beside them and added by the views.
struct TwinRecord {
  IdentityKey key;
  nlohmann::json tags = nlohmann::json::object();
  nlohmann::json desired = nlohmann::json::object();
  nlohmann::json reported = nlohmann::json::object();
  // $metadata trees: {"$lastUpdated": "...", "child": {"$lastUpdated": ...}, ...}
  nlohmann::json desired_metadata = nlohmann::json::object();
  nlohmann::json reported_metadata = nlohmann::json::object();
  std::int64_t desired_version = 1;
  std::int64_t reported_version = 1;
  std::int64_t version = 2;             // whole twin
  std::uint64_t etag_counter = 1;       // etag = base64 of this as 8 big-endian bytes
  std::optional<std::string> model_id;  // from the CONNECT username (PnP)
};

// A queued cloud-to-device message (docs/protocol.md §6).
struct QueuedC2dMessage {
  std::uint64_t id = 0;                 // store key, increasing; assigned by Hub
  std::string device_id;
  std::string body;
  core::MessageProperties properties;   // message id, correlation id, ack, app props, ...
  std::int64_t enqueued_ms = 0;
  std::int64_t expiry_ms = 0;           // absolute; dropped when now >= expiry
  std::uint32_t delivery_count = 0;
};

// A C2D feedback record waiting for the service's feedback receiver (docs/protocol.md §6.1).
struct FeedbackEntry {
  std::uint64_t id = 0;                 // store key, increasing (oldest first); assigned by Hub
  core::FeedbackRecord record;
  std::uint32_t delivery_count = 0;     // batches holding it that the receiver abandoned
};

// A captured device-to-cloud message.
struct D2cMessage {
  std::uint64_t sequence_number = 0;    // 1, 2, 3, ... per hub; assigned by Hub
  std::int64_t enqueued_ms = 0;
  IdentityKey source;
  std::string body;
  core::MessageProperties properties;   // as parsed from the topic (+ mqtt-retain / Will)
  // What the hub adds for a Plug and Play device (docs/protocol.md §10): dt-dataschema, the
  // model id it announced, and dt-subject, the component its $.sub names.
  std::optional<std::string> data_schema;
  std::optional<std::string> data_subject;
  // The Event Hubs-compatible endpoint's view (docs/protocol.md §15.7): the partition the
  // device's messages go to, and the message's sequence number in it (0, 1, 2, ...; -1 until
  // Hub assigns it).
  std::uint32_t partition = 0;
  std::int64_t partition_sequence = -1;
};

// Shared access policy rights (docs/protocol.md §3.4).
enum Right : unsigned {
  right_registry_read = 1u << 0,
  right_registry_write = 1u << 1,
  right_service_connect = 1u << 2,
  right_device_connect = 1u << 3,
};

struct Policy {
  std::string name;                     // iothubowner, service, device, registryRead, ...
  std::string primary_key;              // base64
  std::string secondary_key;
  unsigned rights = 0;                  // Right bits
};

// A persistent MQTT session (CleanSession=0): the subscriptions that survive a reconnect.
struct SessionRecord {
  IdentityKey key;
  std::vector<std::pair<std::string, std::uint8_t>> subscriptions;  // filter, granted QoS
};

}  // namespace azhub::emulator
