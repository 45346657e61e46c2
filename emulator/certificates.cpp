#include "emulator/certificates.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "core/error.hpp"

namespace azhub::emulator {

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

[[noreturn]] void fail(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = {};
  if (code != 0) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  throw core::Error(core::ExitCode::failure,
                    code != 0 ? fmt::format("{}: {}", what, buf) : what);
}

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

std::unique_ptr<FILE, FileCloser> open_file(const std::filesystem::path& path, const char* mode,
                                            bool secret) {
  // Keys are created 0600 from the start rather than chmod'ed after the write.
  mode_t old = 0;
  if (secret) old = umask(077);
  FILE* f = std::fopen(path.c_str(), mode);
  if (secret) umask(old);
  if (f == nullptr) throw core::Error(core::ExitCode::failure, fmt::format("cannot open {}", path.string()));
  return std::unique_ptr<FILE, FileCloser>(f);
}

// ECDSA P-256: generated in well under a millisecond where RSA 2048 takes 50-500 ms (most of
// the emulator's start-up), accepted by every TLS stack the SDKs use (OpenSSL, Node, .NET,
// Java, mbedTLS), and cheaper per handshake. A CA made by an older emulator (RSA) is read and
// used as it is.
PkeyPtr generate_key() {
  PkeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) fail("generating an EC P-256 key");
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) fail(fmt::format("certificate extension {}", value));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr make_certificate(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                         long days, bool is_ca, const std::string& san) {
  X509Ptr cert(X509_new(), X509_free);
  if (!cert) fail("allocating a certificate");
  X509_set_version(cert.get(), 2);
  // A random 64-bit serial, so that a regenerated server certificate never repeats one.
  unsigned char serial[8];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7F;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("azhub emulator"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  if (is_ca) {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:1");
    add_extension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
  } else {
    add_extension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), signer, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), signer, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0)
    fail("signing a certificate");
  return cert;
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
  auto f = open_file(path, "w", true);
  if (PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail(fmt::format("writing {}", path.string()));
}

void write_cert(const std::filesystem::path& path, X509* cert) {
  auto f = open_file(path, "w", false);
  if (PEM_write_X509(f.get(), cert) != 1) fail(fmt::format("writing {}", path.string()));
}

PkeyPtr read_key(const std::filesystem::path& path) {
  auto f = open_file(path, "r", false);
  PkeyPtr key(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) fail(fmt::format("reading {}", path.string()));
  return key;
}

X509Ptr read_cert(const std::filesystem::path& path) {
  auto f = open_file(path, "r", false);
  X509Ptr cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) fail(fmt::format("reading {}", path.string()));
  return cert;
}

bool is_ip_address(const std::string& s) {
  return s.find_first_not_of("0123456789.") == std::string::npos || s.find(':') != std::string::npos;
}

std::string digest_hex(X509* cert, const EVP_MD* md) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, md, buf, &n) != 1) return {};
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += fmt::format("{:02x}", buf[i]);
  return out;
}

}  // namespace

CertificateFiles ensure_certificates(const std::filesystem::path& dir, const std::string& host_name) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw core::Error(core::ExitCode::failure, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  CertificateFiles files{dir / "ca.pem", dir / "ca-key.pem", dir / "server.pem", dir / "server-key.pem"};
  PkeyPtr ca_key(nullptr, EVP_PKEY_free);
  X509Ptr ca_cert(nullptr, X509_free);
  if (std::filesystem::exists(files.ca_cert) && std::filesystem::exists(files.ca_key)) {
    ca_key = read_key(files.ca_key);
    ca_cert = read_cert(files.ca_cert);
  } else {
    ca_key = generate_key();
    ca_cert = make_certificate(ca_key.get(), "azhub emulator CA", nullptr, nullptr, 3650, true, "");
    write_key(files.ca_key, ca_key.get());
    write_cert(files.ca_cert, ca_cert.get());
  }
  // The server certificate is cheap and names the current host name, so it is made afresh on
  // every start; clients trust the CA, which stays.
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (!host_name.empty() && host_name != "localhost")
    san += (is_ip_address(host_name) ? ",IP:" : ",DNS:") + host_name;
  PkeyPtr server_key = generate_key();
  X509Ptr server_cert = make_certificate(server_key.get(), host_name.empty() ? "localhost" : host_name,
                                         ca_cert.get(), ca_key.get(), 825, false, san);
  write_key(files.server_key, server_key.get());
  // The chain file holds the server certificate followed by the CA.
  {
    auto f = open_file(files.server_cert, "w", false);
    if (PEM_write_X509(f.get(), server_cert.get()) != 1 || PEM_write_X509(f.get(), ca_cert.get()) != 1)
      fail(fmt::format("writing {}", files.server_cert.string()));
  }
  return files;
}

void configure_server_tls(boost::asio::ssl::context& ctx, const CertificateFiles& files,
                          const std::vector<std::filesystem::path>& extra_client_cas) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Idle connections give their record buffers back (most emulator connections are idle).
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  ctx.set_options(boost::asio::ssl::context::default_workarounds |
                  boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                  boost::asio::ssl::context::single_dh_use);
  ctx.use_certificate_chain_file(files.server_cert.string());
  ctx.use_private_key_file(files.server_key.string(), boost::asio::ssl::context::pem);
  ctx.load_verify_file(files.ca_cert.string());
  for (const auto& ca : extra_client_cas) ctx.load_verify_file(ca.string());
  // Ask for a client certificate but let every handshake through: SAS clients send none, and
  // for X.509 identities the hub compares thumbprints or checks the recorded verify result.
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
  // Session id context is required once client certificates are requested and sessions resume.
  static const unsigned char k_sid[] = "azhub-emulator";
  SSL_CTX_set_session_id_context(native, k_sid, sizeof k_sid - 1);
}

std::optional<PeerCertificate> describe_peer_certificate(SSL* ssl) {
  X509Ptr cert(SSL_get1_peer_certificate(ssl), X509_free);
  if (!cert) return std::nullopt;
  PeerCertificate out;
  out.sha1_hex = digest_hex(cert.get(), EVP_sha1());
  out.sha256_hex = digest_hex(cert.get(), EVP_sha256());
  char cn[256] = {};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn);
  if (n > 0) out.subject_cn.assign(cn, static_cast<std::size_t>(n));
  // A self-signed leaf fails verification (it is its own untrusted issuer), which is fine:
  // self-signed identities are matched by thumbprint, not by chain.
  out.chain_verified = SSL_get_verify_result(ssl) == X509_V_OK;
  return out;
}

}  // namespace azhub::emulator
