// Hub: device and module twins (docs/protocol.md §7, §8): views, service PATCH/PUT with
// If-Match, reported patches from devices, $metadata, and desired notifications.
#include <type_traits>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "core/limits.hpp"
#include "core/topics.hpp"
#include "core/text.hpp"
#include "core/twin.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

namespace {

using nlohmann::json;

std::string iso(std::int64_t ms) {
  if (ms <= 0) return "0001-01-01T00:00:00Z";
  return core::format_iso8601(ms, true);
}

// Marks every member `patch` touches as updated at `now` (deleted members lose their entry).
// Desired properties also record the section's `$version` that wrote them,
// `$lastUpdatedVersion` (docs/protocol.md §8.2); reported properties do not.
void update_metadata(json& meta, const json& patch, const std::string& now, std::optional<std::int64_t> version) {
  if (!meta.is_object()) meta = json::object();
  meta["$lastUpdated"] = now;
  if (version) meta["$lastUpdatedVersion"] = *version;
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      meta.erase(k);
    } else if (v.is_object()) {
      update_metadata(meta[k], v, now, version);
    } else {
      meta[k] = json{{"$lastUpdated", now}};
      if (version) meta[k]["$lastUpdatedVersion"] = *version;
    }
  }
}

json build_metadata(const json& section, const std::string& now, std::optional<std::int64_t> version) {
  json meta = json::object();
  update_metadata(meta, section, now, version);
  return meta;
}

json section_view(const json& section, const json& meta, std::int64_t version, bool with_meta) {
  json out = section;
  if (with_meta) out["$metadata"] = meta.empty() ? json{{"$lastUpdated", "0001-01-01T00:00:00Z"}} : meta;
  out["$version"] = version;
  return out;
}

// Validates one writable section of a service patch; throws HubError 400004.
void validate_section(const json& patch, std::string_view what, std::size_t max_bytes) {
  if (!patch.is_object()) throw HubError(400004, fmt::format("{} must be a JSON object", what));
  try {
    core::validate_twin_patch(patch, what, max_bytes);
  } catch (const core::Error& e) {
    throw HubError(400004, e.what());
  }
}

void check_size(const json& section, std::string_view what, std::size_t max_bytes) {
  std::size_t size = core::twin_section_size(section);
  if (size > max_bytes)
    throw HubError(400004, fmt::format("{} would be {} bytes, over the {} byte limit", what, size,
                                       max_bytes));
}

}  // namespace

void validate_twin_update(const json& patch) {
  if (!patch.is_object()) throw HubError(400004, "twin patch must be a JSON object");
  if (patch.contains("tags") && !patch["tags"].is_null())
    validate_section(patch["tags"], "tags", core::limits::k_twin_tags_bytes);
  if (patch.contains("properties")) {
    const json& props = patch["properties"];
    if (!props.is_object()) throw HubError(400004, "properties must be a JSON object");
    if (props.contains("reported"))
      throw HubError(400004, "properties.reported is written by the device only");
    if (props.contains("desired") && !props["desired"].is_null())
      validate_section(props["desired"], "properties.desired", core::limits::k_twin_desired_bytes);
  }
}

const TwinRecord& Hub::get_twin(const IdentityKey& key) const {
  return m_state->twin_or_throw(key);
}

namespace {

// The service view of a twin (docs/protocol.md §8.2), members in the service's order, or only
// those `want` names (the query view). The identity's runtime state is read only when a member
// needs it.
template <class Json, class Want>
Json twin_view(const Hub::State& s, const IdentityKey& key, const Want& want) {
  const TwinRecord& t = s.twins.at(key);
  std::optional<IdentityRecord> identity;
  const auto r = [&]() -> const IdentityRecord& {
    if (!identity) identity = s.with_runtime(s.identities.at(key));
    return *identity;
  };
  Json out = Json::object();
  if (want("deviceId")) out["deviceId"] = key.device_id;
  if (key.module_id && want("moduleId")) out["moduleId"] = *key.module_id;
  if (want("etag")) out["etag"] = counter_etag(t.etag_counter);
  if (want("deviceEtag")) out["deviceEtag"] = r().etag;
  if (want("status")) out["status"] = r().status == DeviceStatus::enabled ? "enabled" : "disabled";
  if (want("statusUpdateTime")) out["statusUpdateTime"] = iso(r().status_updated_ms);
  if (want("connectionState")) out["connectionState"] = r().connected ? "Connected" : "Disconnected";
  if (want("lastActivityTime")) out["lastActivityTime"] = iso(r().last_activity_ms);
  if (want("cloudToDeviceMessageCount")) out["cloudToDeviceMessageCount"] = r().c2d_message_count;
  if (want("authenticationType")) out["authenticationType"] = std::string(to_string(r().auth_type));
  if (want("x509Thumbprint"))
    out["x509Thumbprint"] = json{{"primaryThumbprint", r().primary_thumbprint ? json(*r().primary_thumbprint) : json(nullptr)},
                                 {"secondaryThumbprint", r().secondary_thumbprint ? json(*r().secondary_thumbprint) : json(nullptr)}};
  if (want("modelId")) out["modelId"] = t.model_id.value_or("");
  if (want("version")) out["version"] = t.version;
  if (want("capabilities")) out["capabilities"] = json{{"iotEdge", r().iot_edge}};
  // Member order inside the sections matters only to a document that keeps it.
  constexpr bool ordered = std::is_same_v<Json, nlohmann::ordered_json>;
  if (want("tags")) {
    if constexpr (ordered) out["tags"] = core::in_twin_order(t.tags);
    else out["tags"] = t.tags;
  }
  if (want("properties")) {
    auto desired = section_view(t.desired, t.desired_metadata, t.desired_version, true);
    auto reported = section_view(t.reported, t.reported_metadata, t.reported_version, true);
    if constexpr (ordered) {
      out["properties"]["desired"] = core::in_twin_order(desired);
      out["properties"]["reported"] = core::in_twin_order(reported);
    } else {
      out["properties"] = {{"desired", std::move(desired)}, {"reported", std::move(reported)}};
    }
  }
  return out;
}

}  // namespace

nlohmann::ordered_json Hub::service_twin_view(const IdentityKey& key) const {
  State& s = *m_state;
  (void)s.twin_or_throw(key);
  (void)s.identity_or_throw(key);
  return twin_view<nlohmann::ordered_json>(s, key, [](std::string_view) { return true; });
}

nlohmann::json Hub::twin_query_view(const IdentityKey& key, const std::set<std::string>& members) const {
  State& s = *m_state;
  (void)s.twin_or_throw(key);
  return twin_view<json>(s, key, [&members](std::string_view name) { return members.count(core::to_lower(name)) != 0; });
}

nlohmann::ordered_json Hub::update_twin(const IdentityKey& key, const json& patch,
                      std::optional<std::string_view> if_match) {
  State& s = *m_state;
  TwinRecord& twin = s.twin_or_throw(key);
  validate_twin_update(patch);
  if (!if_match_ok(if_match, counter_etag(twin.etag_counter)))
    throw HubError(412001, fmt::format("twin etag of '{}' does not match If-Match", to_string(key)));
  TwinRecord next = twin;
  std::string now = core::format_iso8601(s.now(), true);
  bool changed = false;
  std::optional<json> desired_patch;
  if (patch.contains("tags") && !patch["tags"].is_null()) {
    core::apply_merge_patch(next.tags, patch["tags"]);
    check_size(next.tags, "tags", core::limits::k_twin_tags_bytes);
    changed = true;
  }
  if (patch.contains("properties")) {
    const json& props = patch["properties"];
    if (props.contains("desired") && !props["desired"].is_null()) {
      const json& d = props["desired"];
      core::apply_merge_patch(next.desired, d);
      check_size(next.desired, "properties.desired", core::limits::k_twin_desired_bytes);
      next.desired_version += 1;
      update_metadata(next.desired_metadata, d, now, next.desired_version);
      desired_patch = d;
      changed = true;
    }
  }
  if (changed) {
    next.etag_counter += 1;
    next.version += 1;
    s.store.put_twin(next);
    twin = std::move(next);
    s.log(1, "twin: service patched {} (version {})", to_string(key), twin.version);
    if (desired_patch) s.notify_desired(key, *desired_patch, twin.desired_version);
  }
  return service_twin_view(key);
}

nlohmann::ordered_json Hub::replace_twin(const IdentityKey& key, const json& doc,
                       std::optional<std::string_view> if_match) {
  State& s = *m_state;
  TwinRecord& twin = s.twin_or_throw(key);
  if (!doc.is_object()) throw HubError(400004, "twin must be a JSON object");
  if (!if_match_ok(if_match, counter_etag(twin.etag_counter)))
    throw HubError(412001, fmt::format("twin etag of '{}' does not match If-Match", to_string(key)));
  json tags = doc.contains("tags") && !doc["tags"].is_null() ? doc["tags"] : json::object();
  json desired = json::object();
  if (doc.contains("properties") && doc["properties"].is_object() &&
      doc["properties"].contains("desired") && !doc["properties"]["desired"].is_null())
    desired = doc["properties"]["desired"];
  desired.erase("$metadata");
  desired.erase("$version");
  validate_section(tags, "tags", core::limits::k_twin_tags_bytes);
  validate_section(desired, "properties.desired", core::limits::k_twin_desired_bytes);
  check_size(tags, "tags", core::limits::k_twin_tags_bytes);
  check_size(desired, "properties.desired", core::limits::k_twin_desired_bytes);
  std::string now = core::format_iso8601(s.now(), true);
  TwinRecord next = twin;
  next.tags = tags;
  bool desired_changed = next.desired != desired;
  next.desired = desired;
  next.desired_version += 1;
  next.desired_metadata = build_metadata(desired, now, next.desired_version);
  next.etag_counter += 1;
  next.version += 1;
  s.store.put_twin(next);
  twin = std::move(next);
  s.log(1, "twin: service replaced {} (version {})", to_string(key), twin.version);
  // A replace notifies with the whole new desired document (§7.3, E).
  (void)desired_changed;
  s.notify_desired(key, twin.desired, twin.desired_version);
  return service_twin_view(key);
}

void Hub::State::notify_desired(const IdentityKey& key, const json& patch, std::int64_t version) {
  Connection* c = connection_of(key);
  if (c == nullptr || c->kinds.count(core::SubscriptionKind::twin_desired) == 0) return;
  json body = patch;
  body["$version"] = version;
  // Twin notifications are QoS 0 on the wire (§4 table, O).
  c->session->send(mqtt::Publish{core::build_twin_desired_topic(version),
                                 core::in_twin_order(body).dump(), 0, false, false, 0});
  log(2, "twin: desired notification to {} ($version {})", to_string(key), version);
}

std::int64_t Hub::State::patch_reported(const IdentityKey& key, const json& patch) {
  TwinRecord& twin = twin_or_throw(key);
  validate_section(patch, "reported patch", core::limits::k_twin_reported_bytes);
  TwinRecord next = twin;
  core::apply_merge_patch(next.reported, patch);
  check_size(next.reported, "reported properties", core::limits::k_twin_reported_bytes);
  update_metadata(next.reported_metadata, patch, core::format_iso8601(now(), true), std::nullopt);
  next.reported_version += 1;
  next.version += 1;
  store.put_twin(next);
  twin = std::move(next);
  return twin.reported_version;
}

}  // namespace azhub::emulator
