#pragma once
// Asks an HTTP proxy for a CONNECT tunnel and closes it again, to say why a connection through
// the proxy failed. Paho opens the real tunnel (Proxy_connect in Paho's src/Proxy.c) but turns
// every answer other than 200 into a bare "Failure", so when a connect through a proxy fails,
// azhub asks the proxy itself and reports its answer (407, 403, refused, unreachable).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/proxy.hpp"

namespace azhub::device {

// nullopt when `proxy` opened a tunnel to `host`:`port`; otherwise one line naming the proxy
// (never its credentials) and what went wrong. Blocks for at most `timeout`.
[[nodiscard]] std::optional<std::string> probe_proxy_tunnel(const core::ProxyUrl& proxy,
                                                            std::string_view host, int port,
                                                            std::chrono::milliseconds timeout);

}  // namespace azhub::device
