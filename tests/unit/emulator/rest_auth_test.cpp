#include "emulator/rest_auth.hpp"

#include <doctest/doctest.h>

#include "core/encoding.hpp"
#include "core/sas.hpp"

using namespace azhub::emulator;

namespace {

constexpr std::int64_t k_now = 1'700'000'000;
const std::string k_owner_key = azhub::core::base64_encode(std::string(32, '\x01'));
const std::string k_owner_key2 = azhub::core::base64_encode(std::string(32, '\x02'));
const std::string k_read_key = azhub::core::base64_encode(std::string(32, '\x03'));

std::optional<ServicePolicyKeys> lookup(std::string_view name) {
  if (name == "iothubowner") return ServicePolicyKeys{k_owner_key, k_owner_key2, true, true, true};
  if (name == "registryRead") return ServicePolicyKeys{k_read_key, "", true, false, false};
  if (name == "service") return ServicePolicyKeys{k_read_key, "", false, false, true};
  return std::nullopt;
}

std::optional<std::string> check(const std::string& token, std::string_view path,
                                 ServicePermission needed) {
  return check_service_authorization(token, "localhost", path, needed, lookup, k_now);
}

std::string token(std::string_view resource, const std::string& key, std::string_view policy,
                  std::int64_t expiry = k_now + 60) {
  return azhub::core::build_sas_token(resource, key, expiry, policy);
}

}  // namespace

TEST_CASE("emulator::sas_scope_covers") {
  CHECK(sas_scope_covers("localhost", "localhost", "/devices/d1"));
  CHECK(sas_scope_covers("LocalHost%2F", "localhost", "/devices/d1"));
  CHECK(sas_scope_covers("localhost%2Fdevices", "localhost", "/devices/d1"));
  CHECK(sas_scope_covers("localhost%2Fdevices%2Fd1", "localhost", "/devices/d1/modules/m"));
  CHECK(sas_scope_covers("localhost%2Fdevices%2Fd1", "localhost", "/devices/d1"));
  CHECK_FALSE(sas_scope_covers("localhost%2Fdevices%2Fd", "localhost", "/devices/d1"));
  CHECK_FALSE(sas_scope_covers("localhost%2Fdevices%2Fd1%2Fmodules", "localhost", "/devices/d1"));
  CHECK_FALSE(sas_scope_covers("localhost%2Fdevices", "localhost", "/twins/d1"));
  CHECK_FALSE(sas_scope_covers("otherhost", "localhost", "/devices"));
  CHECK_FALSE(sas_scope_covers("localhostx", "localhost", "/devices"));
  CHECK_FALSE(sas_scope_covers("", "localhost", "/devices"));
  SUBCASE("ids encoded in the path, once or twice in the token") {
    CHECK(sas_scope_covers("localhost%2Fdevices%2Fa%23b", "localhost", "/devices/a%23b"));
    CHECK(sas_scope_covers("localhost%2Fdevices%2Fa%2523b", "localhost", "/devices/a%23b"));
  }
}

TEST_CASE("emulator::required_permission") {
  CHECK_FALSE(required_permission(RestResource::health, "GET").has_value());
  CHECK(required_permission(RestResource::device, "GET") == ServicePermission::registry_read);
  CHECK(required_permission(RestResource::devices, "GET") == ServicePermission::registry_read);
  CHECK(required_permission(RestResource::module, "PUT") == ServicePermission::registry_write);
  CHECK(required_permission(RestResource::device, "DELETE") == ServicePermission::registry_write);
  CHECK(required_permission(RestResource::twin, "GET") == ServicePermission::service_connect);
  CHECK(required_permission(RestResource::methods, "POST") == ServicePermission::service_connect);
  CHECK(required_permission(RestResource::device_commands, "DELETE") ==
        ServicePermission::service_connect);
  CHECK(required_permission(RestResource::c2d_send, "POST") == ServicePermission::service_connect);
  CHECK(required_permission(RestResource::events_stream, "GET") ==
        ServicePermission::service_connect);
  CHECK(required_permission(RestResource::devices, "POST") == ServicePermission::registry_write);
  CHECK(required_permission(RestResource::devices_query, "POST") == ServicePermission::registry_read_or_service_connect);
  CHECK(required_permission(RestResource::statistics_devices, "GET") == ServicePermission::registry_read);
  CHECK(required_permission(RestResource::statistics_service, "GET") == ServicePermission::service_connect);
}

TEST_CASE("emulator::check_service_authorization") {
  const auto owner = token("localhost", k_owner_key, "iothubowner");
  SUBCASE("granted") {
    CHECK_FALSE(check(owner, "/devices/d1", ServicePermission::registry_write).has_value());
    CHECK_FALSE(check(owner, "/twins/d1", ServicePermission::service_connect).has_value());
    CHECK_FALSE(check(token("localhost", k_owner_key2, "iothubowner"), "/devices",
                      ServicePermission::registry_read)
                    .has_value());
    CHECK_FALSE(check(token("localhost/devices", k_read_key, "registryRead"), "/devices/x",
                      ServicePermission::registry_read)
                    .has_value());
  }
  SUBCASE("refused, with the reason") {
    const struct {
      std::string token;
      const char* path;
      ServicePermission needed;
      const char* reason;
    } rows[] = {
        {"", "/devices", ServicePermission::registry_read, "no Authorization header"},
        {azhub::core::build_sas_token("localhost/devices/d1", k_owner_key, k_now + 60), "/devices/d1",
         ServicePermission::registry_read, "the token names no shared access policy (skn)"},
        {token("localhost", k_owner_key, "nobody"), "/devices", ServicePermission::registry_read,
         "no shared access policy named 'nobody'"},
        {token("localhost", k_read_key, "iothubowner"), "/devices", ServicePermission::registry_read,
         "the token signature does not match the policy's keys"},
        {token("localhost", k_owner_key, "iothubowner", k_now), "/devices",
         ServicePermission::registry_read, "the token has expired"},
        {token("localhost/devices", k_owner_key, "iothubowner"), "/twins/d1",
         ServicePermission::service_connect, "the token resource does not cover /twins/d1"},
        {token("localhost", k_read_key, "registryRead"), "/devices/d1",
         ServicePermission::registry_write, "policy 'registryRead' lacks the RegistryWrite permission"},
        {token("localhost", k_read_key, "registryRead"), "/twins/d1",
         ServicePermission::service_connect, "policy 'registryRead' lacks the ServiceConnect permission"},
        {token("localhost", k_read_key, "service"), "/devices", ServicePermission::registry_read,
         "policy 'service' lacks the RegistryRead permission"},
    };
    for (const auto& row : rows) {
      CAPTURE(row.reason);
      const auto refusal = check(row.token, row.path, row.needed);
      REQUIRE(refusal.has_value());
      CHECK(*refusal == row.reason);
      CHECK(refusal->find(k_owner_key) == std::string::npos);
    }
  }
  SUBCASE("malformed token") {
    const auto refusal = check("Bearer abc", "/devices", ServicePermission::registry_read);
    REQUIRE(refusal.has_value());
    CHECK(refusal->find("SAS token") != std::string::npos);
  }
}
