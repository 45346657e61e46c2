// Fuzzes parse_connection_string: refusals are Error(usage) messages that start
// "connection string: "; whatever parses formats to a string that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/connection_string.hpp"
#include "core/error.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

namespace {
bool same(const ConnectionString& a, const ConnectionString& b) {
  return a.kind == b.kind && a.host_name == b.host_name && a.device_id == b.device_id &&
         a.module_id == b.module_id && a.shared_access_key == b.shared_access_key &&
         a.shared_access_key_name == b.shared_access_key_name &&
         a.shared_access_signature == b.shared_access_signature &&
         a.gateway_host_name == b.gateway_host_name && a.x509 == b.x509;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ConnectionString cs;
  try {
    cs = parse_connection_string(input);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ExitCode::usage);
    FUZZ_CHECK(std::string_view(e.what()).starts_with("connection string: "));
    return 0;
  }
  FUZZ_CHECK(!cs.host_name.empty());
  FUZZ_CHECK((cs.kind == ConnectionString::Kind::service) == cs.shared_access_key_name.has_value());
  const std::string text = format_connection_string(cs);
  FUZZ_CHECK(same(parse_connection_string(text), cs));
  return 0;
}
