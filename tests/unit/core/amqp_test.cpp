// IoT Hub's AMQP messages and rules (core/amqp_message.*, core/amqp.*, docs/protocol.md §15).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/amqp.hpp"
#include "core/amqp_message.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/properties.hpp"

using namespace azhub::core::amqp;
using azhub::core::MessageProperties;

namespace {

constexpr std::int64_t k_ms = 1'800'000'000'123;

Uuid sample_uuid() {
  auto u = parse_uuid("0123abcd-4567-89ef-0123-456789abcdef");
  REQUIRE(u);
  return *u;
}

Message full_message() {
  Message m;
  m.durable = true;
  m.ttl_ms = 60'000;
  m.delivery_count = 3;
  m.annotations.emplace_back("iothub-enqueuedtime", Timestamp{k_ms});
  m.annotations.emplace_back("x-opt-sequence-number", std::int64_t{42});
  m.message_id = std::string("mid-1");
  m.user_id = "owner";
  m.to = "/devices/dev1/messages/devicebound";
  m.subject = "subj";
  m.reply_to = "cbs";
  m.correlation_id = std::string("cid-1");
  m.content_type = "application/json";
  m.content_encoding = "utf-8";
  m.absolute_expiry_ms = k_ms + 3'600'000;
  m.creation_ms = k_ms;
  m.application.emplace_back("null", std::monostate{});
  m.application.emplace_back("bool", true);
  m.application.emplace_back("long", std::int64_t{-5'000'000'000});
  m.application.emplace_back("ulong", std::uint64_t{18'000'000'000'000'000'000u});
  m.application.emplace_back("int", Int{-7});
  m.application.emplace_back("double", 2.5);
  m.application.emplace_back("string", std::string("text"));
  m.application.emplace_back("symbol", Symbol{"sym"});
  m.application.emplace_back("timestamp", Timestamp{k_ms});
  m.application.emplace_back("binary", Binary{std::string("\x00\x01\xff", 3)});
  m.application.emplace_back("uuid", sample_uuid());
  m.body_kind = BodyKind::data;
  m.body = std::string("body\0bytes", 10);
  return m;
}

}  // namespace

TEST_CASE("core::amqp encode/decode: every field round-trips") {
  const Message in = full_message();
  const Message out = decode(encode(in));
  CHECK(out.durable == in.durable);
  CHECK(out.ttl_ms == in.ttl_ms);
  CHECK(out.delivery_count == in.delivery_count);
  CHECK(out.annotations == in.annotations);
  CHECK(out.message_id == in.message_id);
  CHECK(out.user_id == in.user_id);
  CHECK(out.to == in.to);
  CHECK(out.subject == in.subject);
  CHECK(out.reply_to == in.reply_to);
  CHECK(out.correlation_id == in.correlation_id);
  CHECK(out.content_type == in.content_type);
  CHECK(out.content_encoding == in.content_encoding);
  CHECK(out.absolute_expiry_ms == in.absolute_expiry_ms);
  CHECK(out.creation_ms == in.creation_ms);
  REQUIRE(out.application.size() == in.application.size());
  for (std::size_t i = 0; i < in.application.size(); ++i) {
    CAPTURE(in.application[i].first);
    CHECK(out.application[i].first == in.application[i].first);
    CHECK(out.application[i].second == in.application[i].second);
  }
  CHECK(out.body_kind == BodyKind::data);
  CHECK(out.body == in.body);
}

TEST_CASE("core::amqp encode/decode: message and correlation ids keep their type") {
  Message in;
  SUBCASE("string") {
    in.message_id = std::string("abc");
    in.correlation_id = std::string("def");
  }
  SUBCASE("uuid") {
    in.message_id = sample_uuid();
    in.correlation_id = random_uuid();
  }
  SUBCASE("ulong") {
    in.message_id = std::uint64_t{7};
    in.correlation_id = std::uint64_t{18'446'744'073'709'551'615u};
  }
  const Message out = decode(encode(in));
  CHECK(out.message_id == in.message_id);
  CHECK(out.correlation_id == in.correlation_id);
  CHECK(out.body_kind == BodyKind::none);
  CHECK(out.application.empty());
  CHECK(out.annotations.empty());
  CHECK_FALSE(out.to);
}

TEST_CASE("core::amqp encode/decode: absent fields stay absent") {
  const Message out = decode(encode(Message{}));
  CHECK(std::holds_alternative<std::monostate>(out.message_id));
  CHECK(std::holds_alternative<std::monostate>(out.correlation_id));
  CHECK_FALSE(out.user_id);
  CHECK_FALSE(out.reply_to);
  CHECK_FALSE(out.content_type);
  CHECK_FALSE(out.content_encoding);
  CHECK_FALSE(out.absolute_expiry_ms);
  CHECK_FALSE(out.creation_ms);
  CHECK_FALSE(out.ttl_ms);
  CHECK(out.body_kind == BodyKind::none);
}

TEST_CASE("core::amqp encode/decode: an amqp-value string body") {
  Message in;
  in.body_kind = BodyKind::value;
  in.value_body = std::string("SharedAccessSignature sr=x");
  const Message out = decode(encode(in));
  CHECK(out.body_kind == BodyKind::value);
  CHECK(out.value_body == in.value_body);
  CHECK(out.body == "SharedAccessSignature sr=x");  // also readable as bytes
}

TEST_CASE("core::amqp encode/decode: an empty data body is still a data section") {
  Message in;
  in.body_kind = BodyKind::data;
  const Message out = decode(encode(in));
  CHECK(out.body_kind == BodyKind::data);
  CHECK(out.body.empty());
}

TEST_CASE("core::amqp decode: bytes that are not a message throw core::Error") {
  CHECK_THROWS_AS((void)decode(std::string("\xff\xfe garbage bytes", 15)), azhub::core::Error);
  CHECK_THROWS_AS((void)decode("hello"), azhub::core::Error);
  CHECK_THROWS_AS((void)decode(""), azhub::core::Error);  // Proton itself asserts on no bytes
  CHECK_THROWS_AS((void)decode(std::string("\x00\x53\x70\xd0", 4)), azhub::core::Error);  // truncated header
  // A message whose application-properties are not a map.
  std::string bad("\x00\x53\x74\xa1\x03" "abc", 8);
  CHECK_THROWS_AS((void)decode(bad), azhub::core::Error);
  try {
    (void)decode(std::string("\xff\xfe garbage bytes", 15));
  } catch (const azhub::core::Error& e) {
    CHECK(std::string(e.what()).rfind("AMQP message: ", 0) == 0);
  }
}

TEST_CASE("core::amqp uuid: text round trip and refusals") {
  const Uuid u = sample_uuid();
  CHECK(to_string(u) == "0123abcd-4567-89ef-0123-456789abcdef");
  CHECK(u.bytes[0] == 0x01);
  CHECK(u.bytes[15] == 0xef);
  CHECK(parse_uuid("0123ABCD-4567-89EF-0123-456789ABCDEF") == u);  // either case
  const Uuid r = random_uuid();
  CHECK(parse_uuid(to_string(r)) == r);
  CHECK((r.bytes[6] >> 4) == 4);          // version 4
  CHECK((r.bytes[8] & 0xc0) == 0x80);     // RFC 4122 variant
  CHECK_FALSE(random_uuid() == r);
  CHECK_FALSE(parse_uuid(""));
  CHECK_FALSE(parse_uuid("0123abcd-4567-89ef-0123-456789abcde"));     // short
  CHECK_FALSE(parse_uuid("0123abcd-4567-89ef-0123-456789abcdef0"));   // long
  CHECK_FALSE(parse_uuid("0123abcd04567-89ef-0123-456789abcdef"));    // no dash
  CHECK_FALSE(parse_uuid("0123abcg-4567-89ef-0123-456789abcdef"));    // not hex
  CHECK_FALSE(parse_uuid("{123abcd-4567-89ef-0123-456789abcdef"));
  CHECK_FALSE(parse_uuid("0123abcd-4567-89ef-0123-456789abcd-f"));    // dash in the wrong place
}

TEST_CASE("core::amqp text_of: ids as text") {
  CHECK(text_of(std::string("a")) == "a");
  CHECK(text_of(Symbol{"s"}) == "s");
  CHECK(text_of(sample_uuid()) == "0123abcd-4567-89ef-0123-456789abcdef");
  CHECK(text_of(std::int64_t{-3}) == "-3");
  CHECK(text_of(std::uint64_t{3}) == "3");
  CHECK(text_of(Int{200}) == "200");
  CHECK_FALSE(text_of(std::monostate{}));
  CHECK_FALSE(text_of(2.5));
}

TEST_CASE("core::amqp parse_c2d_to") {
  CHECK(parse_c2d_to("/devices/dev1/messages/devicebound") == "dev1");
  CHECK(parse_c2d_to("devices/dev1/messages/devicebound") == "dev1");  // leading "/" optional
  CHECK(parse_c2d_to(c2d_to("dev#1 x")) == "dev#1 x");
  CHECK(c2d_to("dev#1") == "/devices/dev%231/messages/devicebound");
  CHECK(parse_c2d_to("/devices/dev%231/messages/devicebound") == "dev#1");  // percent-encoded id
  // The hub compares addresses case-insensitively.
  CHECK(parse_c2d_to("/devices/dev1/messages/DeviceBound") == "dev1");
  CHECK(parse_c2d_to("/Devices/dev1/Messages/devicebound") == "dev1");
  // Missing parts.
  CHECK_FALSE(parse_c2d_to(""));
  CHECK_FALSE(parse_c2d_to("/devices/dev1"));
  CHECK_FALSE(parse_c2d_to("/devices//messages/devicebound"));
  CHECK_FALSE(parse_c2d_to("/messages/devicebound"));
  CHECK_FALSE(parse_c2d_to("/devices/dev1/messages"));
  // Extra segments.
  CHECK_FALSE(parse_c2d_to("/devices/dev1/modules/m1/messages/devicebound"));
  CHECK_FALSE(parse_c2d_to("/devices/dev1/messages/devicebound/extra"));
  CHECK_FALSE(parse_c2d_to("/x/devices/dev1/messages/devicebound"));
  // Other features' addresses.
  CHECK_FALSE(parse_c2d_to("/devices/dev1/messages/events"));
  CHECK_FALSE(parse_c2d_to("$cbs"));
  // A malformed escape.
  CHECK_FALSE(parse_c2d_to("/devices/dev%2/messages/devicebound"));
}

TEST_CASE("core::amqp same_address") {
  CHECK(same_address("$cbs", "$cbs"));
  CHECK(same_address("/$cbs", "$cbs"));
  CHECK(same_address("/messages/serviceBound/feedback", k_feedback_address));
  CHECK(same_address("messages/servicebound/feedback", k_feedback_address));
  CHECK(same_address("/MESSAGES/DEVICEBOUND", k_c2d_send_address));
  CHECK_FALSE(same_address("/messages/devicebound/x", k_c2d_send_address));
  CHECK_FALSE(same_address("/messages/serviceBound/feedbac", k_feedback_address));
  CHECK_FALSE(same_address("", k_cbs_address));
}

TEST_CASE("core::amqp parse_put_token") {
  Message request = make_put_token("hub.example", "SharedAccessSignature sr=hub.example&sig=x&se=1", "cbs");
  CHECK(request.to == "$cbs");
  CHECK(request.reply_to == "cbs");
  CHECK(std::holds_alternative<std::string>(request.message_id));
  CHECK(parse_uuid(std::get<std::string>(request.message_id)));
  std::string why;
  SUBCASE("happy path, after the wire") {
    const auto put = parse_put_token(decode(encode(request)), &why);
    REQUIRE(put);
    CHECK(put->audience == "hub.example");
    CHECK(put->token == "SharedAccessSignature sr=hub.example&sig=x&se=1");
    CHECK(put->type == k_cbs_sas_type);
  }
  SUBCASE("the iothub token type") {
    request.application[1].second = std::string(k_cbs_sas_type_iothub);
    const auto put = parse_put_token(request, nullptr);
    REQUIRE(put);
    CHECK(put->type == k_cbs_sas_type_iothub);
  }
  SUBCASE("symbol-typed properties") {
    for (auto& [k, v] : request.application) v = Symbol{std::get<std::string>(v)};
    CHECK(parse_put_token(request, &why));
  }
  SUBCASE("not put-token") {
    request.application[0].second = std::string("delete-token");
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK(why.find("put-token") != std::string::npos);
  }
  SUBCASE("no operation") {
    request.application.erase(request.application.begin());
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK_FALSE(why.empty());
  }
  SUBCASE("a JWT type") {
    request.application[1].second = std::string("jwt");
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK(why.find("jwt") != std::string::npos);
  }
  SUBCASE("no type") {
    request.application.erase(request.application.begin() + 1);
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK_FALSE(why.empty());
  }
  SUBCASE("no audience") {
    request.application.pop_back();
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK(why.find("audience") != std::string::npos);
  }
  SUBCASE("an empty audience") {
    request.application.back().second = std::string();
    CHECK_FALSE(parse_put_token(request, &why));
    CHECK(why.find("audience") != std::string::npos);
  }
  SUBCASE("no token") {
    request.body.clear();
    request.body_kind = BodyKind::none;
    request.value_body = std::monostate{};
    CHECK_FALSE(parse_put_token(decode(encode(request)), &why));
    CHECK(why.find("token") != std::string::npos);
  }
  SUBCASE("why may be null") {
    request.application.clear();
    CHECK_FALSE(parse_put_token(request, nullptr));
  }
}

TEST_CASE("core::amqp make_cbs_reply: correlation id is the request's message id, same type") {
  Message request = make_put_token("hub.example", "tok", "cbs");
  SUBCASE("string") {}
  SUBCASE("uuid") { request.message_id = sample_uuid(); }
  SUBCASE("ulong") { request.message_id = std::uint64_t{99}; }
  const Message reply = decode(encode(make_cbs_reply(request, 200, "OK")));
  CHECK(reply.correlation_id == request.message_id);
  CHECK(reply.correlation_id.index() == request.message_id.index());
  CHECK(reply.to == "cbs");
  const Value* code = find(reply.application, k_cbs_status_code);
  REQUIRE(code != nullptr);
  CHECK(*code == Value(Int{200}));
  const Value* description = find(reply.application, k_cbs_status_description);
  REQUIRE(description != nullptr);
  CHECK(*description == Value(std::string("OK")));
  const auto parsed = parse_cbs_reply(reply);
  REQUIRE(parsed);
  CHECK(parsed->status == 200);
  CHECK(parsed->description == "OK");
}

TEST_CASE("core::amqp parse_cbs_reply: status-code of any integer type or text") {
  Message reply;
  reply.application.emplace_back(std::string(k_cbs_status_description), std::string("why"));
  SUBCASE("Int") {
    reply.application.emplace_back(std::string(k_cbs_status_code), Int{401});
    REQUIRE(parse_cbs_reply(reply));
    CHECK(parse_cbs_reply(reply)->status == 401);
    CHECK(parse_cbs_reply(reply)->description == "why");
  }
  SUBCASE("long") {
    reply.application.emplace_back(std::string(k_cbs_status_code), std::int64_t{202});
    REQUIRE(parse_cbs_reply(reply));
    CHECK(parse_cbs_reply(reply)->status == 202);
  }
  SUBCASE("ulong") {
    reply.application.emplace_back(std::string(k_cbs_status_code), std::uint64_t{200});
    REQUIRE(parse_cbs_reply(reply));
    CHECK(parse_cbs_reply(reply)->status == 200);
  }
  SUBCASE("string") {
    reply.application.emplace_back(std::string(k_cbs_status_code), std::string("200"));
    REQUIRE(parse_cbs_reply(reply));
    CHECK(parse_cbs_reply(reply)->status == 200);
  }
  SUBCASE("not a number") {
    reply.application.emplace_back(std::string(k_cbs_status_code), std::string("OK"));
    CHECK_FALSE(parse_cbs_reply(reply));
  }
  SUBCASE("another type") {
    reply.application.emplace_back(std::string(k_cbs_status_code), 200.0);
    CHECK_FALSE(parse_cbs_reply(reply));
  }
  SUBCASE("missing") {
    CHECK_FALSE(parse_cbs_reply(reply));
  }
  SUBCASE("no description") {
    reply.application.clear();
    reply.application.emplace_back(std::string(k_cbs_status_code), Int{200});
    REQUIRE(parse_cbs_reply(reply));
    CHECK(parse_cbs_reply(reply)->description.empty());
  }
}

TEST_CASE("core::amqp c2d_properties_of: the service's AMQP fields as IoT Hub properties") {
  Message m;
  m.message_id = sample_uuid();
  m.correlation_id = std::uint64_t{12};
  m.user_id = "owner";
  m.content_type = "application/json";
  m.content_encoding = "utf-8";
  m.absolute_expiry_ms = k_ms;
  m.application.emplace_back("iothub-ack", std::string("full"));
  m.application.emplace_back("text", std::string("v"));
  m.application.emplace_back("flag", false);
  m.application.emplace_back("count", std::int64_t{-4});
  m.application.emplace_back("n", Int{5});
  m.application.emplace_back("sym", Symbol{"s"});
  m.application.emplace_back("when", Timestamp{k_ms});
  const MessageProperties p = c2d_properties_of(decode(encode(m)));
  CHECK(p.system.message_id == "0123abcd-4567-89ef-0123-456789abcdef");
  CHECK(p.system.correlation_id == "12");
  CHECK(p.system.user_id == "owner");
  CHECK(p.system.content_type == "application/json");
  CHECK(p.system.content_encoding == "utf-8");
  CHECK(p.system.expiry == azhub::core::format_iso8601(k_ms, true));
  CHECK(p.system.ack == "full");
  REQUIRE(p.application.size() == 6);  // iothub-ack is not an application property
  CHECK(p.application[0] == std::pair<std::string, std::optional<std::string>>{"text", "v"});
  CHECK(p.application[1] == std::pair<std::string, std::optional<std::string>>{"flag", "false"});
  CHECK(p.application[2] == std::pair<std::string, std::optional<std::string>>{"count", "-4"});
  CHECK(p.application[3] == std::pair<std::string, std::optional<std::string>>{"n", "5"});
  CHECK(p.application[4] == std::pair<std::string, std::optional<std::string>>{"sym", "s"});
  CHECK(p.application[5].second == azhub::core::format_iso8601(k_ms, true));
}

TEST_CASE("core::amqp c2d_properties_of: nothing set, nothing mapped") {
  const MessageProperties p = c2d_properties_of(Message{});
  CHECK(p == MessageProperties{});
}

TEST_CASE("core::amqp make_c2d_message: IoT Hub properties as AMQP fields, and back") {
  MessageProperties p;
  p.system.message_id = "m1";
  p.system.correlation_id = "c1";
  p.system.user_id = "u";
  p.system.content_type = "text/plain";
  p.system.content_encoding = "utf-8";
  p.system.ack = "positive";
  p.application.emplace_back("a", "1");
  p.application.emplace_back("flag", std::nullopt);
  const Message m = decode(encode(make_c2d_message("dev#1", "hello", p, k_ms)));
  CHECK(m.to == "/devices/dev%231/messages/devicebound");
  CHECK(parse_c2d_to(*m.to) == "dev#1");
  CHECK(m.message_id == Value(std::string("m1")));
  CHECK(m.correlation_id == Value(std::string("c1")));
  CHECK(m.user_id == "u");
  CHECK(m.content_type == "text/plain");
  CHECK(m.content_encoding == "utf-8");
  CHECK(m.absolute_expiry_ms == k_ms);
  CHECK(m.body_kind == BodyKind::data);
  CHECK(m.body == "hello");
  REQUIRE(m.application.size() == 3);
  CHECK(m.application[0].first == "iothub-ack");
  CHECK(m.application[0].second == Value(std::string("positive")));
  CHECK(m.application[1].second == Value(std::string("1")));
  CHECK(m.application[2].second == Value(std::string()));  // the "key" form is sent as ""

  const MessageProperties back = c2d_properties_of(m);
  CHECK(back.system.message_id == "m1");
  CHECK(back.system.correlation_id == "c1");
  CHECK(back.system.ack == "positive");
  CHECK(back.system.expiry == azhub::core::format_iso8601(k_ms, true));
  REQUIRE(back.application.size() == 2);
  CHECK(back.application[0].first == "a");
  CHECK(back.application[0].second == "1");
}

TEST_CASE("core::amqp make_c2d_message: a message id is generated, no expiry when none is given") {
  const Message m = make_c2d_message("dev1", "", MessageProperties{}, std::nullopt);
  REQUIRE(std::holds_alternative<std::string>(m.message_id));
  CHECK(parse_uuid(std::get<std::string>(m.message_id)));
  CHECK(std::holds_alternative<std::monostate>(m.correlation_id));
  CHECK_FALSE(m.absolute_expiry_ms);
  CHECK(m.application.empty());
}

TEST_CASE("core::amqp condition_for / hub_code_for") {
  CHECK(condition_for(404001) == k_not_found);
  CHECK(condition_for(404010) == k_not_found);
  CHECK(condition_for(403004) == k_resource_limit);
  CHECK(condition_for(413001) == k_message_size_exceeded);
  CHECK(condition_for(400004) == k_invalid_field);
  CHECK(condition_for(400027) == k_invalid_field);
  CHECK(condition_for(401002) == k_unauthorized);
  CHECK(condition_for(500001) == k_internal_error);
  CHECK(condition_for(0) == k_internal_error);

  CHECK(hub_code_for(k_not_found) == 404001);
  CHECK(hub_code_for(k_resource_limit) == 403004);
  CHECK(hub_code_for(k_message_size_exceeded) == 413001);
  CHECK(hub_code_for(k_invalid_field) == 400004);
  CHECK(hub_code_for(k_decode_error) == 400004);
  CHECK(hub_code_for(k_internal_error) == 500001);
  CHECK(hub_code_for(k_unauthorized) == 401002);
  CHECK(hub_code_for("com.microsoft:whatever") == 0);
  CHECK(hub_code_for("") == 0);
  for (const int code : {404001, 403004, 413001, 400004, 500001})
    CHECK(hub_code_for(condition_for(code)) == code);
}

// --- the Event Hubs-compatible endpoint (§15.7) -------------------------------------------

TEST_CASE("core::amqp encode/decode: a StringArray value round-trips") {
  Message in;
  in.body_kind = BodyKind::value;
  in.value_body = StringArray{{"0", "1", "2", "3"}};
  const Message out = decode(encode(in));
  CHECK(out.body_kind == BodyKind::value);
  CHECK(out.value_body == in.value_body);

  Message empty;
  empty.body_kind = BodyKind::value;
  empty.value_body = StringArray{};
  CHECK(decode(encode(empty)).value_body == Value(StringArray{}));
}

TEST_CASE("core::amqp encode/decode: a map body round-trips with every value type") {
  Message in;
  in.body_kind = BodyKind::map;
  in.map_body.emplace_back("name", std::string("hub"));
  in.map_body.emplace_back("type", std::string("com.microsoft:eventhub"));
  in.map_body.emplace_back("created_at", Timestamp{k_ms});
  in.map_body.emplace_back("partition_count", Int{4});
  in.map_body.emplace_back("partition_ids", StringArray{{"0", "1", "2", "3"}});
  in.map_body.emplace_back("begin_sequence_number", std::int64_t{-1});
  in.map_body.emplace_back("is_partition_empty", true);
  in.map_body.emplace_back("nothing", std::monostate{});
  in.map_body.emplace_back("sym", Symbol{"s"});
  const Message out = decode(encode(in));
  CHECK(out.body_kind == BodyKind::map);
  REQUIRE(out.map_body.size() == in.map_body.size());
  for (std::size_t i = 0; i < in.map_body.size(); ++i) {
    CAPTURE(in.map_body[i].first);
    CHECK(out.map_body[i] == in.map_body[i]);
  }
  REQUIRE(find(out.map_body, "partition_count") != nullptr);
  CHECK(std::holds_alternative<Int>(*find(out.map_body, "partition_count")));

  Message empty;
  empty.body_kind = BodyKind::map;
  const Message e = decode(encode(empty));
  CHECK(e.body_kind == BodyKind::map);
  CHECK(e.map_body.empty());
}

TEST_CASE("core::amqp decode: arrays and lists of strings or symbols read as StringArray") {
  // amqp-value sections (descriptor 0x77) built by hand.
  // list8 [sym "a", sym "bc"]
  CHECK(decode(std::string("\x00\x53\x77\xc0\x08\x02\xa3\x01" "a\xa3\x02" "bc", 13)).value_body ==
        Value(StringArray{{"a", "bc"}}));
  // array8 of sym ["a", "bc"]
  CHECK(decode(std::string("\x00\x53\x77\xe0\x07\x02\xa3\x01" "a\x02" "bc", 12)).value_body ==
        Value(StringArray{{"a", "bc"}}));
  // list8 [str "a", sym "b"]
  CHECK(decode(std::string("\x00\x53\x77\xc0\x07\x02\xa1\x01" "a\xa3\x01" "b", 12)).value_body ==
        Value(StringArray{{"a", "b"}}));
  // list0 (empty list)
  CHECK(decode(std::string("\x00\x53\x77\x45", 4)).value_body == Value(StringArray{}));
  // list8 [str "a", smallint 5]: not strings
  CHECK_THROWS_AS((void)decode(std::string("\x00\x53\x77\xc0\x06\x02\xa1\x01" "a\x54\x05", 11)), azhub::core::Error);
  // array8 of smallint [1, 2]
  CHECK_THROWS_AS((void)decode(std::string("\x00\x53\x77\xe0\x04\x02\x54\x01\x02", 9)), azhub::core::Error);
}

TEST_CASE("core::amqp event_hub_name and event_hubs_connection_string") {
  CHECK(event_hub_name("myhub.azure-devices.net") == "myhub");
  CHECK(event_hub_name("hub.example") == "hub");
  CHECK(event_hub_name("localhost") == "localhost");
  CHECK(event_hub_name("") == "");
  CHECK(event_hubs_connection_string("localhost", "localhost", "iothubowner", "a2V5") ==
        "Endpoint=sb://localhost/;SharedAccessKeyName=iothubowner;SharedAccessKey=a2V5;EntityPath=localhost");
}

TEST_CASE("core::amqp parse_consumer_address / consumer_address") {
  auto check = [](std::string_view address, std::string_view entity, std::string_view group, std::uint32_t p) {
    CAPTURE(address);
    const auto a = parse_consumer_address(address);
    REQUIRE(a);
    CHECK(a->entity == entity);
    CHECK(a->consumer_group == group);
    CHECK(a->partition == p);
  };
  check("hub/ConsumerGroups/$Default/Partitions/0", "hub", "$Default", 0);
  check("/hub/ConsumerGroups/$Default/Partitions/3", "hub", "$Default", 3);
  check("amqps://localhost:5671/hub/ConsumerGroups/$Default/Partitions/2", "hub", "$Default", 2);
  check("amqps://localhost/hub/ConsumerGroups/cg1/Partitions/1", "hub", "cg1", 1);
  check("AMQPS://h/hub/consumergroups/$Default/partitions/12", "hub", "$Default", 12);
  check("hub/CONSUMERGROUPS/$Default/PARTITIONS/007", "hub", "$Default", 7);
  check("sb://h/hub/ConsumerGroups/$Default/Partitions/0", "hub", "$Default", 0);
  for (std::string_view bad :
       {"", "/", "hub", "hub/ConsumerGroups/$Default", "hub/ConsumerGroups/$Default/Partitions",
        "hub/ConsumerGroups/$Default/Partitions/", "hub/ConsumerGroups/$Default/Partitions/x",
        "hub/ConsumerGroups/$Default/Partitions/-1", "hub/ConsumerGroups/$Default/Partitions/1a",
        "hub/ConsumerGroups/$Default/Partitions/1/extra", "hub/ConsumerGroups/$Default/Partitions/1/x/y",
        "hub/Groups/$Default/Partitions/1", "hub/ConsumerGroups/$Default/Partition/1",
        "hub/ConsumerGroups//Partitions/1", "/ConsumerGroups/$Default/Partitions/1",
        "hub/ConsumerGroups/$Default/Partitions/123456", "amqps://localhost:5671",
        "messages/events", "$management"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_consumer_address(bad));
  }
  CHECK(consumer_address({"hub", "$Default", 3}) == "hub/ConsumerGroups/$Default/Partitions/3");
  const auto back = parse_consumer_address(consumer_address({"e", "g", 42}));
  REQUIRE(back);
  CHECK(back->entity == "e");
  CHECK(back->consumer_group == "g");
  CHECK(back->partition == 42);
}

TEST_CASE("core::amqp is_hub_events_address") {
  CHECK(is_hub_events_address("messages/events"));
  CHECK(is_hub_events_address("/messages/events"));
  CHECK(is_hub_events_address("/messages/events/"));
  CHECK(is_hub_events_address("/Messages/Events"));
  CHECK(is_hub_events_address("amqps://localhost/messages/events/$management"));
  CHECK(is_hub_events_address("amqps://h:5671/messages/events/ConsumerGroups/$Default/Partitions/0"));
  CHECK_FALSE(is_hub_events_address(""));
  CHECK_FALSE(is_hub_events_address("messages"));
  CHECK_FALSE(is_hub_events_address("/messages/devicebound"));
  CHECK_FALSE(is_hub_events_address("/messages/serviceBound/feedback"));
  CHECK_FALSE(is_hub_events_address("hub/ConsumerGroups/$Default/Partitions/0"));
  CHECK_FALSE(is_hub_events_address("amqps://messages/events"));  // "messages" is the host here
  CHECK_FALSE(is_hub_events_address("messages/eventsx"));
}

TEST_CASE("core::amqp parse_event_filter: the @azure/event-hubs forms") {
  using Kind = EventPosition::Kind;
  struct Row {
    std::string_view filter;
    Kind kind;
    bool inclusive;
    std::int64_t value;
  };
  for (const Row& row : {
           Row{"amqp.annotation.x-opt-offset > '-1'", Kind::offset, false, -1},
           Row{"amqp.annotation.x-opt-offset >= '12'", Kind::offset, true, 12},
           Row{"amqp.annotation.x-opt-offset > '@latest'", Kind::latest, false, -1},
           Row{"amqp.annotation.x-opt-sequence-number >= '5'", Kind::sequence, true, 5},
           Row{"amqp.annotation.x-opt-sequence-number > '5'", Kind::sequence, false, 5},
           Row{"amqp.annotation.x-opt-enqueued-time > '1700000000000'", Kind::enqueued_time, false, 1700000000000},
           Row{"amqp.annotation.x-opt-enqueued-time >= '1700000000000'", Kind::enqueued_time, true, 1700000000000},
           Row{"amqp.annotation.x-opt-sequence-number > 7", Kind::sequence, false, 7},   // unquoted
           Row{"amqp.annotation.x-opt-offset>-1", Kind::offset, false, -1},              // no spaces
           Row{"  amqp.annotation.x-opt-offset  >=  '0'  ", Kind::offset, true, 0},      // extra spaces
           Row{"AMQP.ANNOTATION.X-OPT-OFFSET > '3'", Kind::offset, false, 3},            // case
       }) {
    CAPTURE(row.filter);
    std::string why;
    const auto p = parse_event_filter(row.filter, &why);
    REQUIRE(p);
    CHECK(why.empty());
    CHECK(p->kind == row.kind);
    CHECK(p->inclusive == row.inclusive);
    if (row.kind != Kind::latest) CHECK(p->value == row.value);
  }
}

TEST_CASE("core::amqp parse_event_filter: refusals say why") {
  for (std::string_view bad : {
           "",
           "x-opt-offset > '-1'",
           "amqp.annotation.x-opt-partition-key > '1'",
           "amqp.annotation.x-opt-offset = '1'",
           "amqp.annotation.x-opt-offset < '1'",
           "amqp.annotation.x-opt-offset > ''",
           "amqp.annotation.x-opt-offset > 'abc'",
           "amqp.annotation.x-opt-offset > '1.5'",
           "amqp.annotation.x-opt-offset >",
           "amqp.annotation.x-opt-sequence-number > '@latest'",
           "amqp.annotation.x-opt-offset > '-'",
           "amqp.annotation.x-opt-offset > '1234567890123456789'",  // too long to be an int64 here
       }) {
    CAPTURE(bad);
    std::string why;
    CHECK_FALSE(parse_event_filter(bad, &why));
    CHECK_FALSE(why.empty());
    CHECK_FALSE(parse_event_filter(bad, nullptr));  // no why: no crash
  }
}

TEST_CASE("core::amqp event_filter: the SDK's text, and back") {
  using Kind = EventPosition::Kind;
  CHECK(event_filter({Kind::offset, false, -1}) == "amqp.annotation.x-opt-offset > '-1'");
  CHECK(event_filter({Kind::latest, false, -1}) == "amqp.annotation.x-opt-offset > '@latest'");
  CHECK(event_filter({Kind::sequence, true, 5}) == "amqp.annotation.x-opt-sequence-number >= '5'");
  CHECK(event_filter({Kind::enqueued_time, false, 1700000000000}) ==
        "amqp.annotation.x-opt-enqueued-time > '1700000000000'");
  for (const EventPosition& p : {EventPosition{Kind::offset, true, 9}, EventPosition{Kind::sequence, false, 0},
                                 EventPosition{Kind::enqueued_time, true, 1}, EventPosition{Kind::latest, false, -1}}) {
    const auto back = parse_event_filter(event_filter(p), nullptr);
    REQUIRE(back);
    CHECK(back->kind == p.kind);
    if (p.kind != Kind::latest) {
      CHECK(back->inclusive == p.inclusive);
      CHECK(back->value == p.value);
    }
  }
}

TEST_CASE("core::amqp event_record_json: member order and what goes under annotations") {
  Message m;
  m.annotations.emplace_back("x-opt-sequence-number", std::int64_t{7});
  m.annotations.emplace_back("x-opt-offset", std::string("7"));
  m.annotations.emplace_back("x-opt-enqueued-time", Timestamp{k_ms});
  m.annotations.emplace_back("iothub-connection-device-id", std::string("dev1"));
  m.annotations.emplace_back("iothub-connection-module-id", std::string("mod1"));
  m.annotations.emplace_back("iothub-message-source", std::string("Telemetry"));
  m.annotations.emplace_back("iothub-enqueuedtime", Timestamp{k_ms});
  m.annotations.emplace_back("dt-subject", std::string("thermostat1"));
  m.message_id = std::string("mid-1");
  m.content_type = "application/json";
  m.application.emplace_back("temp", std::string("21"));
  m.body_kind = BodyKind::data;
  m.body = R"({"t":1})";
  const auto j = event_record_json(m, "3");
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"sequenceNumber", "partition", "offset", "enqueuedTime", "deviceId", "moduleId",
                                         "body", "bodyEncoding", "properties", "systemProperties", "annotations"});
  CHECK(j["sequenceNumber"] == 7);
  CHECK(j["partition"] == "3");
  CHECK(j["offset"] == "7");
  CHECK(j["enqueuedTime"] == azhub::core::format_iso8601(k_ms, true));
  CHECK(j["deviceId"] == "dev1");
  CHECK(j["moduleId"] == "mod1");
  CHECK(j["body"] == R"({"t":1})");
  CHECK(j["bodyEncoding"] == "utf-8");
  CHECK(j["properties"]["temp"] == "21");
  CHECK(j["systemProperties"].dump().find("mid-1") != std::string::npos);
  CHECK(j["systemProperties"].dump().find("application/json") != std::string::npos);
  const auto& a = j["annotations"];
  CHECK(a.size() == 3);
  CHECK(a["iothub-message-source"] == "Telemetry");
  CHECK(a["dt-subject"] == "thermostat1");
  CHECK(a.contains("iothub-enqueuedtime"));
  for (const char* gone : {"x-opt-sequence-number", "x-opt-offset", "x-opt-enqueued-time",
                           "iothub-connection-device-id", "iothub-connection-module-id"})
    CHECK_FALSE(a.contains(gone));
}

TEST_CASE("core::amqp event_record_json: missing annotations are null, binary bodies base64") {
  Message m;
  m.body_kind = BodyKind::data;
  m.body = std::string("\xff\x00\x01", 3);
  const auto j = event_record_json(m, "0");
  CHECK(j["sequenceNumber"].is_null());
  CHECK(j["partition"] == "0");
  CHECK(j["offset"].is_null());
  CHECK(j["enqueuedTime"].is_null());
  CHECK(j["deviceId"].is_null());
  CHECK(j["moduleId"].is_null());
  CHECK(j["bodyEncoding"] == "base64");
  CHECK(j["body"] == "/wAB");
  CHECK_FALSE(j.contains("annotations"));
}

TEST_CASE("core::amqp parse_device_address / device_address") {
  auto a = parse_device_address("/devices/dev1/messages/events");
  REQUIRE(a);
  CHECK(a->device_id == "dev1");
  CHECK_FALSE(a->module_id);
  CHECK(a->endpoint == DeviceEndpoint::telemetry);
  a = parse_device_address("amqps://hub.example/devices/dev%201/messages/deviceBound");
  REQUIRE(a);
  CHECK(a->device_id == "dev 1");
  CHECK(a->endpoint == DeviceEndpoint::c2d);
  a = parse_device_address("devices/dev1/modules/m1/methods/devicebound");
  REQUIRE(a);
  CHECK(a->module_id == "m1");
  CHECK(a->endpoint == DeviceEndpoint::methods);
  a = parse_device_address("/devices/dev1/modules/m1/twin");
  REQUIRE(a);
  CHECK(a->endpoint == DeviceEndpoint::twin);
  CHECK(device_address(*a) == "/devices/dev1/modules/m1/twin");
  CHECK(device_address(DeviceAddress{"a b", std::nullopt, DeviceEndpoint::c2d}) == "/devices/a%20b/messages/devicebound");
  for (const char* bad : {"/devices", "/devices/dev1", "/devices/dev1/messages", "/devices/dev1/messages/other",
                          "/devices/dev1/twin/extra", "/devices//twin", "/modules/m1/twin", "/devices/dev1/modules/m1",
                          "/devices/dev1/files", "/messages/devicebound", "/devices/%zz/twin"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_device_address(bad));
  }
}
