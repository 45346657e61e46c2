#include "emulator/mqtt_codec.hpp"

#include <doctest/doctest.h>

using namespace azhub::emulator::mqtt;
using namespace std::string_literals;

namespace {

Packet round_trip(const Packet& p) {
  std::string bytes = serialize(p);
  ParseResult r = parse_packet(bytes);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.consumed == bytes.size());
  return *r.packet;
}

ParseResult parse(const std::string& bytes) { return parse_packet(bytes); }

}  // namespace

TEST_CASE("mqtt::serialize and parse_packet round-trip every packet") {
  Connect c;
  c.client_id = "dev1";
  c.clean_session = false;
  c.keep_alive = 240;
  c.username = "hub/dev1/?api-version=2021-04-12";
  c.password = "SharedAccessSignature sr=x";
  c.will = Will{"devices/dev1/messages/events/", "bye", 1, true};
  CHECK(round_trip(c) == Packet{c});
  CHECK(round_trip(Connack{true, ConnectReturn::not_authorized}) == Packet{Connack{true, ConnectReturn::not_authorized}});
  Publish p{"devices/dev1/messages/events/a=b", "payload\0x"s, 1, true, true, 7};
  CHECK(round_trip(p) == Packet{p});
  Publish p0{"t", "", 0, false, false, 0};
  CHECK(round_trip(p0) == Packet{p0});
  CHECK(round_trip(Puback{9}) == Packet{Puback{9}});
  Subscribe s{3, {{"$iothub/twin/res/#", 0}, {"$iothub/methods/POST/#", 2}}};
  CHECK(round_trip(s) == Packet{s});
  CHECK(round_trip(Suback{3, {0, 1, 0x80}}) == Packet{Suback{3, {0, 1, 0x80}}});
  CHECK(round_trip(Unsubscribe{4, {"a", "b"}}) == Packet{Unsubscribe{4, {"a", "b"}}});
  CHECK(round_trip(Unsuback{4}) == Packet{Unsuback{4}});
  CHECK(round_trip(Pingreq{}) == Packet{Pingreq{}});
  CHECK(round_trip(Pingresp{}) == Packet{Pingresp{}});
  CHECK(round_trip(Disconnect{}) == Packet{Disconnect{}});
}

TEST_CASE("mqtt::serialize exact bytes") {
  CHECK(serialize(Connack{false, ConnectReturn::accepted}) == "\x20\x02\x00\x00"s);
  CHECK(serialize(Connack{true, ConnectReturn::not_authorized}) == "\x20\x02\x01\x05"s);
  CHECK(serialize(Puback{0x0102}) == "\x40\x02\x01\x02"s);
  CHECK(serialize(Suback{1, {1}}) == "\x90\x03\x00\x01\x01"s);
  CHECK(serialize(Pingresp{}) == "\xd0\x00"s);
  CHECK(serialize(Publish{"a/b", "hi", 0, false, false, 0}) == "\x30\x07\x00\x03" "a/bhi"s);
  std::string big(200, 'x');
  std::string bytes = serialize(Publish{"t", big, 0, false, false, 0});
  CHECK(bytes.substr(0, 3) == "\x30\xcb\x01"s);  // 203 = 0x4b | 0x80, 1
}

TEST_CASE("mqtt::parse_packet incremental") {
  std::string bytes = serialize(Publish{"devices/d/messages/events/", std::string(300, 'p'), 1, false, false, 5});
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    ParseResult r = parse_packet(std::string_view(bytes).substr(0, n));
    REQUIRE(r.status == ParseStatus::need_more);
  }
  std::string two = bytes + serialize(Pingreq{});
  ParseResult r = parse_packet(two);
  REQUIRE(r.status == ParseStatus::complete);
  CHECK(r.consumed == bytes.size());
  ParseResult r2 = parse_packet(std::string_view(two).substr(r.consumed));
  REQUIRE(r2.status == ParseStatus::complete);
  CHECK(std::holds_alternative<Pingreq>(*r2.packet));
}

TEST_CASE("mqtt::parse_packet refuses malformed packets") {
  struct Row {
    std::string bytes;
    std::string error;
  };
  const Row rows[] = {
      {"\x00\x00"s, "unsupported packet type 0"},
      {"\x50\x02\x00\x01"s, "unsupported packet type 5"},  // PUBREC: QoS 2 flow
      {"\xc1\x00"s, "reserved flags of PINGREQ are wrong"},
      {"\xc0\x01\x00"s, "trailing bytes in PINGREQ"},
      {"\x80\x06\x00\x01\x00\x01\x61\x00"s, "reserved flags of SUBSCRIBE are wrong"},
      {"\x82\x02\x00\x01"s, "SUBSCRIBE without a topic filter"},
      {"\x82\x06\x00\x01\x00\x01\x61\x03"s, "reserved bits in requested QoS"},
      {"\x82\x06\x00\x00\x00\x01\x61\x00"s, "packet identifier 0"},
      {"\x36\x05\x00\x01\x61\x00\x01"s, "PUBLISH QoS 3"},
      {"\x38\x03\x00\x01\x61"s, "DUP set on a QoS 0 PUBLISH"},
      {"\x30\x03\x00\x01\x23"s, "wildcard in topic name"},
      {"\x30\x02\x00\x00"s, "empty topic name"},
      {"\x30\x03\x00\x01\x00"s, "topic name is not valid UTF-8"},
      {"\x30\x04\x00\x02\xc3\x28"s, "topic name is not valid UTF-8"},
      {"\x30\x03\x00\x05\x61"s, "truncated topic name"},
      {"\x40\x03\x00\x01\x00"s, "trailing bytes in PUBACK"},
      {"\x30\xff\xff\xff\xff\x01"s, "remaining length longer than 4 bytes"},
      {"\x30\x80\x00"s, "non-minimal remaining length"},
      {"\x10\x0c\x00\x04MQTT\x04\x01\x00\x3c\x00\x00"s, "reserved connect flag set"},
      {"\x10\x0c\x00\x04MQTT\x04\x40\x00\x3c\x00\x00"s, "password without user name"},
      {"\x10\x0c\x00\x04MQTT\x04\x08\x00\x3c\x00\x00"s, "will QoS/retain without a will"},
      {"\x10\x0c\x00\x04MQTX\x04\x00\x00\x3c\x00\x00"s, "protocol name is not MQTT"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.error);
    ParseResult r = parse(row.bytes);
    CHECK(r.status == ParseStatus::bad);
    CHECK(r.error == row.error);
  }
}

TEST_CASE("mqtt::parse_packet enforces the size limit before buffering") {
  // Remaining length 1 MiB announced in 4 bytes: refused without the body.
  ParseResult r = parse_packet("\x30\x80\x80\x40"s, 512 * 1024);
  CHECK(r.status == ParseStatus::bad);
  CHECK(r.error == "packet of 1048576 bytes exceeds the limit");
}

TEST_CASE("mqtt::parse_packet CONNECT fields") {
  std::string bytes = "\x10\x21\x00\x04MQTT\x04\xc2\x00\x3c\x00\x04" "dev1" "\x00\x05" "h/d/?" "\x00\x06" "secret"s;
  bytes[1] = static_cast<char>(bytes.size() - 2);
  ParseResult r = parse(bytes);
  REQUIRE(r.status == ParseStatus::complete);
  const auto& c = std::get<Connect>(*r.packet);
  CHECK(c.client_id == "dev1");
  CHECK(c.clean_session);
  CHECK(c.keep_alive == 60);
  CHECK(c.username == "h/d/?");
  CHECK(c.password == "secret");
  CHECK_FALSE(c.will.has_value());
}
