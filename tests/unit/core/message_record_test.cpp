#include "core/message_record.hpp"

#include <doctest/doctest.h>

TEST_CASE("core::is_valid_utf8") {
  CHECK(azhub::core::is_valid_utf8(""));
  CHECK(azhub::core::is_valid_utf8("plain"));
  CHECK(azhub::core::is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(azhub::core::is_valid_utf8("\xc3"));              // truncated
  CHECK_FALSE(azhub::core::is_valid_utf8("\xc0\xaf"));          // overlong
  CHECK_FALSE(azhub::core::is_valid_utf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(azhub::core::is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(azhub::core::is_valid_utf8("\xff"));
  CHECK_FALSE(azhub::core::is_valid_utf8("a\x80"));
}

TEST_CASE("core::message_record_json") {
  azhub::core::MessageProperties props;
  props.system.message_id = "m1";
  props.application = {{"color", "red"}, {"flag", std::nullopt}};
  CHECK(azhub::core::message_record_json("hi", props) ==
        nlohmann::json::parse(R"({"body":"hi","bodyEncoding":"utf-8","systemProperties":{"messageId":"m1"},
                                  "properties":{"color":"red","flag":null}})"));
  const auto binary = azhub::core::message_record_json(std::string("\x00\xff", 2), {});
  CHECK(binary["body"] == "AP8=");
  CHECK(binary["bodyEncoding"] == "base64");
  CHECK(binary["systemProperties"] == nlohmann::json::object());
}
