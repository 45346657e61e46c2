#include "emulator/rest_query.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/jobs.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"
#include "core/twin_query.hpp"
#include "emulator/hub.hpp"
#include "emulator/rest_json.hpp"
#include "emulator/rest_request.hpp"

namespace azhub::emulator {
namespace {

using nlohmann::json;
// The JSON type the REST layer writes (ordered: a whole twin keeps the service's member order).
using BodyJson = std::remove_cvref_t<decltype(*RestReply{}.body)>;

// --- paging -----------------------------------------------------------------------------------

// Where the next page starts: after the identity `after` (row-by-row queries, which page the
// scan itself) or at row `offset` of the computed rows (aggregates). `sent` counts the rows
// already returned, for TOP. The token is opaque to clients: base64 of this as JSON (§16).
struct Cursor {
  std::optional<IdentityKey> after;
  std::size_t offset = 0;
  std::int64_t sent = 0;
  std::optional<std::pair<std::string, std::string>> after_job;  // devices.jobs: (job id, device id)
};

std::string encode_cursor(const Cursor& cursor) {
  json doc = {{"n", cursor.sent}};
  if (cursor.after_job) {
    doc["j"] = {cursor.after_job->first, cursor.after_job->second};
  } else if (cursor.after) {
    doc["d"] = cursor.after->device_id;
    if (cursor.after->module_id) doc["m"] = *cursor.after->module_id;
  } else {
    doc["o"] = cursor.offset;
  }
  return encode_continuation(doc);
}

HubError bad_continuation() {
  return HubError(400004, "x-ms-continuation: not a continuation token this hub issued");
}

Cursor decode_cursor(std::string_view token) {
  const auto refuse = [] { return bad_continuation(); };
  const auto doc = decode_continuation(token);
  if (!doc.contains("n") || !doc["n"].is_number_integer()) throw refuse();
  Cursor cursor;
  cursor.sent = doc["n"].get<std::int64_t>();
  if (const auto j = doc.find("j"); j != doc.end()) {
    if (!j->is_array() || j->size() != 2 || !(*j)[0].is_string() || !(*j)[1].is_string()) throw refuse();
    cursor.after_job.emplace((*j)[0].get<std::string>(), (*j)[1].get<std::string>());
  } else if (const auto d = doc.find("d"); d != doc.end()) {
    if (!d->is_string()) throw refuse();
    IdentityKey key{d->get<std::string>(), {}};
    if (const auto m = doc.find("m"); m != doc.end()) {
      if (!m->is_string()) throw refuse();
      key.module_id = m->get<std::string>();
    }
    cursor.after = std::move(key);
  } else if (const auto o = doc.find("o"); o != doc.end() && o->is_number_unsigned()) {
    cursor.offset = o->get<std::size_t>();
  } else {
    throw refuse();
  }
  return cursor;
}

// FROM devices.jobs (§17): each device's part of each job, by job id then device id. The
// service takes SELECT * only there: no projections, no aggregates.
BodyJson device_job_rows(const Hub& hub, const core::TwinQuery& query, const Cursor& cursor, std::int64_t limit,
                         std::optional<Cursor>& next) {
  if (!query.selects_whole_twins() || query.is_aggregate())
    throw HubError(400004, "query: FROM devices.jobs takes SELECT * only (no projections or aggregates)");
  const auto& parts = hub.device_jobs();
  auto it = cursor.after_job ? parts.upper_bound(*cursor.after_job) : parts.begin();
  BodyJson rows = BodyJson::array();
  std::size_t scanned = 0;
  std::optional<std::pair<std::string, std::string>> last = cursor.after_job;
  for (; it != parts.end(); ++it) {
    if (static_cast<std::int64_t>(rows.size()) >= limit || scanned == k_query_scan_budget) break;
    ++scanned;
    last = it->first;
    auto row = core::jobs::to_json(it->second);
    if (query.matches(json(row))) rows.push_back(std::move(row));
  }
  const bool top_reached = query.top() && cursor.sent + static_cast<std::int64_t>(rows.size()) >= *query.top();
  if (it != parts.end() && !top_reached) {
    Cursor c;
    c.after_job = last;
    c.sent = cursor.sent + static_cast<std::int64_t>(rows.size());
    next = c;
  }
  return rows;
}

}  // namespace

std::string encode_continuation(const json& position) { return core::base64_encode(position.dump()); }

json decode_continuation(std::string_view token) {
  const auto text = core::base64_decode(token);
  if (!text) throw bad_continuation();
  auto doc = core::parse_json(*text);
  if (!doc.is_object()) throw bad_continuation();
  return doc;
}

int query_page_size(const HttpRequest& request) {
  const auto value = request_header(request, "x-ms-max-item-count");
  if (!value) return core::k_query_default_page_size;
  const auto n = parse_query_number(*value, "x-ms-max-item-count", 1, std::numeric_limits<int>::max());
  // A larger page is served as the largest the hub gives (§16), not refused.
  return static_cast<int>(std::min<std::int64_t>(n, core::k_query_max_page_size));
}

RestReply handle_twin_query(Hub& hub, const HttpRequest& request) {
  const auto body = request_json(request);
  if (!body.is_object() || !body.contains("query") || !body["query"].is_string())
    throw HubError(400004, "the body must be {\"query\":\"SELECT ...\"}");
  const auto query = core::TwinQuery::parse(body["query"].get<std::string>());
  const int page_size = query_page_size(request);
  Cursor cursor;
  if (const auto token = request_header(request, "x-ms-continuation")) cursor = decode_cursor(*token);

  std::int64_t limit = page_size;
  if (query.top()) limit = std::min<std::int64_t>(limit, std::max<std::int64_t>(*query.top() - cursor.sent, 0));

  BodyJson rows = BodyJson::array();
  std::optional<Cursor> next;
  if (query.collection() == core::QueryCollection::jobs) {
    rows = device_job_rows(hub, query, cursor, limit, next);
  } else if (query.is_aggregate()) {
    // Aggregates need every twin before their first row: one pass per request over the whole
    // collection (§16), then the rows are paged by offset.
    core::TwinQuery::Aggregation aggregation(query);
    const auto members = query.referenced_members(false);
    const bool modules = query.collection() == core::QueryCollection::modules;
    for (const auto& key : hub.identity_keys(std::nullopt, modules, std::numeric_limits<std::size_t>::max())) {
      const json doc = hub.twin_query_view(key, members);
      if (query.matches(doc)) aggregation.add(doc);
    }
    const auto all = aggregation.rows();
    std::size_t i = cursor.offset;
    for (; i < all.size() && static_cast<std::int64_t>(rows.size()) < limit; ++i) rows.push_back(BodyJson(all[i]));
    const bool top_reached = query.top() && cursor.sent + static_cast<std::int64_t>(rows.size()) >= *query.top();
    if (i < all.size() && !top_reached) next = Cursor{std::nullopt, i, cursor.sent + static_cast<std::int64_t>(rows.size()), std::nullopt};
  } else {
    // The collection in registry order from the token's position: one key more than the
    // budget, to know whether another page follows.
    const bool modules = query.collection() == core::QueryCollection::modules;
    const auto keys = hub.identity_keys(cursor.after, modules, k_query_scan_budget + 1);
    const auto where_members = query.referenced_members(true);
    const auto row_members = query.referenced_members(false);
    std::size_t scanned = 0;
    std::optional<IdentityKey> last = cursor.after;
    for (; scanned < keys.size(); ++scanned) {
      if (static_cast<std::int64_t>(rows.size()) >= limit || scanned == k_query_scan_budget) break;
      const auto& key = keys[scanned];
      last = key;
      // The condition sees only the members it reads; a matching twin is then built whole
      // (GET /twins/{id}'s document as the hub writes it) or with what the projection reads.
      if (!query.matches(hub.twin_query_view(key, where_members))) continue;
      if (query.selects_whole_twins()) rows.push_back(hub.service_twin_view(key));
      else rows.push_back(BodyJson(query.project(hub.twin_query_view(key, row_members))));
    }
    const bool top_reached = query.top() && cursor.sent + static_cast<std::int64_t>(rows.size()) >= *query.top();
    if (scanned < keys.size() && !top_reached)
      next = Cursor{last, 0, cursor.sent + static_cast<std::int64_t>(rows.size()), std::nullopt};
  }

  RestReply reply = json_reply(std::move(rows));
  reply.headers.emplace_back("x-ms-item-type", std::string(query.item_type()));
  if (next) reply.headers.emplace_back("x-ms-continuation", encode_cursor(*next));
  return reply;
}

RestReply handle_registry_statistics(const Hub& hub) {
  std::size_t total = 0;
  std::size_t enabled = 0;
  for (const auto& device : hub.list_devices()) {
    ++total;
    if (device.status == DeviceStatus::enabled) ++enabled;
  }
  return json_reply({{"totalDeviceCount", total},
                     {"enabledDeviceCount", enabled},
                     {"disabledDeviceCount", total - enabled}});
}

RestReply handle_service_statistics(const Hub& hub) {
  std::size_t connected = 0;
  for (const auto& device : hub.list_devices())
    if (device.connected) ++connected;
  return json_reply({{"connectedDeviceCount", connected}});
}

// --- bulk registry ----------------------------------------------------------------------------

namespace {

enum class ImportMode { create, update, update_if_match, remove, remove_if_match, update_twin, update_twin_if_match };

std::optional<ImportMode> parse_import_mode(std::string_view text) {
  // The Node SDK sends "create", "Update", "Delete": the hub matches the names ignoring case.
  static constexpr std::pair<std::string_view, ImportMode> k_modes[] = {
      {"create", ImportMode::create},
      {"createOrUpdate", ImportMode::update},
      {"update", ImportMode::update},
      {"updateIfMatchETag", ImportMode::update_if_match},
      {"delete", ImportMode::remove},
      {"deleteIfMatchETag", ImportMode::remove_if_match},
      {"updateTwin", ImportMode::update_twin},
      {"updateTwinIfMatchETag", ImportMode::update_twin_if_match}};
  for (const auto& [name, mode] : k_modes)
    if (core::iequals(text, name)) return mode;
  return std::nullopt;
}

// A member named `name` ignoring ASCII case ("eTag" / "etag"), if it is a non-empty string.
std::optional<std::string> string_named(const json& entry, std::string_view name) {
  for (auto it = entry.begin(); it != entry.end(); ++it)
    if (core::iequals(it.key(), name) && it->is_string() && !it->get_ref<const std::string&>().empty())
      return it->get<std::string>();
  return std::nullopt;
}

struct ImportEntry {
  IdentityKey key;
  ImportMode mode = ImportMode::create;
  json body;  // the entry, as an identity body for parse_identity_update
};

// The twin part of an entry ({"tags", "properties":{"desired"}}), or nullopt when it has none.
std::optional<json> twin_write_of(const json& entry) {
  json twin = json::object();
  if (const auto tags = entry.find("tags"); tags != entry.end() && !tags->is_null()) twin["tags"] = *tags;
  if (const auto props = entry.find("properties"); props != entry.end() && props->is_object()) {
    if (const auto desired = props->find("desired"); desired != props->end() && !desired->is_null())
      twin["properties"] = {{"desired", *desired}};
  }
  if (twin.empty()) return std::nullopt;
  return build_twin_write(twin, false);
}

void create_or_update(Hub& hub, const ImportEntry& entry, std::optional<std::string> if_match, bool create_only) {
  const auto update = parse_identity_update(entry.body, entry.key);
  auto existing = hub.get_identity(entry.key);
  if (existing && !create_only) {
    apply_identity_update(*existing, update);
    std::optional<std::string_view> condition;
    if (if_match) condition = *if_match;
    (void)hub.update_identity(std::move(*existing), condition);
  } else {
    IdentityRecord record;
    record.key = entry.key;
    apply_identity_update(record, update);
    (void)hub.create_identity(std::move(record));
  }
  if (const auto twin = twin_write_of(entry.body)) (void)hub.update_twin(entry.key, *twin, std::nullopt);
}

void apply_entry(Hub& hub, const ImportEntry& entry) {
  const auto etag = string_named(entry.body, "eTag");
  const auto twin_etag = string_named(entry.body, "twinETag");
  const auto need = [](const std::optional<std::string>& value, std::string_view what) {
    if (!value) throw HubError(400004, fmt::format("{} is required by this importMode", what));
    return *value;
  };
  switch (entry.mode) {
    case ImportMode::create:
      return create_or_update(hub, entry, std::nullopt, true);
    case ImportMode::update:
      return create_or_update(hub, entry, std::nullopt, false);
    case ImportMode::update_if_match:
      return create_or_update(hub, entry, need(etag, "eTag"), false);
    case ImportMode::remove:
      return hub.delete_identity(entry.key, std::nullopt);
    case ImportMode::remove_if_match: {
      const auto value = need(etag, "eTag");
      return hub.delete_identity(entry.key, std::string_view(value));
    }
    case ImportMode::update_twin:
    case ImportMode::update_twin_if_match: {
      if (!hub.get_identity(entry.key)) throw hub.not_found(entry.key);
      const auto twin = twin_write_of(entry.body);
      if (!twin) throw HubError(400004, "the entry has no tags or properties.desired to write");
      std::optional<std::string> condition;
      if (entry.mode == ImportMode::update_twin_if_match) condition = need(twin_etag, "twinETag");
      std::optional<std::string_view> view;
      if (condition) view = *condition;
      (void)hub.update_twin(entry.key, *twin, view);
      return;
    }
  }
}

std::vector<ImportEntry> parse_import(const json& body) {
  constexpr std::size_t k_max_entries = 100;  // per request (§16)
  if (!body.is_array()) throw HubError(400004, "the body must be a JSON array of devices");
  if (body.empty()) throw HubError(400004, "the body names no devices");
  if (body.size() > k_max_entries)
    throw HubError(413002, fmt::format("{} devices in one request; at most {}", body.size(), k_max_entries));
  std::vector<ImportEntry> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const json& item = body[i];
    if (!item.is_object()) throw HubError(400004, fmt::format("device [{}]: must be a JSON object", i));
    const auto id = string_named(item, "id");
    if (!id) throw HubError(400004, fmt::format("device [{}]: id is missing", i));
    ImportEntry entry;
    entry.key.device_id = *id;
    if (const auto module = string_named(item, "moduleId")) entry.key.module_id = *module;
    const auto mode_text = item.value("importMode", std::string("createOrUpdate"));
    const auto mode = parse_import_mode(mode_text);
    if (!mode)
      throw HubError(400004, fmt::format("device '{}': importMode '{}' is not create, update, updateIfMatchETag, "
                                         "delete, deleteIfMatchETag, updateTwin or updateTwinIfMatchETag",
                                         *id, mode_text));
    entry.mode = *mode;
    if (!seen.emplace(*id, entry.key.module_id.value_or("")).second)
      throw HubError(400011, fmt::format("device '{}' appears more than once", *id));
    entry.body = item;
    entry.body.erase("id");
    entry.body["deviceId"] = *id;
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace

RestReply handle_bulk_registry(Hub& hub, const HttpRequest& request) {
  const auto entries = parse_import(request_json(request));
  BodyJson errors = BodyJson::array();
  for (const auto& entry : entries) {
    // Each device succeeds or fails on its own; a failure is reported, the rest still apply.
    try {
      apply_entry(hub, entry);
    } catch (const HubError& e) {
      BodyJson error = {{"deviceId", entry.key.device_id},
                        {"errorCode", std::string(core::name_of(e.error_code()).empty() ? "ServerError" : core::name_of(e.error_code()))},
                        {"errorStatus", e.what()}};
      if (entry.key.module_id) error["moduleId"] = *entry.key.module_id;
      errors.push_back(std::move(error));
    } catch (const core::Error& e) {
      BodyJson error = {{"deviceId", entry.key.device_id}, {"errorCode", "ArgumentInvalid"}, {"errorStatus", e.what()}};
      if (entry.key.module_id) error["moduleId"] = *entry.key.module_id;
      errors.push_back(std::move(error));
    }
  }
  const bool ok = errors.empty();
  return json_reply({{"isSuccessful", ok}, {"errors", std::move(errors)}, {"warnings", BodyJson::array()}});
}

}  // namespace azhub::emulator
