#include "core/connection_string.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/error.hpp"

using namespace azhub::core;

namespace {

const std::string k_key = "9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA=";

std::string error_of(std::string_view text) {
  try {
    (void)parse_connection_string(text);
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST_CASE("core::parse_connection_string") {
  SUBCASE("device form") {
    const auto cs = parse_connection_string(
        "HostName=h.azure-devices.net;DeviceId=dev1;SharedAccessKey=" + k_key);
    CHECK(cs.kind == ConnectionString::Kind::device);
    CHECK(cs.host_name == "h.azure-devices.net");
    CHECK(cs.device_id == "dev1");
    CHECK_FALSE(cs.module_id);
    CHECK(cs.shared_access_key == k_key);
    CHECK_FALSE(cs.x509);
  }
  SUBCASE("module form") {
    const auto cs =
        parse_connection_string("HostName=h;DeviceId=gw;ModuleId=cam;SharedAccessKey=" + k_key);
    CHECK(cs.kind == ConnectionString::Kind::module);
    CHECK(cs.device_id == "gw");
    CHECK(cs.module_id == "cam");
  }
  SUBCASE("x509 form") {
    const auto cs = parse_connection_string("HostName=h;DeviceId=d;x509=true");
    CHECK(cs.kind == ConnectionString::Kind::device);
    CHECK(cs.x509);
    CHECK_FALSE(cs.shared_access_key);
  }
  SUBCASE("x509 module form, any case of true") {
    const auto cs = parse_connection_string("HostName=h;DeviceId=d;ModuleId=m;x509=True");
    CHECK(cs.kind == ConnectionString::Kind::module);
    CHECK(cs.x509);
  }
  SUBCASE("fixed token form") {
    const std::string token = "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000";
    const auto cs = parse_connection_string("HostName=h;DeviceId=d;SharedAccessSignature=" + token);
    CHECK(cs.shared_access_signature == token);
    CHECK_FALSE(cs.shared_access_key);
  }
  SUBCASE("gateway") {
    const auto cs = parse_connection_string("HostName=h;DeviceId=d;SharedAccessKey=" + k_key +
                                            ";GatewayHostName=edge.local");
    CHECK(cs.host_name == "h");
    CHECK(cs.gateway_host_name == "edge.local");
  }
  SUBCASE("service form") {
    const auto cs = parse_connection_string(
        "HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=" + k_key);
    CHECK(cs.kind == ConnectionString::Kind::service);
    CHECK(cs.shared_access_key_name == "iothubowner");
    CHECK(cs.shared_access_key == k_key);
    CHECK_FALSE(cs.device_id);
  }
  SUBCASE("any order, surrounding whitespace and one trailing ';'") {
    const auto cs =
        parse_connection_string("  SharedAccessKey=" + k_key + ";DeviceId=d;HostName=h;\n");
    CHECK(cs.host_name == "h");
    CHECK(cs.device_id == "d");
    CHECK(cs.shared_access_key == k_key);
  }
  SUBCASE("ids with special characters") {
    const auto cs =
        parse_connection_string("HostName=h;DeviceId=dev:01@site.b#1;SharedAccessKey=" + k_key);
    CHECK(cs.device_id == "dev:01@site.b#1");
  }
}

TEST_CASE("core::parse_connection_string errors") {
  struct Row {
    std::string input;
    const char* message;
  };
  const std::string key = ";SharedAccessKey=" + k_key;
  const Row rows[] = {
      {"", "connection string: is empty"},
      {"   ", "connection string: is empty"},
      {"DeviceId=d" + key, "connection string: missing HostName"},
      {"HostName=h;SharedAccessKey=" + k_key,
       "connection string: missing DeviceId (device) or SharedAccessKeyName (service policy)"},
      {"HostName=h;DeviceId=d",
       "connection string: missing SharedAccessKey (or SharedAccessSignature, or x509=true)"},
      {"HostName=h;ModuleId=m" + key, "connection string: ModuleId requires DeviceId"},
      {"HostName=h;DeviceId=d;Foo=bar" + key, "connection string: unknown key 'Foo'"},
      {"hostname=h;DeviceId=d" + key,
       "connection string: unknown key 'hostname' (keys are case-sensitive: did you mean "
       "'HostName'?)"},
      {"HostName=h;DeviceID=d" + key,
       "connection string: unknown key 'DeviceID' (keys are case-sensitive: did you mean "
       "'DeviceId'?)"},
      {"HostName=h;DeviceId=d;DeviceId=e" + key, "connection string: duplicate key 'DeviceId'"},
      {"HostName=h;DeviceId=d" + key + key, "connection string: duplicate key 'SharedAccessKey'"},
      {"HostName=h;DeviceId=d;SharedAccessKey=not-base64!",
       "connection string: SharedAccessKey is not valid base64"},
      {"HostName=h;DeviceId=d;SharedAccessKey=abc",
       "connection string: SharedAccessKey is not valid base64"},
      {"HostName=h;DeviceId=d;SharedAccessKey=", "connection string: SharedAccessKey is empty"},
      {"HostName=;DeviceId=d" + key, "connection string: HostName is empty"},
      {"HostName=h;DeviceId=" + key, "connection string: DeviceId is empty"},
      {"HostName=h;DeviceId=d;x509=true" + key,
       "connection string: SharedAccessKey cannot be combined with x509=true"},
      {"HostName=h;DeviceId=d;x509=yes", "connection string: x509 must be 'true' or 'false'"},
      {"HostName=h;DeviceId=d;x509=false",
       "connection string: missing SharedAccessKey (or SharedAccessSignature, or x509=true)"},
      {"HostName=h;DeviceId=d;x509=true;SharedAccessSignature=SharedAccessSignature "
       "sr=h&sig=x&se=1",
       "connection string: SharedAccessSignature cannot be combined with x509=true"},
      {"HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig=x&se=1" + key,
       "connection string: SharedAccessKey cannot be combined with SharedAccessSignature"},
      {"HostName=h;DeviceId=d;SharedAccessSignature=sr=h&sig=x&se=1",
       "connection string: SharedAccessSignature is not valid (SAS token: does not start with "
       "'SharedAccessSignature ')"},
      {"HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig=x",
       "connection string: SharedAccessSignature is not valid (SAS token: missing se)"},
      {"HostName=h;SharedAccessKeyName=p",
       "connection string: missing SharedAccessKey (required with SharedAccessKeyName)"},
      {"HostName=h;SharedAccessKeyName=p;DeviceId=d" + key,
       "connection string: SharedAccessKeyName (a policy) cannot be combined with DeviceId"},
      {"HostName=h;SharedAccessKeyName=p;ModuleId=m" + key,
       "connection string: SharedAccessKeyName (a policy) cannot be combined with ModuleId"},
      {"HostName=h;SharedAccessKeyName=p;x509=true" + key,
       "connection string: SharedAccessKeyName cannot be combined with x509=true"},
      {"HostName=h;DeviceId=d;;" + key.substr(1), "connection string: part 3 is empty (stray ';')"},
      {"HostName=h;DeviceId=d;" + k_key,
       "connection string: part 3 has an unknown key (not shown: it may be a secret)"},
      {"HostName=h;DeviceId=d;" + k_key.substr(0, 20),
       "connection string: part 3 is not Key=Value"},
      {"HostName=https://h;DeviceId=d" + key,
       "connection string: HostName must be a plain host name (no scheme, port, path or spaces)"},
      {"HostName=h:8883;DeviceId=d" + key,
       "connection string: HostName must be a plain host name (no scheme, port, path or spaces)"},
      {"HostName=h;DeviceId=d;GatewayHostName=gw/x" + key,
       "connection string: GatewayHostName must be a plain host name (no scheme, port, path or "
       "spaces)"},
      {"HostName=h;DeviceId=a b" + key,
       "connection string: DeviceId contains ' ' (space); IoT Hub ids allow letters, digits and - "
       ": "
       ". + % _ # * ? ! ( ) , = @ ; $ '"},
      {"HostName=h;DeviceId=d;ModuleId=m/n" + key,
       "connection string: ModuleId contains '/'; IoT Hub ids allow letters, digits and - : . + % "
       "_ "
       "# * ? ! ( ) , = @ ; $ '"},
      {"HostName=h;DeviceId=" + std::string(129, 'a') + key,
       "connection string: DeviceId is 129 characters long; IoT Hub allows at most 128"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.input);
    const std::string message = error_of(row.input);
    CHECK(message == row.message);
    CHECK(message.find(k_key) == std::string::npos);  // never the secret
  }
}

TEST_CASE("core::parse_connection_string never names secrets") {
  const std::string secret_sig = "SharedAccessSignature sr=h&sig=TOPSECRET&se=x";
  const std::string m1 = error_of("HostName=h;DeviceId=d;SharedAccessSignature=" + secret_sig);
  CHECK(m1.find("TOPSECRET") == std::string::npos);
  const std::string m2 = error_of("HostName=h;DeviceId=d;SharedAccessKey=TOPSECRET");
  CHECK(m2.find("TOPSECRET") == std::string::npos);
  const std::string m3 = error_of("HostName=h;DeviceId=d;TOPSECRET");
  CHECK(m3.find("TOPSECRET") == std::string::npos);
}

TEST_CASE("core::format_connection_string round trips") {
  const std::string sig = "SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000";
  for (const std::string& text : std::vector<std::string>{
           "HostName=h;DeviceId=d;SharedAccessKey=" + k_key,
           "HostName=h;DeviceId=d;ModuleId=m;SharedAccessKey=" + k_key,
           std::string("HostName=h;DeviceId=d;x509=true"),
           std::string("HostName=h;DeviceId=d;ModuleId=m;x509=true"),
           "HostName=h;DeviceId=d;SharedAccessSignature=" + sig,
           "HostName=h;DeviceId=d;SharedAccessKey=" + k_key + ";GatewayHostName=gw",
           "HostName=h;SharedAccessKeyName=service;SharedAccessKey=" + k_key,
       }) {
    CAPTURE(text);
    CHECK(format_connection_string(parse_connection_string(text)) == text);
  }
  // Order is canonical whatever the input order.
  CHECK(format_connection_string(
            parse_connection_string("SharedAccessKey=" + k_key + ";DeviceId=d;HostName=h")) ==
        "HostName=h;DeviceId=d;SharedAccessKey=" + k_key);
}
