// resolve_connection, connection_string_input and resolve_key: the identity half of
// cli/connection_options.cpp (the device-transport half is in connection_options_device_test).
#include "cli/connection_options.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "core/error.hpp"

using namespace azhub;

namespace {

const std::string k_key = "9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA=";
const std::string k_device_cs = "HostName=h.example;DeviceId=dev1;SharedAccessKey=" + k_key;
const std::string k_module_cs =
    "HostName=h.example;DeviceId=gw;ModuleId=cam;SharedAccessKey=" + k_key;
const std::string k_service_cs =
    "HostName=h.example;SharedAccessKeyName=iothubowner;SharedAccessKey=" + k_key;

cli::Env fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string usage_message(const cli::ConnectionOptions& opt, const cli::Env& env) {
  try {
    (void)cli::resolve_connection(opt, env);
  } catch (const core::Error& e) {
    CHECK(e.code() == core::ExitCode::usage);
    const std::string message = e.what();
    CHECK(message.find(k_key) == std::string::npos);  // never the secret
    return message;
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("cli::resolve_connection") {
  const cli::Env no_env = fake_env({});

  SUBCASE("-c device connection string") {
    cli::ConnectionOptions opt;
    opt.connection_string = k_device_cs;
    const auto r = cli::resolve_connection(opt, no_env);
    CHECK(r.identity.host == "h.example");
    CHECK(r.identity.device_id == "dev1");
    CHECK_FALSE(r.identity.module_id);
    CHECK(r.key == k_key);
    CHECK_FALSE(r.x509);
  }
  SUBCASE("module connection string with a gateway") {
    cli::ConnectionOptions opt;
    opt.connection_string = k_module_cs + ";GatewayHostName=edge";
    const auto r = cli::resolve_connection(opt, no_env);
    CHECK(r.identity.module_id == "cam");
    CHECK(r.gateway_host == "edge");
    CHECK(r.identity.host == "h.example");
  }
  SUBCASE("fixed token connection string") {
    cli::ConnectionOptions opt;
    opt.connection_string =
        "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig=x&se=1";
    const auto r = cli::resolve_connection(opt, no_env);
    CHECK(r.sas_token == "SharedAccessSignature sr=h&sig=x&se=1");
    CHECK_FALSE(r.key);
  }
  SUBCASE("env AZHUB_CONNECTION_STRING, then IOTHUB_DEVICE_CONNECTION_STRING") {
    cli::ConnectionOptions opt;
    CHECK(cli::resolve_connection(opt, fake_env({{"AZHUB_CONNECTION_STRING", k_device_cs},
                                                 {"IOTHUB_DEVICE_CONNECTION_STRING", k_module_cs}}))
              .identity.device_id == "dev1");
    CHECK(cli::resolve_connection(opt, fake_env({{"IOTHUB_DEVICE_CONNECTION_STRING", k_module_cs}}))
              .identity.device_id == "gw");
    // An empty variable counts as unset.
    CHECK(cli::resolve_connection(opt, fake_env({{"AZHUB_CONNECTION_STRING", " "},
                                                 {"IOTHUB_DEVICE_CONNECTION_STRING", k_module_cs}}))
              .identity.device_id == "gw");
  }
  SUBCASE("-c wins over the environment; --hub ignores it") {
    cli::ConnectionOptions opt;
    opt.connection_string = k_module_cs;
    CHECK(cli::resolve_connection(opt, fake_env({{"AZHUB_CONNECTION_STRING", k_device_cs}}))
              .identity.device_id == "gw");
    cli::ConnectionOptions flags;
    flags.hub = "other";
    flags.device_id = "d2";
    flags.key = k_key;
    const auto r =
        cli::resolve_connection(flags, fake_env({{"AZHUB_CONNECTION_STRING", k_device_cs}}));
    CHECK(r.identity.host == "other");
    CHECK(r.identity.device_id == "d2");
  }
  SUBCASE("--hub/--device-id/--module-id with --key, --key-file or AZHUB_DEVICE_KEY") {
    cli::ConnectionOptions opt;
    opt.hub = "h.example";
    opt.device_id = "gw";
    opt.module_id = "cam";
    const auto from_env = cli::resolve_connection(opt, fake_env({{"AZHUB_DEVICE_KEY", k_key}}));
    CHECK(from_env.key == k_key);
    CHECK(from_env.identity.module_id == "cam");

    const std::string path = "connection_options_test.key";
    {
      std::ofstream file(path);
      file << "  " << k_key << "\n";
    }
    opt.key_file = path;
    CHECK(cli::resolve_connection(opt, fake_env({{"AZHUB_DEVICE_KEY", "ignored"}})).key == k_key);
    std::remove(path.c_str());

    opt.key_file.reset();
    opt.key = k_key;
    CHECK(cli::resolve_connection(opt, no_env).key == k_key);
  }
  SUBCASE("--sas-token and --cert/--cert-key with --hub") {
    cli::ConnectionOptions opt;
    opt.hub = "h";
    opt.device_id = "d";
    opt.sas_token = "SharedAccessSignature sr=h&sig=x&se=1";
    CHECK(cli::resolve_connection(opt, no_env).sas_token == opt.sas_token);
    opt.sas_token.reset();
    opt.cert_file = "c.pem";
    opt.cert_key_file = "k.pem";
    const auto r = cli::resolve_connection(opt, no_env);
    CHECK(r.x509);
    CHECK(r.cert_file == "c.pem");
  }

  SUBCASE("refusals name the flags") {
    struct Row {
      cli::ConnectionOptions opt;
      std::map<std::string, std::string> env;
      std::string message;
    };
    std::vector<Row> rows;
    const auto row = [&](std::string message) -> cli::ConnectionOptions& {
      rows.push_back({{}, {}, std::move(message)});
      return rows.back().opt;
    };
    row("no connection given: pass -c/--connection-string (or set AZHUB_CONNECTION_STRING), or "
        "--hub with --device-id");
    {
      auto& o =
          row("-c/--connection-string cannot be combined with --hub (the connection string "
              "already names the hub and the credentials)");
      o.connection_string = k_device_cs;
      o.hub = "h";
    }
    {
      auto& o =
          row("-c/--connection-string cannot be combined with --key (the connection string "
              "already names the hub and the credentials)");
      o.connection_string = k_device_cs;
      o.key = k_key;
    }
    {
      auto& o =
          row("-c/--connection-string cannot be combined with --device-id (the connection "
              "string already names the device)");
      o.connection_string = k_device_cs;
      o.device_id = "x";
    }
    {
      auto& o =
          row("env AZHUB_CONNECTION_STRING cannot be combined with --module-id (the "
              "connection string already names the device)");
      o.module_id = "m";
      rows.back().env = {{"AZHUB_CONNECTION_STRING", k_device_cs}};
    }
    {
      auto& o =
          row("env AZHUB_CONNECTION_STRING cannot be combined with --key-file (the "
              "connection string already names the hub and the credentials)");
      o.key_file = "k";
      rows.back().env = {{"AZHUB_CONNECTION_STRING", k_device_cs}};
    }
    {
      auto& o =
          row("-c/--connection-string: this is a service (policy) connection string; device "
              "commands need a device one (HostName=...;DeviceId=...;SharedAccessKey=...)");
      o.connection_string = k_service_cs;
    }
    {
      auto& o =
          row("connection string: SharedAccessKey is not valid base64 (from env "
              "IOTHUB_DEVICE_CONNECTION_STRING)");
      (void)o;
      rows.back().env = {
          {"IOTHUB_DEVICE_CONNECTION_STRING", "HostName=h;DeviceId=d;SharedAccessKey=x"}};
    }
    {
      auto& o = row("connection string: unknown key 'Foo'");
      o.connection_string = k_device_cs + ";Foo=1";
    }
    {
      auto& o =
          row("-c/--connection-string: x509=true needs the device certificate: pass --cert "
              "FILE and --cert-key FILE");
      o.connection_string = "HostName=h;DeviceId=d;x509=true";
    }
    {
      auto& o = row("--cert cannot be combined with a connection string without x509=true");
      o.connection_string = k_device_cs;
      o.cert_file = "c.pem";
    }
    {
      auto& o = row("--device-id needs --hub (or use -c/--connection-string)");
      o.device_id = "d";
    }
    {
      auto& o = row("--hub needs --device-id");
      o.hub = "h";
    }
    {
      auto& o =
          row("--hub must be a plain host name such as myhub.azure-devices.net (no scheme, "
              "port or path)");
      o.hub = "mqtts://h:8883";
      o.device_id = "d";
    }
    {
      auto& o =
          row("--device-id contains ' ' (space); IoT Hub ids allow letters, digits and - : . "
              "+ % _ # * ? ! ( ) , = @ ; $ '");
      o.hub = "h";
      o.device_id = "a b";
    }
    {
      auto& o =
          row("no credentials for --device-id d: pass --key or --key-file, or set "
              "AZHUB_DEVICE_KEY");
      o.hub = "h";
      o.device_id = "d";
    }
    {
      auto& o = row("--key and --key-file cannot be combined");
      o.hub = "h";
      o.device_id = "d";
      o.key = k_key;
      o.key_file = "k";
    }
    {
      auto& o = row("--key: the key is not valid base64");
      o.hub = "h";
      o.device_id = "d";
      o.key = "not base64";
    }
    {
      auto& o = row("env AZHUB_DEVICE_KEY: the key is empty");
      o.hub = "h";
      o.device_id = "d";
      rows.back().env = {{"AZHUB_DEVICE_KEY", "  "}};
    }
    {
      auto& o = row("--key-file: cannot read '/nonexistent/key': No such file or directory");
      o.hub = "h";
      o.device_id = "d";
      o.key_file = "/nonexistent/key";
    }
    {
      auto& o = row("--sas-token cannot be combined with --key");
      o.hub = "h";
      o.device_id = "d";
      o.key = k_key;
      o.sas_token = "SharedAccessSignature sr=h&sig=x&se=1";
    }
    {
      auto& o = row("--cert needs --cert-key");
      o.hub = "h";
      o.device_id = "d";
      o.cert_file = "c.pem";
    }
    {
      auto& o = row("--cert-key needs --cert");
      o.hub = "h";
      o.device_id = "d";
      o.cert_key_file = "k.pem";
    }
    for (const Row& r : rows) {
      CAPTURE(r.message);
      CHECK(usage_message(r.opt, fake_env(r.env)) == r.message);
    }
  }
}

TEST_CASE("cli::connection_string_input") {
  cli::ConnectionOptions opt;
  CHECK_FALSE(cli::connection_string_input(opt, fake_env({})).has_value());
  const auto from_env =
      cli::connection_string_input(opt, fake_env({{"AZHUB_CONNECTION_STRING", k_service_cs}}));
  REQUIRE(from_env);
  CHECK(from_env->source == "env AZHUB_CONNECTION_STRING");
  // A service connection string with --device-id is for the caller to judge (azhub sas takes it).
  opt.device_id = "dev1";
  const auto with_device =
      cli::connection_string_input(opt, fake_env({{"AZHUB_CONNECTION_STRING", k_service_cs}}));
  REQUIRE(with_device);
  CHECK(with_device->text == k_service_cs);
  opt.connection_string = k_device_cs;
  const auto flag =
      cli::connection_string_input(opt, fake_env({{"AZHUB_CONNECTION_STRING", k_service_cs}}));
  REQUIRE(flag);
  CHECK(flag->source == "-c/--connection-string");
  CHECK(flag->text == k_device_cs);
}
