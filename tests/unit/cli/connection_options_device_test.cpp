// resolve_device_settings: the device-transport half of cli/connection_options.cpp.
#include "cli/connection_options.hpp"

#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "core/error.hpp"

using namespace azhub;

namespace {
const std::string k_key = "9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA=";

struct Fixture {
  std::ostringstream out, err;
  std::istringstream in;
  std::map<std::string, std::string> env_vars;
  cli::Io io{out, err, in, [this](std::string_view name) -> std::optional<std::string> {
               auto it = env_vars.find(std::string(name));
               if (it == env_vars.end()) return std::nullopt;
               return it->second;
             }};
  Fixture() { io.now_unix_ms = [] { return std::int64_t{1'700'000'000'000}; }; }
};

cli::DeviceConnectionOptions with_cs(const std::string& cs) {
  cli::DeviceConnectionOptions opt;
  opt.identity.connection_string = cs;
  return opt;
}

std::string usage_message(const cli::DeviceConnectionOptions& opt, Fixture& f) {
  try {
    (void)cli::resolve_device_settings(opt, f.io);
  } catch (const core::Error& e) {
    CHECK(e.code() == core::ExitCode::usage);
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("cli::resolve_device_settings") {
  Fixture f;
  SUBCASE("defaults: TLS on 8883, key credentials renewed, connect to HostName") {
    auto s = cli::resolve_device_settings(with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key), f.io);
    CHECK(s.connect_host == "h.example");
    CHECK(s.port == 8883);
    CHECK(s.tls);
    CHECK(device::server_uri(s) == "ssl://h.example:8883");
    CHECK(s.product.starts_with("azhub/"));
    const auto cred = s.credentials(1'700'000'000'000);
    CHECK(cred.expiry == 1'700'003'600);
    CHECK(cred.renewable);
  }
  SUBCASE("GatewayHostName: TCP goes to the gateway, the identity keeps HostName") {
    auto s = cli::resolve_device_settings(
        with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key + ";GatewayHostName=gw.local"), f.io);
    CHECK(s.connect_host == "gw.local");
    CHECK(s.identity.host == "h.example");
  }
  SUBCASE("WebSockets default to 443 and take HTTPS_PROXY") {
    auto opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.transport = "ws";
    f.env_vars["HTTPS_PROXY"] = "proxy.local:3128";
    auto s = cli::resolve_device_settings(opt, f.io);
    CHECK(device::server_uri(s) == "wss://h.example:443/$iothub/websocket");
    CHECK(s.proxy == core::ProxyUrl{"proxy.local", 3128, std::nullopt, std::nullopt});
    f.env_vars["NO_PROXY"] = "localhost,.example";
    CHECK_FALSE(cli::resolve_device_settings(opt, f.io).proxy);
  }
  SUBCASE("a loopback hub is proxied unless NO_PROXY lists it; --proxy too, as curl") {
    auto opt = with_cs("HostName=localhost;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.transport = "ws";
    f.env_vars["https_proxy"] = "http://u:secret@127.0.0.1:8888";
    CHECK(cli::resolve_device_settings(opt, f.io).proxy ==
          core::ProxyUrl{"127.0.0.1", 8888, std::string("u"), std::string("secret")});
    opt.proxy = "http://127.0.0.1:9999";
    CHECK(cli::resolve_device_settings(opt, f.io).proxy->port == 9999);
    f.env_vars["no_proxy"] = "localhost";
    CHECK_FALSE(cli::resolve_device_settings(opt, f.io).proxy);
  }
  SUBCASE("a malformed proxy URL is a usage error naming its source") {
    auto opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.transport = "ws";
    f.env_vars["ALL_PROXY"] = "socks5://s:1";
    CHECK(usage_message(opt, f) ==
          "env ALL_PROXY: socks5:// proxies are not supported (only http:// proxies, which tunnel "
          "with CONNECT)");
  }
  SUBCASE("--token-ttl") {
    auto opt = with_cs("HostName=h;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.token_ttl = "5s";
    CHECK(cli::resolve_device_settings(opt, f.io).credentials(1'700'000'000'000).expiry == 1'700'000'005);
  }
  SUBCASE("a fixed token is not renewed") {
    auto opt = with_cs("HostName=h;DeviceId=d1;SharedAccessSignature=SharedAccessSignature sr=h%2Fdevices%2Fd1&sig=x&se=1800000000");
    auto cred = cli::resolve_device_settings(opt, f.io).credentials(0);
    CHECK_FALSE(cred.renewable);
  }
  SUBCASE("refusals name the flag") {
    auto opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.no_tls = true;
    CHECK(usage_message(opt, f) == "--no-tls is only allowed to a loopback emulator, not to 'h.example'");
    opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.proxy = "http://p:1";
    CHECK(usage_message(opt, f) == "--proxy needs --transport ws (MQTT over TCP cannot go through an HTTP proxy)");
    opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.keep_alive_s = 5000;
    CHECK(usage_message(opt, f) == "--keep-alive 5000: must be 0 to 1177 seconds (the hub's idle limit)");
    opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.model_id = "thermostat";
    CHECK(usage_message(opt, f) ==
          "--model-id 'thermostat': expected a DTMI such as dtmi:com:example:Thermostat;1");
    opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.ca_file = "/nonexistent/ca.pem";
    CHECK(usage_message(opt, f).starts_with("--ca-file: cannot read '/nonexistent/ca.pem'"));
    opt = with_cs("HostName=h.example;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.identity.token_command = "echo t";
    CHECK(usage_message(opt, f) == "--token-command cannot be combined with a key");
    opt = with_cs("HostName=h;DeviceId=d1;SharedAccessSignature=SharedAccessSignature sr=h%2Fdevices%2Fd1&sig=x&se=1600000000");
    CHECK(usage_message(opt, f) == "--sas-token: the token has expired (se is in the past)");
  }
  SUBCASE("--no-tls to the loopback emulator") {
    auto opt = with_cs("HostName=localhost;DeviceId=d1;SharedAccessKey=" + k_key);
    opt.no_tls = true;
    opt.port = 1883;
    CHECK(device::server_uri(cli::resolve_device_settings(opt, f.io)) == "tcp://localhost:1883");
  }
}
