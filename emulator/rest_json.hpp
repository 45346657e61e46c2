#pragma once
// JSON documents of the REST API: Device and Module identities (docs/protocol.md §12.2),
// the service view of a twin (§8.2), captured D2C messages (emulator paths, §12.4), and the
// parsing of request bodies. Pure functions; Error(usage) for bad input.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/records.hpp"

namespace azhub::emulator {

// "2026-11-26T14:35:50.1230000Z" (7 fractional digits, as the service prints), or `never`
// for 0.
[[nodiscard]] std::string format_rest_time(std::int64_t unix_ms, std::string_view never);

// The Device object of `GET /devices/{id}` (§12.2), or the Module object for a module record.
// Members in the service's order (§12.2).
[[nodiscard]] nlohmann::ordered_json identity_to_json(const IdentityRecord& identity);

// The writable parts of a PUT /devices/{id} (or module) body. Absent members keep their
// current value on update, or the default on create.
struct IdentityUpdate {
  std::optional<DeviceStatus> status;
  std::optional<std::optional<std::string>> status_reason;
  std::optional<AuthType> auth_type;
  std::optional<std::string> primary_key;
  std::optional<std::string> secondary_key;
  std::optional<std::string> primary_thumbprint;
  std::optional<std::string> secondary_thumbprint;
  std::optional<bool> iot_edge;
  std::optional<std::string> managed_by;
};

// Parses the body of a PUT for `key` (the ids from the path). Throws Error(usage) naming the
// field: not an object, deviceId/moduleId differing from the path, unknown status or
// authentication type, keys that are not base64 of 16-64 bytes, a selfSigned identity without a
// primary thumbprint, thumbprints on a non-selfSigned identity.
[[nodiscard]] IdentityUpdate parse_identity_update(const nlohmann::json& body, const IdentityKey& key);

// Applies `update` to `record` (keys, thumbprints cleared when the type changes).
void apply_identity_update(IdentityRecord& record, const IdentityUpdate& update);

// The twin document to hand to Hub::update_twin (PATCH, `replace` false) or
// Hub::replace_twin (PUT, `replace` true): {"tags":..,"properties":{"desired":..}} with only
// the members the body has. A PUT body is often a twin read back and edited, so its identity
// fields, reported section and desired $metadata/$version are dropped, as the service does; a
// PATCH that writes reported properties is refused. Throws Error(usage) naming the field when
// the body, `tags`, `properties` or `desired` is not an object.
[[nodiscard]] nlohmann::json build_twin_write(const nlohmann::json& body, bool replace);

// A captured D2C message as the emulator paths return it:
// {"sequenceNumber","enqueuedTime","deviceId","moduleId","body","bodyEncoding",
//  "systemProperties":{...},"properties":{...}[,"annotations":{"dt-dataschema","dt-subject"}]}. The body is text when it is valid UTF-8,
// else base64 with "bodyEncoding":"base64" (core::message_record_json, which azhub listen prints).
[[nodiscard]] nlohmann::json d2c_to_json(const D2cMessage& message);

}  // namespace azhub::emulator
