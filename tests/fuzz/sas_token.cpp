// Fuzzes what the emulator does with a CONNECT password or an Authorization header
// (docs/protocol.md §3.3): parse_sas_token, verify_sas_signature, parse_sas_resource and
// sas_id_matches. Refusals are Errors; nothing may crash; a resource that names a device must
// match its own id.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/encoding.hpp"
#include "core/error.hpp"
#include "core/sas.hpp"
#include "fuzz_check.hpp"

using namespace azhub::core;

namespace {
const std::string k_key = "9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA=";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Base64 as keys arrive in connection strings and device bodies.
  if (auto bytes = base64_decode(input)) {
    FUZZ_CHECK(base64_decode(base64_encode(*bytes)) == bytes);
  }

  SasToken token;
  try {
    token = parse_sas_token(input);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ExitCode::usage);
    return 0;
  }
  FUZZ_CHECK(!token.sr.empty() && token.expiry >= 0);
  const bool verified = verify_sas_signature(token, k_key);
  // A token we sign ourselves over the same sr and se must verify.
  SasToken ours = token;
  ours.signature = sas_signature(k_key, sas_string_to_sign(token.sr, token.expiry));
  FUZZ_CHECK(verify_sas_signature(ours, k_key));
  FUZZ_CHECK(verified == (ours.signature == token.signature));
  FUZZ_CHECK(!verify_sas_signature(ours, "not base64"));

  if (auto resource = parse_sas_resource(token.sr)) {
    FUZZ_CHECK(!resource->host.empty());
    FUZZ_CHECK(!(resource->all_devices && resource->device_id));
    FUZZ_CHECK(!resource->module_id || resource->device_id);
    if (resource->device_id) {
      FUZZ_CHECK(sas_id_matches(*resource->device_id, *resource->device_id));
      (void)sas_id_matches(*resource->device_id, "dev1");
    }
  }
  return 0;
}
