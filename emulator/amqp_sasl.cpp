#include "emulator/amqp_sasl.hpp"

#include <cstring>
#include <string>

#include <proton/sasl.h>
#include <proton/sasl_plugin.h>

namespace azhub::emulator {
namespace {

struct Context {
  SaslCheck check;
  std::string user;  // Proton keeps the pointer given to pnx_sasl_set_succeeded
};

Context* context(pn_transport_t* t) { return static_cast<Context*>(pnx_sasl_get_context(t)); }

void on_free(pn_transport_t* t) { delete context(t); }
const char* list_mechanisms(pn_transport_t*) { return "PLAIN ANONYMOUS"; }
bool init_server(pn_transport_t* t) {
  pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
  return true;
}
bool init_client(pn_transport_t*) { return false; }
void prepare_write(pn_transport_t*) {}

void process_init(pn_transport_t* t, const char* mechanism, const pn_bytes_t* response) {
  if (mechanism == nullptr) mechanism = "";  // a sasl-init without a mechanism (null symbol)
  Context* c = context(t);
  const std::string_view in = response != nullptr && response->start != nullptr
                                  ? std::string_view(response->start, response->size)
                                  : std::string_view();
  bool ok = false;
  try {
    if (std::strcmp(mechanism, "PLAIN") == 0) {
      // [authzid] NUL authcid NUL password
      const auto a = in.find('\0');
      const auto b = a == std::string_view::npos ? a : in.find('\0', a + 1);
      if (b != std::string_view::npos) {
        c->user = std::string(in.substr(a + 1, b - a - 1));
        ok = c->check("PLAIN", c->user, in.substr(b + 1));
      }
    } else if (std::strcmp(mechanism, "ANONYMOUS") == 0) {
      c->user = "anonymous";
      ok = c->check("ANONYMOUS", "", "");
    }
  } catch (...) {
    ok = false;  // never let an exception cross Proton's C frames
  }
  if (ok) {
    pnx_sasl_set_succeeded(t, c->user.c_str(), nullptr);
  } else {
    pnx_sasl_set_failed(t);
  }
  pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

void process_response(pn_transport_t* t, const pn_bytes_t*) {
  // Neither mechanism uses challenges.
  pnx_sasl_set_failed(t);
  pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}
bool process_mechanisms(pn_transport_t*, const char*) { return false; }
void process_challenge(pn_transport_t*, const pn_bytes_t*) {}
void process_outcome(pn_transport_t*, const pn_bytes_t*) {}
bool can_encrypt(pn_transport_t*) { return false; }
ssize_t max_encrypt_size(pn_transport_t*) { return 0; }
ssize_t encode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }
ssize_t decode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }

const pnx_sasl_implementation k_implementation = {
    on_free,          list_mechanisms,   init_server,       init_client,   prepare_write,
    process_init,     process_response,  process_mechanisms, process_challenge, process_outcome,
    can_encrypt,      max_encrypt_size,  encode,            decode};

}  // namespace

void install_server_sasl(pn_transport_t* transport, SaslCheck check) {
  pn_sasl_t* sasl = pn_sasl(transport);  // creates the SASL layer the plugin hangs off
  // TLS is done outside Proton, so Proton counts the link as unencrypted; PLAIN must be allowed.
  pn_sasl_set_allow_insecure_mechs(sasl, true);
  // The context must not be null, or Proton never calls on_free.
  pnx_sasl_set_implementation(transport, &k_implementation, new Context{std::move(check), {}});
}

}  // namespace azhub::emulator
