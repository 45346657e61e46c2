#include "device/credentials.hpp"

#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/sas.hpp"
#include "device/subprocess.hpp"

namespace azhub::device {

using core::Error;
using core::ExitCode;

CredentialSource make_key_credentials(core::Identity identity, std::string key_b64,
                                      std::int64_t ttl_seconds) {
  return [identity = std::move(identity), key = std::move(key_b64),
          ttl_seconds](std::int64_t now_ms) {
    // Round up, so that a token lives at least `ttl_seconds` (a short --token-ttl of 2 s would
    // otherwise leave as little as 1 s).
    const std::int64_t expiry = core::sas_expiry((now_ms + 999) / 1000, ttl_seconds);
    const std::string uri = core::device_resource_uri(
        identity.host, identity.device_id,
        identity.module_id ? std::optional<std::string_view>(*identity.module_id) : std::nullopt);
    return Credential{core::build_sas_token(uri, key, expiry), expiry, true};
  };
}

CredentialSource make_fixed_credentials(std::string token) {
  return [token = std::move(token)](std::int64_t) { return Credential{token, token_expiry(token), false}; };
}

CredentialSource make_command_credentials(std::string command, const std::atomic<bool>* interrupted,
                                          std::chrono::milliseconds timeout) {
  return [command = std::move(command), interrupted, timeout](std::int64_t) {
    ShellRequest request;
    request.timeout = timeout;
    request.interrupted = interrupted;
    request.capture_err = false;  // its diagnostics are the user's to see
    ProcessResult result;
    try {
      result = run_shell(command, request);
    } catch (const Error& e) {
      throw Error(ExitCode::connect, fmt::format("--token-command: {}", e.what()));
    }
    if (result.interrupted) throw Error(ExitCode::interrupted, "--token-command: interrupted");
    if (result.timed_out)
      throw Error(ExitCode::connect,
                  timeout.count() % 1000 == 0
                      ? fmt::format("--token-command timed out after {} s (stopped)", timeout.count() / 1000)
                      : fmt::format("--token-command timed out after {} ms (stopped)", timeout.count()));
    if (result.signal != 0)
      throw Error(ExitCode::connect, fmt::format("--token-command failed (killed by signal {})", result.signal));
    if (result.exit_code != 0)
      throw Error(ExitCode::connect, fmt::format("--token-command failed (exit status {})", result.exit_code));
    std::string& out = result.out;
    const auto first = out.find_first_not_of(" \t\r\n");
    const auto last = out.find_last_not_of(" \t\r\n");
    if (first == std::string::npos)
      throw Error(ExitCode::connect, "--token-command printed no token");
    out = out.substr(first, last - first + 1);
    return Credential{out, token_expiry(out), true};
  };
}

CredentialSource make_x509_credentials() {
  return [](std::int64_t) { return Credential{std::nullopt, std::nullopt, false}; };
}

std::optional<std::int64_t> token_expiry(std::string_view token) {
  try {
    return core::parse_sas_token(token).expiry;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::int64_t renewal_time_ms(std::int64_t issued_ms, std::int64_t expiry_s) {
  const std::int64_t expiry_ms = expiry_s * 1000;
  if (expiry_ms <= issued_ms) return issued_ms;
  return issued_ms + (expiry_ms - issued_ms) * 4 / 5;
}

}  // namespace azhub::device
