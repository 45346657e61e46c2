#pragma once
// Where the CONNECT password comes from at every (re)connect: a SAS token made from a key, a
// fixed token, the output of --token-command, or nothing (X.509). (docs/protocol.md §2.2, §3)
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/identity.hpp"

namespace azhub::device {

struct Credential {
  std::optional<std::string> password;  // SAS token; nullopt for X.509
  std::optional<std::int64_t> expiry;   // Unix seconds (`se`); nullopt when unknown or none
  bool renewable = true;                // false: asking again gives the same token
};

// Called before every connect with the wall clock in Unix milliseconds. Throws Error(connect)
// when no credential can be produced (e.g. the token command failed).
using CredentialSource = std::function<Credential(std::int64_t now_unix_ms)>;

// Tokens for `identity` signed with `key_b64`, valid for `ttl_seconds` from each connect.
[[nodiscard]] CredentialSource make_key_credentials(core::Identity identity, std::string key_b64,
                                                    std::int64_t ttl_seconds);

// Always the same `token`; its `se` is read so that expiry can be reported.
[[nodiscard]] CredentialSource make_fixed_credentials(std::string token);

// How long --token-command may run before it is stopped (azhub-send(1) and the other device
// commands' pages say so).
inline constexpr std::chrono::seconds k_token_command_timeout{30};

// Runs `command` through /bin/sh (device/subprocess.hpp) at every connect; its trimmed stdout is
// the token. Its stdin is empty, its stderr is azhub's. Throws Error(connect) with one line that
// never holds its output when it fails, prints nothing or runs longer than `timeout` (its process
// group is then stopped), and Error(interrupted) when `interrupted` is set while it runs.
[[nodiscard]] CredentialSource make_command_credentials(
    std::string command, const std::atomic<bool>* interrupted = nullptr,
    std::chrono::milliseconds timeout = k_token_command_timeout);

// No password: the TLS client certificate authenticates.
[[nodiscard]] CredentialSource make_x509_credentials();

// The `se` of `token`, or nullopt when it is not a parsable SAS token.
[[nodiscard]] std::optional<std::int64_t> token_expiry(std::string_view token);

// When to reconnect with a fresh token: 80 % of the way from `issued_ms` to `expiry_s` (the
// old C SDK's SAS_REFRESH_MULTIPLIER, docs/protocol.md §2.2), in Unix milliseconds.
[[nodiscard]] std::int64_t renewal_time_ms(std::int64_t issued_ms, std::int64_t expiry_s);

}  // namespace azhub::device
