#include "cli/output.hpp"

#include <doctest/doctest.h>

#include <sstream>

#include "emulator/records.hpp"
#include "emulator/rest_json.hpp"

using namespace azhub;
using nlohmann::json;

namespace {
device::ReceivedC2dMessage sample() {
  device::ReceivedC2dMessage m;
  m.body = "hello";
  m.properties.system.message_id = "m1";
  m.properties.system.content_type = "text/plain";
  m.properties.system.to = "/devices/dev1/messages/deviceBound";
  m.properties.application = {{"k", "v"}, {"flag", std::nullopt}};
  return m;
}
}  // namespace

TEST_CASE("cli::c2d_json") {
  const json j = cli::c2d_json(sample());
  CHECK(j["body"] == "hello");
  CHECK(j["bodyEncoding"] == "utf-8");
  CHECK(j["properties"] == json{{"k", "v"}, {"flag", nullptr}});
  // Absent system properties are left out, as in the emulator's D2C record.
  CHECK(j["systemProperties"] == json{{"messageId", "m1"},
                                      {"contentType", "text/plain"},
                                      {"to", "/devices/dev1/messages/deviceBound"}});
  CHECK(cli::json_line(j) ==
        R"({"body":"hello","bodyEncoding":"utf-8","properties":{"flag":null,"k":"v"},)"
        R"("systemProperties":{"contentType":"text/plain","messageId":"m1",)"
        R"("to":"/devices/dev1/messages/deviceBound"}})");
}

TEST_CASE("cli::c2d_json has the member names of a D2C record of azhub service monitor") {
  device::ReceivedC2dMessage c2d = sample();
  c2d.properties.system.correlation_id = "c1";
  c2d.properties.system.user_id = "u1";
  c2d.properties.system.content_encoding = "utf-8";
  c2d.properties.system.expiry = "2030-01-01T00:00:00.000Z";
  c2d.properties.system.creation_time = "2026-01-01T00:00:00.000Z";
  c2d.properties.system.subject = "s";
  c2d.properties.system.ack = "full";
  emulator::D2cMessage d2c;
  d2c.sequence_number = 7;
  d2c.source.device_id = "dev1";
  d2c.body = c2d.body;
  d2c.properties = c2d.properties;
  const json received = cli::c2d_json(c2d);
  json captured = emulator::d2c_to_json(d2c);
  for (const char* hub_side : {"sequenceNumber", "enqueuedTime", "deviceId", "moduleId"}) {
    CHECK(captured.contains(hub_side));
    captured.erase(hub_side);
  }
  CHECK(received == captured);
}

TEST_CASE("cli::c2d_json: a body that is not UTF-8 is base64") {
  device::ReceivedC2dMessage m;
  m.body = std::string("\x00\x01\xff", 3);
  const json j = cli::c2d_json(m);
  CHECK(j["body"] == "AAH/");
  CHECK(j["bodyEncoding"] == "base64");
  CHECK(j["systemProperties"] == json::object());
  CHECK(j["properties"] == json::object());
}

TEST_CASE("cli::c2d_text") {
  CHECK(cli::c2d_text(sample()) ==
        "hello\n"
        "  contentType: text/plain\n"
        "  messageId: m1\n"
        "  k=v\n"
        "  flag\n");
}

TEST_CASE("cli::send_ack_json and method_call_json") {
  CHECK(cli::json_line(cli::send_ack_json({3, "id-3", 1.5})) ==
        R"({"latencyMs":1.5,"messageId":"id-3","seq":3})");
  CHECK(cli::json_line(cli::method_call_json({"reboot", "7", 200, 12.0, "handled"})) ==
        R"({"durationMs":12.0,"method":"reboot","outcome":"handled","rid":"7","status":200})");
  CHECK(cli::method_call_text({"reboot", "7", 504, 30000.4, "timed out"}) ==
        "method reboot (rid 7): 504 timed out in 30000 ms");
}

TEST_CASE("cli::json_line replaces invalid UTF-8 instead of throwing") {
  CHECK(cli::json_line(json("a\xff")) == "\"a\xEF\xBF\xBD\"");
}

TEST_CASE("cli::Output writes data to stdout and method logs to stderr in text mode") {
  std::ostringstream out, err;
  std::istringstream in;
  cli::Io io{out, err, in, [](std::string_view) { return std::optional<std::string>(); }};
  cli::Output output(io);
  output.reported_version(5);
  output.send_ack({1, "x", 0.5});  // nothing per message in text mode
  output.method_call({"m", "1", 200, 1.0, "fixed"});
  CHECK(out.str() == "5\n");
  CHECK(err.str() == "azhub: method m (rid 1): 200 fixed in 1 ms\n");
  io.format = cli::OutputFormat::json;
  out.str("");
  output.reported_version(6);
  output.desired(device::DesiredUpdate{6, json{{"a", 1}, {"$version", 6}}, false});
  CHECK(out.str() == "{\"version\":6}\n{\"desired\":{\"$version\":6,\"a\":1},\"full\":false,\"version\":6}\n");
}
