#pragma once
// Twin documents: JSON merge-patch and the hub's key, depth and size rules (docs/protocol.md
// §7-8).
#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace azhub::core {

// RFC 7386 merge patch of `patch` into `target` (null deletes, objects merge, arrays replace).
void apply_merge_patch(nlohmann::json& target, const nlohmann::json& patch);

// Validates a reported or desired patch / section the way the hub does: keys (no '$' start
// except $version/$metadata where allowed, no '.', space or control chars, ≤1 KB), value types,
// integer range, string ≤4 KB, depth ≤10, and `max_bytes` of §8.3's size formula. Throws
// Error(usage) naming the offending key path. `what` prefixes messages ("reported patch").
void validate_twin_patch(const nlohmann::json& patch, std::string_view what,
                         std::size_t max_bytes = 32 * 1024);

// §8.3's size formula for a section (excluding $version and $metadata).
[[nodiscard]] std::size_t twin_section_size(const nlohmann::json& section);

// A twin section, desired notification or GET response in the member order the hub writes
// (docs/protocol.md §8): in every object "$lastUpdated" and "$lastUpdatedVersion" first, the
// properties next (in name order), "$metadata" and "$version" last — so `{"a":1,"$version":4}`,
// as device SDKs that stop parsing at "$version" expect.
[[nodiscard]] nlohmann::ordered_json in_twin_order(const nlohmann::json& doc);

// Parses `text` as a JSON object; throws Error(usage) "<what>: invalid JSON: ..." otherwise.
[[nodiscard]] nlohmann::json parse_json_object(std::string_view text, std::string_view what);

}  // namespace azhub::core
