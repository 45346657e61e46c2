#pragma once
// The registry's query, statistics and bulk endpoints of the REST API (docs/protocol.md §16):
// POST /devices/query (the twin query language of core/twin_query.hpp, paged with
// x-ms-max-item-count / x-ms-continuation), GET /statistics/devices, GET /statistics/service,
// and the bulk import POST /devices. Called by RestApi on the io_context thread.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/http_router.hpp"
#include "emulator/rest_api.hpp"

namespace azhub::emulator {

class Hub;

// Twins evaluated by one query request at most. A page that reaches it before it is full ends
// early with a continuation token, so one request never walks more than this many twins
// (aggregates excepted: they see every twin of the collection in one request).
inline constexpr std::size_t k_query_scan_budget = 2000;

// The page size a query request asks for (x-ms-max-item-count): core::k_query_default_page_size
// without one, at most core::k_query_max_page_size. Throws HubError 400004 for a bad value.
[[nodiscard]] int query_page_size(const HttpRequest& request);

// x-ms-continuation tokens of the paged answers (queries, the jobs query): opaque to clients,
// base64 of a JSON object the hub reads back. decode throws HubError 400004 for a token this
// hub did not issue (not base64 of a JSON object).
[[nodiscard]] std::string encode_continuation(const nlohmann::json& position);
[[nodiscard]] nlohmann::json decode_continuation(std::string_view token);

// POST /devices/query: {"query":"..."} → a JSON array of rows, x-ms-item-type, and
// x-ms-continuation while more rows follow. Throws HubError 400004 for a bad body, query,
// page size or continuation token.
[[nodiscard]] RestReply handle_twin_query(Hub& hub, const HttpRequest& request);

// GET /statistics/devices: {"totalDeviceCount","enabledDeviceCount","disabledDeviceCount"}.
[[nodiscard]] RestReply handle_registry_statistics(const Hub& hub);

// GET /statistics/service: {"connectedDeviceCount"}.
[[nodiscard]] RestReply handle_service_statistics(const Hub& hub);

// POST /devices: up to 100 ExportImportDevice entries, each applied by its importMode;
// answers {"isSuccessful","errors":[{deviceId,errorCode,errorStatus}],"warnings":[]}. Throws
// HubError 400004 (not an array, empty, an entry without id or with an unknown importMode),
// 400011 (an id twice), 413002 (more than 100 entries).
[[nodiscard]] RestReply handle_bulk_registry(Hub& hub, const HttpRequest& request);

}  // namespace azhub::emulator
