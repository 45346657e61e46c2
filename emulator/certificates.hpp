#pragma once
// The emulator's TLS material: a CA created once per state directory and a server certificate
// for localhost / 127.0.0.1 / ::1 (plus the configured host name) signed by it; the server TLS
// context (TLS 1.2+, client certificate requested but not required); and what a client
// certificate says (thumbprints, subject CN, whether it chains to a trusted CA).
#include <filesystem>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "emulator/hub.hpp"

using SSL = struct ssl_st;

namespace azhub::emulator {

struct CertificateFiles {
  std::filesystem::path ca_cert;      // ca.pem: give this to clients (--ca-file)
  std::filesystem::path ca_key;       // ca-key.pem (0600)
  std::filesystem::path server_cert;  // server.pem
  std::filesystem::path server_key;   // server-key.pem (0600)
};

// Reuses ca.pem/ca-key.pem in `dir` or creates them (RSA 2048, 10 years), then writes a fresh
// server certificate whose SANs are localhost, 127.0.0.1, ::1 and `host_name`. Uses the
// OpenSSL API only. Throws Error(failure) naming the file on any I/O or OpenSSL failure.
[[nodiscard]] CertificateFiles ensure_certificates(const std::filesystem::path& dir,
                                                   const std::string& host_name);

// A server context: TLS 1.2 minimum, the server certificate, and a client-certificate request
// whose verification never fails the handshake (the hub decides per identity). Client chains
// are verified against the emulator CA and each file in `extra_client_cas`.
void configure_server_tls(boost::asio::ssl::context& ctx, const CertificateFiles& files,
                          const std::vector<std::filesystem::path>& extra_client_cas);

// The client certificate of a completed handshake, if the client sent one.
[[nodiscard]] std::optional<PeerCertificate> describe_peer_certificate(SSL* ssl);

}  // namespace azhub::emulator
