#include "emulator/rest_auth.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/sas.hpp"
#include "core/text.hpp"
#include "emulator/hub.hpp"

namespace azhub::emulator {
namespace {

std::vector<std::string> split_segments(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto slash = text.find('/', start);
    const auto end = slash == std::string_view::npos ? text.size() : slash;
    out.emplace_back(text.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  // "host/" and "host/devices/" name the same scope as without the slash.
  while (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

bool has_permission(const ServicePolicyKeys& policy, ServicePermission needed) {
  switch (needed) {
    case ServicePermission::registry_read:
      // RegistryWrite implies RegistryRead (the registryReadWrite policy holds both anyway).
      return policy.registry_read || policy.registry_write;
    case ServicePermission::registry_write:
      return policy.registry_write;
    case ServicePermission::service_connect:
      return policy.service_connect;
    case ServicePermission::registry_read_or_service_connect:
      return policy.registry_read || policy.registry_write || policy.service_connect;
  }
  return false;
}

std::string_view permission_name(ServicePermission p) {
  switch (p) {
    case ServicePermission::registry_read:
      return "RegistryRead";
    case ServicePermission::registry_write:
      return "RegistryWrite";
    case ServicePermission::service_connect:
      return "ServiceConnect";
    case ServicePermission::registry_read_or_service_connect:
      return "RegistryRead or ServiceConnect";
  }
  return "";
}

}  // namespace

std::optional<ServicePermission> required_permission(RestResource resource,
                                                     std::string_view method) {
  switch (resource) {
    case RestResource::health:
      return std::nullopt;
    case RestResource::devices:
    case RestResource::device:
    case RestResource::modules:
    case RestResource::module:
      return method == "GET" || method == "HEAD" ? ServicePermission::registry_read
                                                 : ServicePermission::registry_write;
    case RestResource::devices_query:  // §16.2
      return ServicePermission::registry_read_or_service_connect;
    case RestResource::statistics_devices:
      return ServicePermission::registry_read;
    default:
      return ServicePermission::service_connect;
  }
}

ServicePolicyLookup policy_lookup(const Hub& hub) {
  return [&hub](std::string_view name) -> std::optional<ServicePolicyKeys> {
    const auto* policy = hub.find_policy(name);
    if (policy == nullptr) return std::nullopt;
    return ServicePolicyKeys{policy->primary_key, policy->secondary_key, (policy->rights & right_registry_read) != 0,
                             (policy->rights & right_registry_write) != 0,
                             (policy->rights & right_service_connect) != 0};
  };
}

bool sas_scope_covers(std::string_view sr, std::string_view host, std::string_view path) {
  std::string decoded;
  try {
    decoded = core::url_decode(sr, "sr");
  } catch (const core::Error&) {
    return false;
  }
  const auto scope = split_segments(decoded);
  if (scope.empty() || !core::iequals(scope.front(), host)) return false;

  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  const auto target = split_segments(path);
  if (scope.size() - 1 > target.size()) return false;
  for (std::size_t i = 1; i < scope.size(); ++i) {
    std::string segment;
    try {
      segment = core::url_decode(target[i - 1], "path");
    } catch (const core::Error&) {
      return false;
    }
    if (scope[i] != segment && !core::sas_id_matches(scope[i], segment)) return false;
  }
  return true;
}

std::optional<std::string> check_service_authorization(std::string_view authorization,
                                                       std::string_view host,
                                                       std::string_view path,
                                                       ServicePermission needed,
                                                       const ServicePolicyLookup& lookup,
                                                       std::int64_t now) {
  if (authorization.empty()) return "no Authorization header";
  core::SasToken token;
  try {
    token = core::parse_sas_token(authorization);
  } catch (const core::Error& e) {
    return std::string(e.what());
  }
  if (!token.key_name || token.key_name->empty())
    return "the token names no shared access policy (skn)";
  const auto policy = lookup(*token.key_name);
  if (!policy) return fmt::format("no shared access policy named '{}'", *token.key_name);
  const bool signed_ok = core::verify_sas_signature(token, policy->primary_key) ||
                         (!policy->secondary_key.empty() &&
                          core::verify_sas_signature(token, policy->secondary_key));
  if (!signed_ok) return "the token signature does not match the policy's keys";
  if (token.expiry <= now) return "the token has expired";
  if (!sas_scope_covers(token.sr, host, path))
    return fmt::format("the token resource does not cover {}", path);
  if (!has_permission(*policy, needed))
    return fmt::format("policy '{}' lacks the {} permission", *token.key_name,
                       permission_name(needed));
  return std::nullopt;
}

}  // namespace azhub::emulator
