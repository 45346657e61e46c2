#include "cli/output.hpp"

#include <doctest/doctest.h>

#include <sstream>

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
  CHECK(j["properties"] == json{{"k", "v"}, {"flag", nullptr}});
  CHECK(j["system_properties"]["message_id"] == "m1");
  CHECK(j["system_properties"]["content_type"] == "text/plain");
  CHECK(j["system_properties"]["correlation_id"].is_null());
  CHECK(j["system_properties"]["expiry"].is_null());
  CHECK(j["system_properties"]["to"] == "/devices/dev1/messages/deviceBound");
}

TEST_CASE("cli::c2d_text") {
  CHECK(cli::c2d_text(sample()) ==
        "hello\n"
        "  message-id: m1\n"
        "  content-type: text/plain\n"
        "  k=v\n"
        "  flag\n");
}

TEST_CASE("cli::send_ack_json and method_call_json") {
  CHECK(cli::json_line(cli::send_ack_json({3, "id-3", 1.5})) ==
        R"({"latency_ms":1.5,"message_id":"id-3","seq":3})");
  CHECK(cli::json_line(cli::method_call_json({"reboot", "7", 200, 12.0, "handled"})) ==
        R"({"duration_ms":12.0,"method":"reboot","outcome":"handled","rid":"7","status":200})");
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
