#include "emulator/rest_json.hpp"

#include <cctype>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/identity.hpp"
#include "core/message_record.hpp"

namespace azhub::emulator {
namespace {

using nlohmann::json;

json optional_string(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

const json* member(const json& object, std::string_view name) {
  const auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::optional<std::string> string_member(const json& object, std::string_view name,
                                         std::string_view path) {
  const auto* value = member(object, name);
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (!value->is_string()) throw core::usage_error(fmt::format("{}: must be a string", path));
  return value->get<std::string>();
}

const json* object_member(const json& object, std::string_view name, std::string_view path) {
  const auto* value = member(object, name);
  if (value == nullptr || value->is_null()) return nullptr;
  if (!value->is_object()) throw core::usage_error(fmt::format("{}: must be an object", path));
  return value;
}

nlohmann::ordered_json authentication_to_json(const IdentityRecord& identity) {
  nlohmann::ordered_json auth = {{"type", std::string(to_string(identity.auth_type))}};
  if (identity.auth_type == AuthType::sas) {
    auth["symmetricKey"] = {{"primaryKey", identity.primary_key},
                            {"secondaryKey", identity.secondary_key}};
  } else {
    auth["symmetricKey"] = {{"primaryKey", nullptr}, {"secondaryKey", nullptr}};
  }
  auth["x509Thumbprint"] = {{"primaryThumbprint", optional_string(identity.primary_thumbprint)},
                            {"secondaryThumbprint", optional_string(identity.secondary_thumbprint)}};
  return auth;
}

}  // namespace

std::string format_rest_time(std::int64_t unix_ms, std::string_view never) {
  if (unix_ms == 0) return std::string(never);
  auto text = core::format_iso8601(unix_ms, true);  // "...T14:35:50.123Z"
  if (!text.empty() && text.back() == 'Z') {
    text.pop_back();
    text += "0000Z";
  }
  return text;
}

nlohmann::ordered_json identity_to_json(const IdentityRecord& identity) {
  const bool is_module = identity.key.module_id.has_value();
  nlohmann::ordered_json out;
  if (is_module) {
    out["moduleId"] = *identity.key.module_id;
    out["managedBy"] = identity.managed_by;
  }
  out["deviceId"] = identity.key.device_id;
  out["generationId"] = identity.generation_id;
  out["etag"] = identity.etag;
  if (!is_module) {
    out["status"] = identity.status == DeviceStatus::enabled ? "enabled" : "disabled";
    out["statusReason"] = optional_string(identity.status_reason);
    // The identity registry spells it statusUpdatedTime, without a zone for "never" (§12.2).
    out["statusUpdatedTime"] = format_rest_time(identity.status_updated_ms, "0001-01-01T00:00:00");
  }
  out["connectionState"] = identity.connected ? "Connected" : "Disconnected";
  out["connectionStateUpdatedTime"] =
      format_rest_time(identity.connection_state_updated_ms, "0001-01-01T00:00:00");
  out["lastActivityTime"] = format_rest_time(identity.last_activity_ms, "0001-01-01T00:00:00");
  out["cloudToDeviceMessageCount"] = identity.c2d_message_count;
  out["authentication"] = authentication_to_json(identity);
  if (!is_module) {
    out["capabilities"] = {{"iotEdge", identity.iot_edge}};
    out["deviceScope"] = nullptr;
    out["parentScopes"] = nlohmann::ordered_json::array();
  }
  return out;
}

IdentityUpdate parse_identity_update(const nlohmann::json& body, const IdentityKey& key) {
  if (!body.is_object()) throw core::usage_error("body: must be a JSON object");
  IdentityUpdate update;
  if (const auto id = string_member(body, "deviceId", "deviceId"); id && *id != key.device_id)
    throw core::usage_error(
        fmt::format("deviceId: '{}' differs from the device id in the path", *id));
  if (key.module_id) {
    if (const auto mid = string_member(body, "moduleId", "moduleId"); mid && *mid != *key.module_id)
      throw core::usage_error(
          fmt::format("moduleId: '{}' differs from the module id in the path", *mid));
    update.managed_by = string_member(body, "managedBy", "managedBy");
  }
  if (const auto status = string_member(body, "status", "status")) {
    if (*status == "enabled") update.status = DeviceStatus::enabled;
    else if (*status == "disabled") update.status = DeviceStatus::disabled;
    else throw core::usage_error(fmt::format("status: '{}' is not enabled or disabled", *status));
  }
  if (const auto* reason = member(body, "statusReason")) {
    if (reason->is_null()) update.status_reason = std::optional<std::string>{};
    else update.status_reason = string_member(body, "statusReason", "statusReason");
  }
  if (const auto* caps = object_member(body, "capabilities", "capabilities")) {
    if (const auto* edge = member(*caps, "iotEdge"); edge && !edge->is_null()) {
      if (!edge->is_boolean()) throw core::usage_error("capabilities.iotEdge: must be a boolean");
      update.iot_edge = edge->get<bool>();
    }
  }
  if (const auto* auth = object_member(body, "authentication", "authentication")) {
    if (const auto type = string_member(*auth, "type", "authentication.type")) {
      update.auth_type = parse_auth_type(*type);
      if (!update.auth_type)
        throw core::usage_error(fmt::format(
            "authentication.type: '{}' is not sas, selfSigned, certificateAuthority or none", *type));
    }
    // An empty key or thumbprint is an absent one: the hub generates keys when none are given,
    // and Microsoft's service SDKs send "" for a device created without keys.
    const auto non_empty = [](std::optional<std::string> value) {
      return value && value->empty() ? std::nullopt : value;
    };
    if (const auto* sym = object_member(*auth, "symmetricKey", "authentication.symmetricKey")) {
      update.primary_key =
          non_empty(string_member(*sym, "primaryKey", "authentication.symmetricKey.primaryKey"));
      update.secondary_key =
          non_empty(string_member(*sym, "secondaryKey", "authentication.symmetricKey.secondaryKey"));
    }
    if (const auto* x509 = object_member(*auth, "x509Thumbprint", "authentication.x509Thumbprint")) {
      update.primary_thumbprint = non_empty(string_member(
          *x509, "primaryThumbprint", "authentication.x509Thumbprint.primaryThumbprint"));
      update.secondary_thumbprint = non_empty(string_member(
          *x509, "secondaryThumbprint", "authentication.x509Thumbprint.secondaryThumbprint"));
    }
  }
  const auto type = update.auth_type.value_or(AuthType::sas);
  if (type == AuthType::sas) {
    if (update.primary_key) core::validate_symmetric_key(*update.primary_key, "authentication.symmetricKey.primaryKey");
    if (update.secondary_key)
      core::validate_symmetric_key(*update.secondary_key, "authentication.symmetricKey.secondaryKey");
  } else if (update.primary_key || update.secondary_key) {
    throw core::usage_error("authentication.symmetricKey: only a sas identity has keys");
  }
  if (type == AuthType::self_signed) {
    if (!update.primary_thumbprint)
      throw core::usage_error(
          "authentication.x509Thumbprint.primaryThumbprint: required for a selfSigned identity");
    core::validate_thumbprint(*update.primary_thumbprint, "authentication.x509Thumbprint.primaryThumbprint");
    if (update.secondary_thumbprint)
      core::validate_thumbprint(*update.secondary_thumbprint,
                          "authentication.x509Thumbprint.secondaryThumbprint");
  } else if (update.primary_thumbprint || update.secondary_thumbprint) {
    throw core::usage_error(
        "authentication.x509Thumbprint: only a selfSigned identity has thumbprints");
  }
  return update;
}

void apply_identity_update(IdentityRecord& record, const IdentityUpdate& update) {
  if (update.status) record.status = *update.status;
  if (update.status_reason) record.status_reason = *update.status_reason;
  if (update.iot_edge) record.iot_edge = *update.iot_edge;
  if (update.managed_by) record.managed_by = *update.managed_by;
  if (update.auth_type && *update.auth_type != record.auth_type) {
    record.auth_type = *update.auth_type;
    record.primary_key.clear();
    record.secondary_key.clear();
    record.primary_thumbprint.reset();
    record.secondary_thumbprint.reset();
  }
  if (update.primary_key) record.primary_key = *update.primary_key;
  if (update.secondary_key) record.secondary_key = *update.secondary_key;
  if (update.primary_thumbprint) record.primary_thumbprint = update.primary_thumbprint;
  if (update.secondary_thumbprint) record.secondary_thumbprint = update.secondary_thumbprint;
}

nlohmann::json build_twin_write(const nlohmann::json& body, bool replace) {
  if (!body.is_object()) throw core::usage_error("body: must be a JSON object");
  json out = json::object();
  if (const auto* tags = member(body, "tags"); tags && !(replace && tags->is_null())) {
    if (!tags->is_object() && !tags->is_null()) throw core::usage_error("tags: must be an object");
    out["tags"] = *tags;
  }
  if (const auto* props = object_member(body, "properties", "properties")) {
    if (!replace && member(*props, "reported") != nullptr)
      throw core::usage_error("properties.reported: is written by the device only");
    if (const auto* desired = member(*props, "desired"); desired && !(replace && desired->is_null())) {
      if (!desired->is_object() && !desired->is_null())
        throw core::usage_error("properties.desired: must be an object");
      json section = *desired;
      if (section.is_object()) {
        section.erase("$metadata");
        section.erase("$version");
      }
      out["properties"] = {{"desired", std::move(section)}};
    }
  }
  return out;
}

nlohmann::json d2c_to_json(const D2cMessage& message) {
  json out;
  out["sequenceNumber"] = message.sequence_number;
  out["enqueuedTime"] = format_rest_time(message.enqueued_ms, "0001-01-01T00:00:00Z");
  out["deviceId"] = message.source.device_id;
  out["moduleId"] = optional_string(message.source.module_id);
  out.update(core::message_record_json(message.body, message.properties));
  if (message.data_schema || message.data_subject) {
    json annotations = json::object();
    if (message.data_schema) annotations["dt-dataschema"] = *message.data_schema;
    if (message.data_subject) annotations["dt-subject"] = *message.data_subject;
    out["annotations"] = std::move(annotations);
  }
  return out;
}

}  // namespace azhub::emulator
