#pragma once
// The service-side SAS check of the REST API (docs/protocol.md §3.3, §12.1): a policy token
// (`skn` present) whose `sr` is a segment prefix of the request and whose policy holds the
// permission the operation needs.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/rest_route.hpp"

namespace azhub::emulator {
class Hub;
}

namespace azhub::emulator {

// Shared access policy permissions that the REST API checks (the hub's RegistryRead,
// RegistryWrite and ServiceConnect).
// registry_read_or_service_connect: a twin query, which IoT Hub's permission table grants to
// ServiceConnect ("run queries") and which registry readers use too (§16.2).
enum class ServicePermission { registry_read, registry_write, service_connect, registry_read_or_service_connect };

// What the check needs to know about one shared access policy.
struct ServicePolicyKeys {
  std::string primary_key;    // base64
  std::string secondary_key;  // base64, may be empty
  bool registry_read = false;
  bool registry_write = false;
  bool service_connect = false;
};
// Looks a policy up by name; nullopt when the hub has no such policy.
using ServicePolicyLookup = std::function<std::optional<ServicePolicyKeys>(std::string_view)>;
// The lookup over `hub`'s policies (REST and AMQP use the same one); `hub` must outlive it.
[[nodiscard]] ServicePolicyLookup policy_lookup(const Hub& hub);

// The permission an operation needs: RegistryRead for reading /devices, RegistryWrite for
// changing it, ServiceConnect for twins, methods, the C2D queue and the emulator message paths.
// nullopt for /_emulator/health, which needs no token.
[[nodiscard]] std::optional<ServicePermission> required_permission(RestResource resource,
                                                                   std::string_view method);

// Checks the Authorization header value `authorization` for a request on `path` (the raw
// request path, e.g. "/devices/dev%231") of the hub `host`, at Unix time `now`. Returns nullopt
// when access is granted, else the reason for the refusal (never a key or signature).
[[nodiscard]] std::optional<std::string> check_service_authorization(
    std::string_view authorization, std::string_view host, std::string_view path,
    ServicePermission needed, const ServicePolicyLookup& lookup, std::int64_t now);

// True when the token resource `sr` (as sent, percent-encoded) covers `host` + `path` by path
// segments: "{host}" covers everything, "{host}/devices" covers "/devices/x", not "/devicesx".
// The host compares case-insensitively; an id segment may arrive encoded once or twice.
[[nodiscard]] bool sas_scope_covers(std::string_view sr, std::string_view host,
                                    std::string_view path);

}  // namespace azhub::emulator
