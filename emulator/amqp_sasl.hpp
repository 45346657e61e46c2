#pragma once
// Server-side SASL for the emulator's AMQP listener (docs/protocol.md §15.1). Proton built without
// Cyrus SASL offers only ANONYMOUS and EXTERNAL to clients; this installs Proton's plugin
// interface (proton/sasl_plugin.h) with PLAIN (RFC 4616) and ANONYMOUS. A client may also skip
// SASL and send the AMQP header directly, as Microsoft's service SDKs do (they authenticate
// through CBS instead).
#include <functional>
#include <string_view>

#include <proton/transport.h>

namespace azhub::emulator {

// Decides a SASL login: mechanism "PLAIN" (user and password as sent) or "ANONYMOUS" (both
// empty). Returns true to let the client in.
using SaslCheck = std::function<bool(std::string_view mechanism, std::string_view user, std::string_view password)>;

// Installs PLAIN and ANONYMOUS on the server transport `transport` before any bytes flow.
void install_server_sasl(pn_transport_t* transport, SaslCheck check);

}  // namespace azhub::emulator
